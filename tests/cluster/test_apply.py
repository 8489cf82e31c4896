"""Whole `up` runs on a simulated laptop (FakeHost + the simulated cluster, with what `render` produces): order of
host changes, idempotent re-runs, resume after failure, dry runs that never change anything, waits that name what
is unhealthy, GPUs counted as the scheduler counts them."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmops_cli.adapters import hostfacts as hf
from llmops_cli.adapters import upstream
from llmops_cli.adapters.hosts import DryRunHost
from llmops_cli.cluster.apply import apply_plan, describe_plan
from llmops_cli.cluster.model import StepContext, UpOptions
from llmops_cli.cluster.plan import build_plan, decide_gpu
from llmops_cli.cluster.state import State
from llmops_cli.cluster.up import describe_up, run_up
from llmops_cli.config.model import Settings
from llmops_cli.errors import LlmopsError, WaitTimeout
from llmops_cli.reporting import RecordingReporter
from tests.cluster.conftest import PINNED, Cluster, make_inputs
from tests.cluster.fakes import FakeClock, ok
from tests.cluster.kubesim import decode_secret

GPU_ON = Settings.model_validate({"gpu": {"mode": "on"}})


def context(  # type: ignore[no-untyped-def]
    cluster: Cluster, settings: Settings, facts, inputs, options=None, *, dry=False, state=None, environ=None
) -> StepContext:
    clock = FakeClock()
    return StepContext(
        host=DryRunHost(cluster.host) if dry else cluster.host,
        settings=settings,
        facts=facts,
        inputs=inputs,
        options=options or UpOptions(timeout=60),
        reporter=RecordingReporter(),
        state=state or State.memory(),
        kube_factory=cluster.kube_factory(),
        environ=environ or {"KUBECONFIG": str(Path.home() / ".kube" / "config"), "HOME": str(Path.home())},
        dry_run=dry,
        sleep=clock.sleep,
        clock=clock.now,
    )


def up_once(  # type: ignore[no-untyped-def]
    cluster: Cluster, settings: Settings, state: State | None = None, options=None, *, facts=None, inputs=None
):
    """One `up` as the CLI runs it: facts gathered from the (simulated) host, the real render, the plan."""
    facts = facts or cluster.facts()
    inputs = inputs or make_inputs(settings, gpu=decide_gpu(settings, facts))
    plan = build_plan(settings, facts, inputs, options)
    ctx = context(cluster, settings, facts, inputs, options, state=state or State.memory())
    return run_up(plan, ctx), ctx


def secret(cluster: Cluster, ns: str, name: str) -> dict[str, str]:
    return decode_secret(cluster.kube.objects[("v1", "Secret", ns, name)])


def test_fresh_cpu_host_full_run(settings: Settings, tmp_path: Path) -> None:
    cluster = Cluster()
    state = State(tmp_path / "state.json")
    report, _ctx = up_once(cluster, settings, state)
    host_changes = [c[:2] for c in cluster.host.mutations()]
    assert host_changes == [
        ("write", hf.K3S_DROPIN),
        ("run", "mktemp -t k3s-install.XXXXXX"),
        (
            "run",
            "curl -fsSL --proto =https --tlsv1.2 --retry 3 -o /tmp/k3s-install.abc123 " + upstream.K3S_INSTALLER_URL,
        ),
        ("run", "sh /tmp/k3s-install.abc123"),
        ("run", "rm -f /tmp/k3s-install.abc123"),
    ]
    # The installer runs only after its hash was checked, as root, with the pinned version.
    runs = [c[1] for c in cluster.host.calls if c[0] == "run"]
    assert runs.index("sha256sum -- /tmp/k3s-install.abc123") < runs.index("sh /tmp/k3s-install.abc123")
    sh = next(c for c in cluster.host.calls if c[:2] == ("run", "sh /tmp/k3s-install.abc123"))
    assert sh[2] == "priv" and sh[4] == f"INSTALL_K3S_VERSION={PINNED}"
    assert cluster.host.modes[hf.K3S_DROPIN] == 0o600
    curl = next(c for c in cluster.host.calls if c[1].startswith("curl "))
    assert curl[2] == ""  # the download is not privileged
    applied = [c[1:] for c in cluster.kube.calls if c[0] == "apply"]
    kinds = [a[0] for a in applied]
    assert kinds.index("HelmChart") < kinds.index("Job") < kinds.index("AppProject") < kinds.index("Application")
    assert ("Secret", "llmops", "llmops-pgvector") in applied
    # Secrets: generated, distinct, never in the state file or the report unless asked.
    pg = secret(cluster, "llmops", "llmops-pgvector")
    gw = secret(cluster, "llmops", "llmops-gateway")
    assert pg["username"] == "llmops" and len(pg["password"]) >= 30 and pg["password"] != gw["admin-key"]
    state_text = (tmp_path / "state.json").read_text()
    assert pg["password"] not in state_text
    assert pg["password"] not in json.dumps(report.to_dict(show_secrets=False))
    assert pg["password"] in json.dumps(report.to_dict(show_secrets=True))
    # kubeconfig merged as llmops-<cluster>, 0600.
    cfg = Path.home() / ".kube" / "config"
    assert [c["name"] for c in yaml.safe_load(cfg.read_text())["contexts"]] == ["llmops-llmops"]
    assert cfg.stat().st_mode & 0o777 == 0o600
    assert report.run is not None and report.run.changed > 5
    assert json.loads(state_text)["failed"] is None
    # Every Application the rendered tree holds is Synced/Healthy, its workloads run.
    assert set(report.results["applications"]) >= {"llmops-dev", "vllm", "gateway", "pgvector", "argo-cd"}
    assert all(v == "Synced/Healthy" for v in report.results["applications"].values())
    assert any(name.startswith("pgvector") for name, phase in cluster.sim.phase_of("llmops", "") if phase == "Running")
    # The state file records what `up` did to the host and the choices `sync` must reuse.
    saved = json.loads(state_text)["flags"]
    assert saved["choices"] == {"env": "dev", "gpu": False, "repo_url": make_inputs(settings).repo_url}
    assert saved["host"]["k3s"] == {"installed_by": "llmops", "version": PINNED}
    assert saved["host"]["dropin"] == hf.K3S_DROPIN


def test_second_up_changes_nothing(settings: Settings, tmp_path: Path) -> None:
    cluster = Cluster()
    state = State(tmp_path / "state.json")
    up_once(cluster, settings, state)
    cluster.host.calls.clear()
    cluster.kube.calls.clear()
    report, ctx = up_once(cluster, settings, state)
    assert cluster.host.mutations() == []
    assert cluster.kube.mutations() == []
    assert report.run is not None and report.run.changed == 0
    assert all(e[2] == "ok" for e in ctx.reporter.events if e[0] == "step")


def test_failed_up_resumes_where_it_stopped(settings: Settings, tmp_path: Path) -> None:
    cluster = Cluster()
    cluster.app_health = "Progressing"
    state = State(tmp_path / "state.json")
    with pytest.raises(WaitTimeout) as e:
        up_once(cluster, settings, state, UpOptions(timeout=30))
    # The timeout names the unhealthy Application, its unhealthy resource with its message, and events.
    msg = str(e.value)
    assert "Application llmops-dev: Synced/Progressing" in msg
    assert "Deployment llmops/vllm-qwen: Synced/Progressing (0 of 1 updated replicas available)" in msg
    assert json.loads((tmp_path / "state.json").read_text())["failed"] == "wait_applications_healthy"
    assert cluster.installs == 1
    cluster.app_health = "Healthy"
    cluster.host.calls.clear()
    cluster.kube.calls.clear()
    report, ctx = up_once(cluster, settings, State.from_path(tmp_path / "state.json"))
    assert ("info", "resuming: the previous run stopped at step wait_applications_healthy") in ctx.reporter.events
    assert cluster.installs == 1 and cluster.host.mutations() == []
    # Only the handover (which waits for healthy Applications) is left to do.
    assert {c[1] for c in cluster.kube.mutations()} == {"HelmChart"}
    assert report.results["applications"]["llmops-dev"] == "Synced/Healthy"


def test_changed_dropin_on_existing_k3s_restarts_it(settings: Settings) -> None:
    cluster = Cluster(k3s_installed=True)
    cluster.host.files[hf.K3S_DROPIN] = "old: config\n"
    state = State.memory()
    up_once(cluster, settings, state)
    assert cluster.restarts == 1 and cluster.installs == 1
    assert ("run", "systemctl restart k3s") in [c[:2] for c in cluster.host.calls]
    assert not any("install.sh" in c[1] for c in cluster.host.calls if c[0] == "run")
    cluster.restarts = 0
    up_once(cluster, settings, state)
    assert cluster.restarts == 0


def _gpu_up(cluster: Cluster, settings: Settings = GPU_ON) -> Any:
    return up_once(cluster, settings, State.memory())


def test_gpu_host_with_a_free_gpu_runs_the_smoke_job() -> None:
    cluster = Cluster(gpu=True, gpus=2)
    report, _ = _gpu_up(cluster)
    node = cluster.kube.objects[("v1", "Node", "", "laptop")]
    assert node["metadata"]["labels"]["nvidia.com/gpu.present"] == "true"
    assert report.results["gpu_allocatable"] == 2
    assert report.results["gpu_smoke"] == "GPU 0: NVIDIA GeForce RTX 4090 (UUID: GPU-1234)"
    assert ("Job", "llmops", "llmops-gpu-smoke") in [c[1:] for c in cluster.kube.calls if c[0] == "apply"]


def test_gpu_host_with_one_gpu_taken_by_vllm_proves_it_with_vllm_instead_of_hanging() -> None:
    """The only GPU goes to vLLM; a smoke Job would stay Pending forever (the simulator's scheduler refuses it
    as kube-scheduler does), so `up` checks the pod that holds the GPU runs."""
    cluster = Cluster(gpu=True, gpus=1)
    report, _ = _gpu_up(cluster)
    assert report.results["gpu_allocatable"] == 1
    proof = report.results["gpu_smoke"]
    assert proof.startswith("every GPU is in use (llmops/vllm-") and "runs on one" in proof
    assert all(v == "Synced/Healthy" for v in report.results["applications"].values())


def test_a_smoke_job_that_lost_the_race_for_the_last_gpu_is_withdrawn(monkeypatch: pytest.MonkeyPatch) -> None:
    """The count says a GPU is free, then vLLM takes it before the Job's pod is scheduled: the Job's pod is
    Pending/Unschedulable (Insufficient nvidia.com/gpu); `up` withdraws it and checks vLLM's pod instead."""
    from llmops_cli.cluster.steps import gpu

    real = gpu.gpu_holders
    calls = {"n": 0}

    def first_count_misses_vllm(ctx, node):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        holders = real(ctx, node)
        return [] if calls["n"] == 1 else holders

    monkeypatch.setattr(gpu, "gpu_holders", first_count_misses_vllm)
    cluster = Cluster(gpu=True, gpus=1)
    report, _ = _gpu_up(cluster)
    assert "every GPU is in use" in report.results["gpu_smoke"]
    events = [e for e in cluster.sim.events if e["reason"] == "FailedScheduling"]
    assert any("Insufficient nvidia.com/gpu" in e["message"] for e in events)
    assert ("batch/v1", "Job", "llmops", "llmops-gpu-smoke") not in cluster.kube.objects


