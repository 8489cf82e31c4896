"""status, down and sync against the simulated cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llmops_cli.adapters import hostfacts as hf
from llmops_cli.adapters import kubeconfig as kc
from llmops_cli.cluster.state import State
from llmops_cli.cluster.status import collect_status
from llmops_cli.cluster.sync import sync
from llmops_cli.cluster.teardown import down
from llmops_cli.config.model import Settings
from llmops_cli.errors import ClusterError, UsageError
from llmops_cli.reporting import RecordingReporter
from tests.cli.fake_render import FakeRenderer
from tests.cluster.conftest import K3S_YAML, Cluster, make_facts, make_inputs
from tests.cluster.test_apply import up_once


def healthy_cluster(tmp_path: Path) -> tuple[Cluster, dict[str, str]]:
    cluster = Cluster()
    up_once(cluster, Settings(), make_facts(), make_inputs(), State.memory())
    env = {"KUBECONFIG": str(Path.home() / ".kube" / "config"), "HOME": str(Path.home())}
    return cluster, env


def test_status_healthy(tmp_path: Path) -> None:
    cluster, _ = healthy_cluster(tmp_path)
    cluster.kube.put(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "policy-gateway", "namespace": "llmops"},
            "spec": {"ports": [{"port": 8080}]},
        }
    )
    report = collect_status(cluster.kube, Settings(), context="llmops-llmops")
    assert report.healthy, report.problems
    d = report.to_dict()
    assert d["applications"] == [{"name": "llmops-dev", "sync": "Synced", "health": "Healthy"}]
    gw = next(e for e in d["endpoints"] if e["name"] == "gateway")
    assert gw["url"] == "http://policy-gateway.llmops.svc:8080" and "port-forward" in gw["port_forward"]
    assert d["pins"]["k3s"] == Settings().cluster.k3s_version
    assert d["nodes"][0]["ready"] is True


def test_status_names_what_is_unhealthy(tmp_path: Path) -> None:
    cluster, _ = healthy_cluster(tmp_path)
    cluster.app_health = "Degraded"
    report = collect_status(cluster.kube, Settings.model_validate({"gpu": {"mode": "on"}}), context="x")
    assert not report.healthy
    assert "Application llmops-dev is Synced/Degraded" in report.problems
    assert any("nvidia.com/gpu" in p for p in report.problems)


def test_down_removes_platform_context_and_state(tmp_path: Path) -> None:
    cluster, env = healthy_cluster(tmp_path)
    state = State.load("llmops", env)
    state.mark_done("x", "y")
    cluster.kube.put(
        {
            "apiVersion": "helm.cattle.io/v1",
            "kind": "HelmChart",
            "metadata": {"name": "argo-cd", "namespace": "kube-system"},
        }
    )
    assert kc.find_context("llmops-llmops", env) is not None
    report = down(
        Settings(),
        host=cluster.host,
        kube_factory=lambda: cluster.kube,
        env="dev",
        keep_data=False,
        uninstall_k3s=False,
        reporter=RecordingReporter(),
        environ=env,
        timeout=30,
    )
    calls = cluster.kube.calls
    assert ("patch", "Application", "argocd", "llmops-dev") in calls  # cascade finalizer set first
    assert ("delete", "Application", "argocd", "llmops-dev") in calls
    assert ("delete", "HelmChart", "kube-system", "argo-cd") in calls
    assert "namespace llmops" in report.removed and "namespace argocd" in report.removed
    assert kc.find_context("llmops-llmops", env) is None
    assert not (State.load("llmops", env).done)
    assert not any(c[0] == "run" for c in cluster.host.calls if "uninstall" in c[1])


def test_down_keep_data_keeps_volumes_and_secrets(tmp_path: Path) -> None:
    cluster, env = healthy_cluster(tmp_path)
    cluster.kube.put(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "pgdata", "namespace": "llmops"},
        }
    )
    report = down(
        Settings(),
        host=cluster.host,
        kube_factory=lambda: cluster.kube,
        env="dev",
        keep_data=True,
        uninstall_k3s=False,
        reporter=RecordingReporter(),
        environ=env,
        timeout=30,
    )
    pvc = cluster.kube.objects[("v1", "PersistentVolumeClaim", "llmops", "pgdata")]
    assert pvc["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] == "Delete=false"
    assert ("delete", "Namespace", "", "llmops") not in cluster.kube.calls
    assert any("namespace llmops" in k for k in report.kept)


def test_down_uninstall_k3s_runs_the_script_even_when_the_cluster_is_gone(tmp_path: Path) -> None:
    cluster = Cluster(k3s_installed=True)

    def unreachable():  # type: ignore[no-untyped-def]
        raise ClusterError("connection refused", code="unreachable")

    report = down(
        Settings(),
        host=cluster.host,
        kube_factory=unreachable,
        env="dev",
        keep_data=False,
        uninstall_k3s=True,
        reporter=RecordingReporter(),
        environ={"HOME": str(tmp_path)},
    )
    assert ("run", hf.K3S_UNINSTALL, "priv") in [c[:3] for c in cluster.host.calls]
    assert report.warnings and "connection refused" in report.warnings[0]


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
    with pytest.raises(UsageError, match="conflict"):
        down(
            Settings(),
            host=Cluster().host,
            kube_factory=lambda: None,
            env="dev",
            keep_data=True,  # type: ignore[arg-type,return-value]
            uninstall_k3s=True,
            reporter=RecordingReporter(),
            environ={},
        )


def test_sync_pushes_only_when_the_tree_changed(tmp_path: Path) -> None:
    cluster, env = healthy_cluster(tmp_path)
    facts = make_facts(k3s=Settings().cluster.k3s_version)
    cluster.kube.calls.clear()
    out = sync(
        Settings(),
        host=cluster.host,
        facts=facts,
        kube_factory=lambda: cluster.kube,
        env=None,
        reporter=RecordingReporter(),
        environ=env,
        renderer=FakeRenderer(),
    )
    # FakeRenderer's tree differs from the one `up` pushed: a new seed Job runs.
    assert out["changed"] is True
    assert ("apply", "ConfigMap", "llmops-system", "llmops-git-seed") in cluster.kube.calls
    assert ("delete", "Job", "llmops-system", "llmops-git-seed") in cluster.kube.calls
    cluster.kube.calls.clear()
    again = sync(
        Settings(),
        host=cluster.host,
        facts=facts,
        kube_factory=lambda: cluster.kube,
        env=None,
        reporter=RecordingReporter(),
        environ=env,
        renderer=FakeRenderer(),
    )
    assert again["changed"] is False and cluster.kube.mutations() == []


def test_sync_without_the_ssh_key_secret_says_run_up(tmp_path: Path) -> None:
    from llmops_cli.errors import LlmopsError

    cluster, env = healthy_cluster(tmp_path)
    del cluster.kube.objects[("v1", "Secret", "llmops-system", "llmops-git-ssh")]
    cluster.kube.calls.clear()
    with pytest.raises(LlmopsError, match="SSH key Secret") as e:
        sync(
            Settings(),
            host=cluster.host,
            facts=make_facts(k3s=Settings().cluster.k3s_version),
            kube_factory=lambda: cluster.kube,
            env=None,
            reporter=RecordingReporter(),
            environ=env,
            renderer=FakeRenderer(),
        )
    assert "llmops up" in (e.value.hint or "") and cluster.kube.mutations() == []


def test_sync_in_remote_mode_says_what_to_do() -> None:
    settings = Settings.model_validate({"gitops": {"repo_url": "https://github.com/acme/p.git"}})
    with pytest.raises(UsageError, match="commit and push"):
        sync(
            settings,
            host=Cluster().host,
            facts=make_facts(),
            kube_factory=lambda: None,
            env=None,  # type: ignore[arg-type,return-value]
            reporter=RecordingReporter(),
            environ={},
        )


def test_k3s_yaml_fixture_is_valid() -> None:
    assert yaml.safe_load(K3S_YAML)["current-context"] == "default"
