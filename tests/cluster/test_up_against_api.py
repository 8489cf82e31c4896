"""The whole `up` plan through the real Kubernetes adapter, over HTTP, against a stateful API stand-in:
every object goes out as a server-side apply with our field manager, and a second `up` sends no change."""

from __future__ import annotations

from pathlib import Path

from llmops_cli.cluster.state import State
from llmops_cli.cluster.up import run_up
from llmops_cli.reporting import RecordingReporter
from tests.cluster.apistub import Api, serve, up_over_http
from tests.cluster.conftest import Cluster


def up(api: Api, url: str, cluster: Cluster, state: State, home: Path):  # type: ignore[no-untyped-def]
    plan, ctx = up_over_http(api, url, cluster, state, home, reporter=RecordingReporter())
    return run_up(plan, ctx)


def test_up_twice_over_http(tmp_path: Path) -> None:
    cluster = Cluster()
    state = State(tmp_path / "state.json")
    with serve(cluster.sim) as (api, url):
        first = up(api, url, cluster, state, tmp_path)
        patches = [(p, q, ct) for m, p, q, ct in api.log if m == "PATCH"]
        assert patches, "nothing was applied"
        applies = [(p, q) for p, q, ct in patches if ct == "application/apply-patch+yaml"]
        for path, query in applies:
            assert query == {"fieldManager": ["llmops"], "force": ["true"]}, path
        paths = [p for p, _ in applies]
        assert "/apis/helm.cattle.io/v1/namespaces/kube-system/helmcharts/argo-cd" in paths
        assert "/api/v1/namespaces/llmops/secrets/llmops-pgvector" in paths
        assert paths[-1] == "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/llmops-dev"
        # The handover: the HelmChart is marked unmanaged (a merge patch), then deleted; Argo CD keeps running.
        merges = [p for p, _, ct in patches if ct == "application/merge-patch+json"]
        assert merges[-1] == "/apis/helm.cattle.io/v1/namespaces/kube-system/helmcharts/argo-cd"
        deletes = [p for m, p, _, _ in api.log if m == "DELETE"]
        assert deletes[-1] == "/apis/helm.cattle.io/v1/namespaces/kube-system/helmcharts/argo-cd"
        assert first.run is not None and first.run.changed > 0
        api.log.clear()
        second = up(api, url, cluster, state, tmp_path)
        assert [m for m, *_ in api.log if m != "GET"] == []
        assert second.run is not None and second.run.changed == 0
        assert second.results["applications"]["llmops-dev"] == "Synced/Healthy"
