"""status, down and sync against the simulated laptop: `down` lets every finalizer finish, so `up` works right
after it; `down --purge` takes back what `up` added to the host; `sync` renders with `up`'s choices."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llmops_cli.adapters import hostfacts as hf
from llmops_cli.adapters import kubeconfig as kc
from llmops_cli.adapters import upstream
from llmops_cli.cluster.state import State
from llmops_cli.cluster.status import collect_status
from llmops_cli.cluster.sync import sync
from llmops_cli.cluster.teardown import down, down_actions
from llmops_cli.config.model import Settings
from llmops_cli.errors import ClusterError, UsageError, WaitTimeout
from llmops_cli.reporting import RecordingReporter
from tests.cluster.conftest import K3S_YAML, Cluster
from tests.cluster.fakes import FakeClock
from tests.cluster.test_apply import up_once


def environ() -> dict[str, str]:
    """The hermetic HOME of this test (set by tests/conftest.py, after import time)."""
    return {"KUBECONFIG": str(Path.home() / ".kube" / "config"), "HOME": str(Path.home())}


NAMESPACES = ("argocd", "llmops", "llmops-system", "monitoring")


def healthy(settings: Settings | None = None, **kw) -> tuple[Cluster, dict[str, str]]:  # type: ignore[no-untyped-def]
    cluster = Cluster(**kw)
    up_once(cluster, settings or Settings(), State.load("llmops", environ()))
    return cluster, environ()


def run_down(cluster: Cluster, **kw) -> object:  # type: ignore[no-untyped-def]
    clock = FakeClock()
    args = dict(
        host=cluster.host,
        kube_factory=cluster.kube_factory(),
        env="dev",
        keep_data=False,
        uninstall_k3s=False,
        reporter=RecordingReporter(),
        environ=environ(),
        timeout=120,
        clock=clock.now,
        sleep=clock.sleep,
    )
    args.update(kw)
    return down(Settings(), **args)  # type: ignore[arg-type]


def test_status_healthy() -> None:
    cluster, _ = healthy()
    report = collect_status(cluster.kube, Settings(), context="llmops-llmops")
    assert report.healthy, report.problems
    d = report.to_dict()
    assert {"name": "llmops-dev", "sync": "Synced", "health": "Healthy"} in d["applications"]
    gw = next(e for e in d["endpoints"] if e["name"] == "gateway")
    assert gw["url"] == "http://policy-gateway.llmops.svc:8080" and "port-forward" in gw["port_forward"]
    argo = next(e for e in d["endpoints"] if e["name"] == "argocd")
    assert argo["port_forward"] == "kubectl -n argocd port-forward svc/argo-cd-argocd-server 8080:80"
    assert d["pins"]["k3s"] == Settings().cluster.k3s_version
    assert d["nodes"][0]["ready"] is True


def test_status_names_what_is_unhealthy() -> None:
    cluster, _ = healthy()
    cluster.app_health = "Degraded"
    report = collect_status(cluster.kube, Settings.model_validate({"gpu": {"mode": "on"}}), context="x")
    assert not report.healthy
    assert "Application llmops-dev is Synced/Degraded" in report.problems
    assert any("nvidia.com/gpu" in p for p in report.problems)


def test_down_removes_the_platform_waits_for_every_namespace_and_up_works_again() -> None:
    cluster, env = healthy()
    assert kc.find_context("llmops-llmops", env) is not None
    report = run_down(cluster)
    calls = cluster.kube.calls
    assert ("patch", "Application", "argocd", "llmops-dev") in calls  # cascade finalizer set first
    assert ("delete", "Application", "argocd", "llmops-dev") in calls
    for ns in NAMESPACES:
        assert ("v1", "Namespace", "", ns) not in cluster.kube.objects, ns  # gone, not Terminating
        assert f"namespace {ns}" in report.removed  # type: ignore[attr-defined]
    assert not any(k[0] == "argoproj.io/v1alpha1" for k in cluster.kube.objects)
    assert (
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "",
        "applications.argoproj.io",
    ) not in cluster.kube.objects
    assert kc.find_context("llmops-llmops", env) is None
    assert not State.load("llmops", env).done
    assert not any("uninstall" in c[1] for c in cluster.host.calls if c[0] == "run")
    # `down` then `up`: nothing is left Terminating, so the API server accepts the platform again.
    report2, _ = up_once(cluster, Settings(), State.load("llmops", env))
    assert all(v == "Synced/Healthy" for v in report2.results["applications"].values())


def test_a_namespace_held_by_a_finalizer_is_named_when_down_gives_up() -> None:
    cluster, _ = healthy()
    cluster.kube.put(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "held", "namespace": "llmops", "finalizers": ["example.com/never"]},
        }
    )
    with pytest.raises(WaitTimeout) as e:
        run_down(cluster)
    assert "namespace llmops is still Terminating" in str(e.value) and "example.com/never" in str(e.value)


def test_down_keep_data_keeps_volumes_and_secrets() -> None:
    cluster, _ = healthy()
    cluster.kube.put(
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "pgdata", "namespace": "llmops"}}
    )
    report = run_down(cluster, keep_data=True)
    pvc = cluster.kube.objects[("v1", "PersistentVolumeClaim", "llmops", "pgdata")]
    assert pvc["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] == "Delete=false"
    assert ("delete", "Namespace", "", "llmops") not in cluster.kube.calls
    assert ("v1", "Secret", "llmops", "llmops-pgvector") in cluster.kube.objects
    assert any("namespace llmops" in k for k in report.kept)  # type: ignore[attr-defined]


def test_down_reports_what_up_left_on_the_host_and_purge_removes_it() -> None:
    settings = Settings.model_validate({"gpu": {"mode": "on", "install_toolkit": True}})
    cluster, env = healthy(settings, gpu=True, toolkit=False, gpus=2)
    ledger = State.load("llmops", env).host
    assert (
        ledger["k3s"]["installed_by"] == "llmops"
        and ledger["nvidia_toolkit"]["version"] == upstream.NVIDIA_TOOLKIT_VERSION
    )
    plain = run_down(cluster)
    left = "\n".join(plain.left_on_host)  # type: ignore[attr-defined]
    assert (
        f"k3s {Settings().cluster.k3s_version}" in left and hf.K3S_DROPIN in left and "NVIDIA container toolkit" in left
    )
    assert hf.K3S_BIN in cluster.host.files  # a plain down leaves k3s
    # The ledger survives a plain down, so --purge still knows what llmops added.
    actions = down_actions(State.load("llmops", env).host, uninstall_k3s=False, purge=True)
    assert any("k3s-uninstall.sh" in a for a in actions) and any("toolkit" in a for a in actions)
    purged = run_down(cluster, purge=True)
    assert hf.K3S_BIN not in cluster.host.files and hf.K3S_DROPIN not in cluster.host.files
    for f in (upstream.NVIDIA_APT_LIST, upstream.NVIDIA_KEYRING):
        assert f not in cluster.host.files
    removes = [c[1] for c in cluster.host.calls if c[1].startswith("apt-get") and " remove " in c[1]]
    assert removes and all(p in removes[0] for p in upstream.NVIDIA_TOOLKIT_PACKAGES)
    assert purged.left_on_host == []  # type: ignore[attr-defined]
    assert not (Path(env["HOME"]) / ".local/state/llmops/clusters/llmops.json").exists()


def test_purge_keeps_a_k3s_llmops_did_not_install_and_takes_out_only_its_own_settings() -> None:
    cluster = Cluster(k3s_installed=True)  # adopted: installed before llmops
    cluster.host.files[hf.K3S_REGISTRIES] = yaml.safe_dump(
        {"configs": {"registry.example.com": {"auth": {"username": "me", "password": "pw"}}}}
    )
    settings = Settings.model_validate({"cluster": {"registry_mirror": "https://mirror.example.com"}})
    up_once(cluster, settings, State.load("llmops", environ()))
    merged = yaml.safe_load(cluster.host.files[hf.K3S_REGISTRIES])
    assert merged["mirrors"] == {"docker.io": {"endpoint": ["https://mirror.example.com"]}}
    assert merged["configs"]["registry.example.com"]["auth"]["password"] == "pw"
    cluster.restarts = 0
    run_down(cluster, purge=True)
    assert hf.K3S_BIN in cluster.host.files  # not ours to remove
    assert hf.K3S_DROPIN not in cluster.host.files
    assert yaml.safe_load(cluster.host.files[hf.K3S_REGISTRIES]) == {
        "configs": {"registry.example.com": {"auth": {"username": "me", "password": "pw"}}}
    }
    assert cluster.restarts == 1  # k3s restarted without llmops's settings


def test_down_uninstall_k3s_runs_the_script_even_when_the_cluster_is_gone() -> None:
    cluster = Cluster(k3s_installed=True)

    def unreachable():  # type: ignore[no-untyped-def]
        raise ClusterError("connection refused", code="unreachable")

    report = run_down(cluster, kube_factory=unreachable, uninstall_k3s=True)
    assert ("run", hf.K3S_UNINSTALL, "priv") in [c[:3] for c in cluster.host.calls]
    assert report.warnings and "connection refused" in report.warnings[0]  # type: ignore[attr-defined]


@pytest.mark.parametrize("uninstall_k3s", [False, True])
def test_down_on_a_host_without_llmops_has_nothing_to_remove(tmp_path: Path, uninstall_k3s: bool) -> None:
    cluster = Cluster()  # no k3s, and no kubeconfig context
    State.load("llmops", {"HOME": str(tmp_path)}).mark_done("x", "y")  # left by a first `up` that failed early

    def no_client():  # type: ignore[no-untyped-def]
        raise AssertionError("down looked for a cluster on a host without one")

    report = down(
        Settings(),
        host=cluster.host,
        kube_factory=no_client,
        env="dev",
        keep_data=False,
        uninstall_k3s=uninstall_k3s,
        reporter=RecordingReporter(),
        environ={"HOME": str(tmp_path)},
    )
    assert report.installed is False and report.removed == [] and cluster.host.mutations() == []
    assert not State.load("llmops", {"HOME": str(tmp_path)}).done


def test_down_with_k3s_installed_but_unreachable_still_fails(tmp_path: Path) -> None:
    cluster = Cluster(k3s_installed=True)

    def unreachable():  # type: ignore[no-untyped-def]
        raise ClusterError("connection refused", code="unreachable")

    with pytest.raises(ClusterError, match="connection refused"):
        down(
            Settings(),
            host=cluster.host,
            kube_factory=unreachable,
            env="dev",
            keep_data=False,
            uninstall_k3s=False,
            reporter=RecordingReporter(),
            environ={"HOME": str(tmp_path)},
        )


def test_down_keep_data_and_uninstall_conflict() -> None:
    with pytest.raises(UsageError, match="conflicts"):
        run_down(Cluster(), keep_data=True, uninstall_k3s=True, kube_factory=lambda: None)


def test_sync_pushes_only_when_the_tree_changed() -> None:
    cluster, env = healthy()
    cluster.kube.calls.clear()
    same = cluster.sync(environ=env)
    assert same["changed"] is False and cluster.kube.mutations() == []
    edited = Settings.model_validate({"stacks": {"observability": {"enabled": False}}})
    out = cluster.sync(edited, env)
    assert out["changed"] is True
    assert ("apply", "ConfigMap", "llmops-system", "llmops-git-seed") in cluster.kube.calls
    assert ("delete", "Job", "llmops-system", "llmops-git-seed") in cluster.kube.calls
    assert cluster.sim.git_tree is not None and not any("observability" in p for p in cluster.sim.git_tree)


def test_sync_renders_with_the_gpu_decision_up_made() -> None:
    """`up --gpu off` on a GPU laptop: `sync` must not push the GPU tree the host's facts would pick."""
    cluster = Cluster(gpu=True, gpus=1)
    off = Settings.model_validate({"gpu": {"mode": "off"}})
    up_once(cluster, off, State.load("llmops", environ()))
    assert State.load("llmops", environ()).choices["gpu"] is False
    out = cluster.sync(Settings(), environ())  # gpu.mode auto: the facts (a GPU) would say on
    assert out["gpu"] is False and out["changed"] is False
    assert not any("nvidia-device-plugin" in p for p in cluster.sim.git_tree or {})


def test_sync_without_the_ssh_key_secret_says_run_up() -> None:
    from llmops_cli.errors import LlmopsError

    cluster, env = healthy()
    del cluster.kube.objects[("v1", "Secret", "llmops-system", "llmops-git-ssh")]
    cluster.kube.calls.clear()
    with pytest.raises(LlmopsError, match="SSH key Secret") as e:
        cluster.sync(environ=env)
    assert "llmops up" in (e.value.hint or "") and cluster.kube.mutations() == []


def test_sync_in_remote_mode_says_what_to_do() -> None:
    settings = Settings.model_validate({"gitops": {"repo_url": "https://github.com/acme/p.git"}})
    with pytest.raises(UsageError, match="commit and push"):
        sync(
            settings,
            host=Cluster().host,
            facts=Cluster().facts(),
            kube_factory=lambda: None,  # type: ignore[arg-type,return-value]
            env=None,
            reporter=RecordingReporter(),
            environ={},
        )


def test_k3s_yaml_fixture_is_valid() -> None:
    assert yaml.safe_load(K3S_YAML)["current-context"] == "default"