def test_gpu_runtime_not_detected_fails_clearly_after_polling() -> None:
    cluster = Cluster(gpu=True, nvidia_detected=False)
    facts = cluster.facts()
    inputs = make_inputs(GPU_ON, gpu=True)
    ctx = context(cluster, GPU_ON, facts, inputs)
    with pytest.raises(WaitTimeout, match="k3s to add the nvidia runtime") as e:
        apply_plan(build_plan(GPU_ON, facts, inputs), ctx)
    assert "nvidia-container-runtime on PATH" in str(e.value)
    assert cluster.restarts == 1 and ctx.clock() >= 120


def test_missing_toolkit_stops_with_the_commands() -> None:
    cluster = Cluster(gpu=True, toolkit=False)
    facts = cluster.facts()
    ctx = context(cluster, GPU_ON, facts, make_inputs(GPU_ON, gpu=True))
    with pytest.raises(LlmopsError) as e:
        apply_plan(build_plan(GPU_ON, facts, make_inputs(GPU_ON, gpu=True)), ctx)
    assert f"nvidia-container-toolkit={upstream.NVIDIA_TOOLKIT_VERSION}" in str(e.value)
    assert cluster.host.mutations() == []  # stopped before touching k3s


def test_install_toolkit_pins_the_packages_checks_the_key_and_waits_for_apt() -> None:
    settings = Settings.model_validate({"gpu": {"mode": "on", "install_toolkit": True}})
    cluster = Cluster(gpu=True, toolkit=False, gpus=2)
    environ = {"HTTPS_PROXY": "http://proxy.invalid:3128"}
    facts = cluster.facts()
    inputs = make_inputs(settings, gpu=True)
    from llmops_cli.cluster.steps.k3s import proxy_env

    options = UpOptions(timeout=60, proxy_env=proxy_env(environ))
    run_up(build_plan(settings, facts, inputs, options), context(cluster, settings, facts, inputs, options))
    runs = [(c[1], c[2], c[4]) for c in cluster.host.calls if c[0] == "run"]
    lines = [r[0] for r in runs]
    lock = f"DPkg::Lock::Timeout={upstream.APT_LOCK_TIMEOUT_S}"
    pkgs = " ".join(f"{p}={upstream.NVIDIA_TOOLKIT_VERSION}" for p in upstream.NVIDIA_TOOLKIT_PACKAGES)
    install = f"apt-get -o {lock} install -y {pkgs}"
    assert install in lines and f"apt-get -o {lock} update" in lines
    assert not any("|" in r for r in lines)  # no shell pipelines
    # The key is trusted only after its fingerprint was read, and before apt reads the repository.
    show = next(i for i, r in enumerate(lines) if "--show-keys" in r)
    dearmor = next(i for i, r in enumerate(lines) if "--dearmor" in r)
    assert show < dearmor < lines.index(f"apt-get -o {lock} update") < lines.index("sh /tmp/k3s-install.abc123")
    # apt runs as root with the user's proxy (sudo would drop it).
    assert next(r for r in runs if r[0] == install)[1:] == (
        "priv",
        "DEBIAN_FRONTEND=noninteractive,HTTPS_PROXY=http://proxy.invalid:3128",
    )
    assert cluster.host.files[upstream.NVIDIA_APT_LIST].startswith(f"deb [signed-by={upstream.NVIDIA_KEYRING}]")


