"""The whole `up` plan through the real Kubernetes adapter, over HTTP, against a stateful API stand-in:
every object goes out as a server-side apply with our field manager, and a second `up` sends no change."""

from __future__ import annotations

from pathlib import Path

from llmops_cli.adapters.kube import Kube
from llmops_cli.cluster.context import StepContext
from llmops_cli.cluster.plan import UpOptions, build_plan
from llmops_cli.cluster.state import State
from llmops_cli.cluster.up import run_up
from llmops_cli.config.model import Settings
from llmops_cli.reporting import RecordingReporter
from tests.cluster.apistub import Api, serve
from tests.cluster.conftest import Cluster, make_facts, make_inputs


def up(api: Api, url: str, cluster: Cluster, state: State, home: Path):  # type: ignore[no-untyped-def]
    settings = Settings()
    facts = make_facts(k3s=settings.cluster.k3s_version) if cluster.installs else make_facts()
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": url}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
    }
    api.objects.setdefault(
        ("nodes", "", "laptop"),
        {
            "metadata": {"name": "laptop", "labels": {"kubernetes.io/hostname": "laptop"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        },
    )
    ctx = StepContext(
        host=cluster.host,
        settings=settings,
        facts=facts,
        inputs=make_inputs(),
        options=UpOptions(timeout=30),
        reporter=RecordingReporter(),
        state=state,
        kube_factory=lambda: Kube.from_kubeconfig(kubeconfig, "x", timeout=(2.0, 5.0)),
        environ={"KUBECONFIG": str(home / "config"), "HOME": str(home)},
        sleep=lambda s: None,
    )
    return run_up(build_plan(settings, facts, make_inputs()), ctx)


def test_up_twice_over_http(tmp_path: Path) -> None:
    cluster = Cluster()
    state = State(tmp_path / "state.json")
    with serve() as (api, url):
        first = up(api, url, cluster, state, tmp_path)
        patches = [(p, q, ct) for m, p, q, ct in api.log if m == "PATCH"]
        assert patches, "nothing was applied"
        for path, query, ctype in patches:
            assert ctype == "application/apply-patch+yaml", path
            assert query == {"fieldManager": ["llmops"], "force": ["true"]}, path
        paths = [p for p, _, _ in patches]
        assert "/apis/helm.cattle.io/v1/namespaces/argocd/helmcharts/argo-cd" in paths
        assert "/api/v1/namespaces/llmops/secrets/llmops-pgvector" in paths
        assert paths[-1] == "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/llmops-dev"
        assert first.run is not None and first.run.changed > 0
        api.log.clear()
        second = up(api, url, cluster, state, tmp_path)
        assert [m for m, *_ in api.log if m != "GET"] == []
        assert second.run is not None and second.run.changed == 0
        assert second.results["applications"] == {"llmops-dev": "Synced/Healthy"}
