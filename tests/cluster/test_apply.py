"""Running plans against a recording fake Host and a simulated cluster: order of host changes, idempotent
re-runs, resume after failure, dry runs that never change anything, waits that name what is unhealthy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from llmops_cli.adapters import hostfacts as hf
from llmops_cli.adapters.hosts import DryRunHost
from llmops_cli.cluster.apply import apply_plan, describe_plan
from llmops_cli.cluster.model import AirgapBundle, StepContext, UpOptions
from llmops_cli.cluster.plan import build_plan
from llmops_cli.cluster.state import State
from llmops_cli.cluster.up import describe_up, run_up
from llmops_cli.config.model import Settings
from llmops_cli.errors import LlmopsError, WaitTimeout
from llmops_cli.reporting import RecordingReporter
from tests.cluster.conftest import Cluster, make_facts, make_inputs
from tests.cluster.fakes import ok

PINNED = Settings().cluster.k3s_version
IMAGES = "k3s-airgap-images-amd64.tar.zst"


def context(cluster: Cluster, settings: Settings, facts, inputs, options=None, *, dry=False, state=None):  # type: ignore[no-untyped-def]
    return StepContext(
        host=DryRunHost(cluster.host) if dry else cluster.host,
        settings=settings,
        facts=facts,
        inputs=inputs,
        options=options or UpOptions(timeout=60),
        reporter=RecordingReporter(),
        state=state or State.memory(),
        kube_factory=cluster.kube_factory(),
        environ={"KUBECONFIG": str(Path.home() / ".kube" / "config"), "HOME": str(Path.home())},
        dry_run=dry,
        sleep=lambda s: None,
    )


def up_once(cluster: Cluster, settings: Settings, facts, inputs, state: State, options=None):  # type: ignore[no-untyped-def]
    plan = build_plan(settings, facts, inputs, options)
    ctx = context(cluster, settings, facts, inputs, options, state=state)
    return run_up(plan, ctx), ctx


def test_fresh_cpu_host_full_run(settings: Settings, tmp_path: Path) -> None:
    cluster = Cluster()
    state = State(tmp_path / "state.json")
    report, _ctx = up_once(cluster, settings, make_facts(), make_inputs(), state)
    host_changes = [c[:2] for c in cluster.host.mutations()]
    assert host_changes == [
        ("write", hf.K3S_DROPIN),
        ("run", "mktemp -t k3s-install.XXXXXX"),
        ("run", "curl -sfL --proto =https --tlsv1.2 --retry 3 -o /tmp/k3s-install.abc123 https://get.k3s.io"),
        ("run", "sh /tmp/k3s-install.abc123"),
        ("run", "rm -f /tmp/k3s-install.abc123"),
    ]
    sh = next(c for c in cluster.host.calls if c[:2] == ("run", "sh /tmp/k3s-install.abc123"))
    assert sh[2] == "priv" and sh[4] == f"INSTALL_K3S_VERSION={PINNED}"
    assert cluster.host.modes[hf.K3S_DROPIN] == 0o600
    # Everything that touches the system is privileged (root as is, else sudo); the download is not.
    by_target = {c[1]: c[2] for c in cluster.host.calls}
    assert by_target[hf.K3S_DROPIN] == "priv"
    curl = next(t for t in by_target if t.startswith("curl "))
    assert by_target[curl] == ""
    applied = [c[1:] for c in cluster.kube.calls if c[0] == "apply"]
    kinds = [a[0] for a in applied]
    # namespaces + secrets first, then Argo CD, git seed, project and root app last.
    assert kinds.index("HelmChart") < kinds.index("Job") < kinds.index("AppProject") < kinds.index("Application")
    assert ("Secret", "llmops", "llmops-pgvector") in applied
    # Secrets: generated, distinct, never in the state file or the report unless asked.
    pg = cluster.kube.objects[("v1", "Secret", "llmops", "llmops-pgvector")]["stringData"]
    gw = cluster.kube.objects[("v1", "Secret", "llmops", "llmops-gateway")]["stringData"]
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


def test_second_up_changes_nothing(settings: Settings, tmp_path: Path) -> None:
    cluster = Cluster()
    state = State(tmp_path / "state.json")
    up_once(cluster, settings, make_facts(), make_inputs(), state)
    cluster.host.calls.clear()
    cluster.kube.calls.clear()
    facts = make_facts(k3s=PINNED)
    report, ctx = up_once(cluster, settings, facts, make_inputs(), state)
    assert cluster.host.mutations() == []
    assert cluster.kube.mutations() == []
    assert report.run is not None and report.run.changed == 0
    assert all(e[2] == "ok" for e in ctx.reporter.events if e[0] == "step")


def test_failed_up_resumes_where_it_stopped(settings: Settings, tmp_path: Path) -> None:
    cluster = Cluster()
    cluster.app_health = "Progressing"
    state = State(tmp_path / "state.json")
    with pytest.raises(WaitTimeout) as e:
        up_once(cluster, settings, make_facts(), make_inputs(), state, UpOptions(timeout=30))
    # The timeout names the unhealthy Application, its unhealthy resource with its message, and events.
    msg = str(e.value)
    assert "Application llmops-dev: Synced/Progressing" in msg
    assert "Deployment llmops/vllm-qwen: Synced/Progressing (0 of 1 updated replicas available)" in msg
    assert "BackOff" in msg
    assert json.loads((tmp_path / "state.json").read_text())["failed"] == "wait_applications_healthy"
    assert cluster.installs == 1
    cluster.app_health = "Healthy"
    cluster.host.calls.clear()
    cluster.kube.calls.clear()
    report, ctx = up_once(
        cluster, settings, make_facts(k3s=PINNED), make_inputs(), State.from_path(tmp_path / "state.json")
    )
    assert (
        "info",
        "resuming: the previous run stopped at step wait_applications_healthy",
    ) in ctx.reporter.events
    assert cluster.installs == 1 and cluster.host.mutations() == []
    assert cluster.kube.mutations() == []
    assert report.results["applications"] == {"llmops-dev": "Synced/Healthy"}


def test_changed_dropin_on_existing_k3s_restarts_it(settings: Settings) -> None:
    cluster = Cluster(k3s_installed=True)
    cluster.host.files[hf.K3S_DROPIN] = "old: config\n"
    state = State.memory()
    up_once(cluster, settings, make_facts(k3s=PINNED), make_inputs(), state)
    assert cluster.restarts == 1 and cluster.installs == 1
    assert ("run", "systemctl restart k3s") in [c[:2] for c in cluster.host.calls]
    assert not any("get.k3s.io" in c[1] for c in cluster.host.calls if c[0] == "run")
    cluster.restarts = 0
    up_once(cluster, settings, make_facts(k3s=PINNED), make_inputs(), state)
    assert cluster.restarts == 0


def test_gpu_host_full_run(tmp_path: Path) -> None:
    settings = Settings.model_validate({"gpu": {"mode": "on"}})
    cluster = Cluster(gpu=True)
    report, _ctx = up_once(
        cluster,
        settings,
        make_facts(gpu=True, toolkit=True),
        make_inputs(gpu=True),
        State(tmp_path / "s.json"),
    )
    node = cluster.kube.objects[("v1", "Node", "", "laptop")]
    assert node["metadata"]["labels"]["nvidia.com/gpu.present"] == "true"
    assert report.results["gpu_allocatable"] == 1
    assert report.results["gpu_smoke"] == "GPU 0: NVIDIA GeForce RTX 4090 (UUID: GPU-1234)"
    assert ("Job", "nvidia-device-plugin", "llmops-gpu-smoke") in [c[1:] for c in cluster.kube.calls if c[0] == "apply"]


def test_gpu_runtime_not_detected_fails_clearly() -> None:
    settings = Settings.model_validate({"gpu": {"mode": "on"}})
    cluster = Cluster(gpu=True, nvidia_detected=False)
    plan = build_plan(settings, make_facts(gpu=True, toolkit=True), make_inputs(gpu=True))
    ctx = context(cluster, settings, make_facts(gpu=True, toolkit=True), make_inputs(gpu=True))
    t = [0.0]
    ctx.clock = lambda: t[0]
    ctx.sleep = lambda s: t.__setitem__(0, t[0] + s)
    with pytest.raises(LlmopsError, match="did not add the nvidia runtime"):
        apply_plan(plan, ctx)
    assert cluster.restarts == 1


def test_missing_toolkit_stops_with_the_commands() -> None:
    settings = Settings.model_validate({"gpu": {"mode": "on"}})
    cluster = Cluster(gpu=False)
    cluster.host.tools.add("nvidia-smi")
    facts = make_facts(gpu=True, toolkit=False)
    ctx = context(cluster, settings, facts, make_inputs(gpu=True))
    with pytest.raises(LlmopsError) as e:
        apply_plan(build_plan(settings, facts, make_inputs(gpu=True)), ctx)
    assert "sudo apt-get install -y nvidia-container-toolkit" in str(e.value)
    assert cluster.host.mutations() == []  # stopped before touching k3s


def test_install_toolkit_runs_argv_commands(tmp_path: Path) -> None:
    settings = Settings.model_validate({"gpu": {"mode": "on", "install_toolkit": True}})
    cluster = Cluster(gpu=True)
    cluster.host.tools.discard("nvidia-container-runtime")
    cluster.host.responses["mktemp -t nvidia-gpgkey*"] = ok("/tmp/nvidia-gpgkey.abc\n")
    facts = make_facts(gpu=True, toolkit=False)
    up_once(cluster, settings, facts, make_inputs(gpu=True), State.memory())
    runs = [c[1] for c in cluster.host.calls if c[0] == "run" and c[3] == "rw"]
    assert "apt-get install -y nvidia-container-toolkit" in runs
    assert not any("|" in r for r in runs)  # no shell pipelines
    assert runs.index("apt-get install -y nvidia-container-toolkit") < runs.index("sh /tmp/k3s-install.abc123")


def test_airgap_install(tmp_path: Path) -> None:
    cluster = Cluster()
    bundle = AirgapBundle(
        tmp_path, tmp_path / "k3s", tmp_path / "install.sh", (tmp_path / "k3s-airgap-images-amd64.tar.zst",)
    )
    up_once(cluster, Settings(), make_facts(), make_inputs(), State.memory(), UpOptions(airgap=bundle, timeout=60))
    runs = [(c[1], c[4]) for c in cluster.host.calls if c[0] == "run" and c[3] == "rw"]
    assert runs[:3] == [
        (
            f"install -D -m 0644 {tmp_path}/{IMAGES} {hf.K3S_IMAGES_DIR}/{IMAGES}",
            "",
        ),
        (f"install -D -m 0755 {tmp_path}/k3s {hf.K3S_BIN}", ""),
        (f"sh {tmp_path}/install.sh", f"INSTALL_K3S_SKIP_DOWNLOAD=true,INSTALL_K3S_VERSION={PINNED}"),
    ]
    assert not any("curl" in r for r, _ in runs)


@pytest.mark.parametrize("gpu", [False, True])
def test_dry_run_never_changes_anything(gpu: bool) -> None:
    settings = Settings.model_validate({"gpu": {"mode": "on" if gpu else "off", "install_toolkit": True}})
    cluster = Cluster(gpu=gpu)
    cluster.kube.read_only = True
    facts = make_facts(gpu=gpu)
    inputs = make_inputs(gpu=gpu)
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
    up_once(cluster, settings, make_facts(), make_inputs(), state)
    cluster.kube.read_only = True
    cluster.host.calls.clear()
    facts = make_facts(k3s=PINNED)
    report = describe_up(
        build_plan(settings, facts, make_inputs()),
        context(cluster, settings, facts, make_inputs(), dry=True, state=state),
    )
    assert {p.status for p in report.planned} == {"done"}
    assert cluster.host.mutations() == []


def test_existing_secret_is_kept(settings: Settings) -> None:
    cluster = Cluster(k3s_installed=True)
    cluster.kube.put(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "llmops-gateway", "namespace": "llmops"},
            "data": {"admin-key": "b2xk"},
        }
    )
    up_once(cluster, settings, make_facts(k3s=PINNED), make_inputs(), State.memory())
    assert cluster.kube.objects[("v1", "Secret", "llmops", "llmops-gateway")]["data"] == {"admin-key": "b2xk"}


def test_show_password_reads_back_secrets(settings: Settings) -> None:
    cluster = Cluster()
    report, _ = up_once(
        cluster,
        settings,
        make_facts(),
        make_inputs(),
        State.memory(),
        UpOptions(show_password=True, timeout=60),
    )
    assert report.secrets["argocd admin password"] == "argo-pw"


def test_preflight_failure_stops_before_any_change() -> None:
    from dataclasses import replace

    cluster = Cluster()
    facts = replace(make_facts(), init_system="none", container=True)
    ctx = context(cluster, Settings(), facts, make_inputs())
    with pytest.raises(LlmopsError, match="no systemd or OpenRC") as e:
        apply_plan(build_plan(Settings(), facts, make_inputs()), ctx)
    assert e.value.code == "preflight"
    assert cluster.host.mutations() == []
    assert ctx.state.failed == "install_k3s"


def test_the_rate_limit_store_secret_holds_the_password_and_the_store_config_with_it() -> None:
    from llmops_cli.cluster.steps.secrets import secret_object
    from llmops_cli.cluster.up import platform_secrets
    from llmops_cli.config.model import Settings
    from llmops_cli.render import names

    (spec,) = [s for s in platform_secrets(Settings()) if s.name == names.GATEWAY_REDIS_SECRET]
    obj = secret_object(spec, {"password": "generated-value"})
    assert obj["metadata"]["namespace"] == names.APPS_NAMESPACE
    assert obj["stringData"] == {"password": "generated-value", "valkey.conf": "requirepass generated-value\n"}