def test_a_repository_key_with_another_fingerprint_is_refused() -> None:
    settings = Settings.model_validate({"gpu": {"mode": "on", "install_toolkit": True}})
    cluster = Cluster(gpu=True, toolkit=False)
    cluster.host.responses["gpg --homedir * --show-keys *"] = ok("pub:-:4096:1:X:::::\nfpr:::::::::" + "A" * 40 + ":\n")
    facts = cluster.facts()
    inputs = make_inputs(settings, gpu=True)
    with pytest.raises(LlmopsError, match="not the pinned C95B321B61E88C1809C4F759DDCAE044F796ECB0") as e:
        apply_plan(build_plan(settings, facts, inputs), context(cluster, settings, facts, inputs))
    assert e.value.code == "integrity"
    assert upstream.NVIDIA_KEYRING not in cluster.host.files
    assert not any("apt-get" in c[1] for c in cluster.host.calls)


def test_apt_waits_while_another_package_manager_holds_the_lock() -> None:
    settings = Settings.model_validate({"gpu": {"mode": "on", "install_toolkit": True}})
    cluster = Cluster(gpu=True, toolkit=False, gpus=2)
    busy = {"n": 2}

    def locked(argv):  # type: ignore[no-untyped-def]
        if busy["n"]:
            busy["n"] -= 1
            return ok("", "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)\n", 100)
        return ok()

    cluster.host.responses = {"apt-get * update": locked, **cluster.host.responses}
    up_once(cluster, settings)
    assert sum(1 for c in cluster.host.calls if c[1].endswith(" update")) == 3


@pytest.mark.parametrize("gpu", [False, True])
def test_dry_run_never_changes_anything(gpu: bool) -> None:
    settings = Settings.model_validate({"gpu": {"mode": "on" if gpu else "off", "install_toolkit": True}})
    cluster = Cluster(gpu=gpu, toolkit=False)
    cluster.kube.read_only = True
    facts = cluster.facts()
    inputs = make_inputs(settings, gpu=gpu)
    plan = build_plan(settings, facts, inputs)
    applied: list[str] = []
    # Any apply reaching a step in a dry run would be recorded here.
    steps = tuple(type(s)(**{**s.__dict__, "apply": lambda ctx, i=s.id: applied.append(i)}) for s in plan.steps)
    plan = type(plan)(steps=steps, gpu=plan.gpu, warnings=plan.warnings, summary=plan.summary)
    ctx = context(cluster, settings, facts, inputs, dry=True)
    rows = describe_plan(plan, ctx)
    assert applied == [] and cluster.host.mutations() == [] and cluster.kube.mutations() == []
    status = {r.id: r.status for r in rows}
    assert status["install_k3s"] == "todo" and status["write_k3s_config"] == "todo"
    assert status["wait_node_ready"] == "pending" and status["apply_root_application"] == "pending"
    with pytest.raises(LlmopsError, match="dry run"):
        apply_plan(plan, ctx)
    assert applied == []


def test_dry_run_on_a_healthy_platform_says_done(tmp_path: Path) -> None:
    settings = Settings()
    cluster = Cluster()
    state = State(tmp_path / "s.json")
    up_once(cluster, settings, state)
    cluster.kube.read_only = True
    cluster.host.calls.clear()
    facts = cluster.facts()
    report = describe_up(
        build_plan(settings, facts, make_inputs()),
        context(cluster, settings, facts, make_inputs(), dry=True, state=state),
    )
    assert {p.status for p in report.planned} == {"done"}
    assert cluster.host.mutations() == []


def test_existing_secret_is_kept(settings: Settings) -> None:
    cluster = Cluster(k3s_installed=True)
    cluster.sim.put(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "llmops"}, "status": {"phase": "Active"}}
    )
    cluster.kube.put(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "llmops-gateway", "namespace": "llmops"},
            "data": {"admin-key": "b2xk"},
        }
    )
    up_once(cluster, settings)
    assert cluster.kube.objects[("v1", "Secret", "llmops", "llmops-gateway")]["data"] == {"admin-key": "b2xk"}


def test_show_password_reads_back_secrets_and_the_ui_hint_names_the_real_service(settings: Settings) -> None:
    cluster = Cluster()
    report, _ = up_once(cluster, settings, None, UpOptions(show_password=True, timeout=60))
    assert report.secrets["argocd admin password"] == "argo-pw"
    hint = next(n for n in report.notes if n.startswith("Argo CD UI"))
    # argo-helm: release argo-cd with nameOverride argocd -> Service argo-cd-argocd-server, http on port 80.
    service = cluster.kube.objects[("v1", "Service", "argocd", "argo-cd-argocd-server")]
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]}["http"] == 80
    assert "port-forward svc/argo-cd-argocd-server 8080:80" in hint and "http://localhost:8080" in hint
    assert "https://" not in hint


def test_preflight_failure_stops_before_any_change() -> None:
    cluster = Cluster(init="none")
    facts = cluster.facts()
    assert facts.init_system == "none"
    ctx = context(cluster, Settings(), facts, make_inputs())
    with pytest.raises(LlmopsError, match="no systemd or OpenRC") as e:
        apply_plan(build_plan(Settings(), facts, make_inputs()), ctx)
    assert e.value.code == "preflight"
    assert cluster.host.mutations() == []
    assert ctx.state.failed == "install_k3s"


def test_the_rate_limit_store_secret_holds_the_password_and_the_store_config_with_it() -> None:
    from llmops_cli.cluster.steps.secrets import secret_object
    from llmops_cli.cluster.up import platform_secrets
    from llmops_cli.render import names

    (spec,) = [s for s in platform_secrets(Settings()) if s.name == names.GATEWAY_REDIS_SECRET]
    obj = secret_object(spec, {"password": "generated-value"})
    assert obj["metadata"]["namespace"] == names.APPS_NAMESPACE
    assert obj["stringData"] == {"password": "generated-value", "valkey.conf": "requirepass generated-value\n"}


def test_secret_values_reach_the_cluster_only_as_base64_data() -> None:
    cluster = Cluster()
    up_once(cluster, Settings())
    live = cluster.kube.objects[("v1", "Secret", "llmops", "llmops-gateway")]
    assert "stringData" not in live and base64.b64decode(live["data"]["admin-key"])
