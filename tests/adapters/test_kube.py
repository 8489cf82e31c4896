"""The kube adapter against a local HTTP stand-in for the Kubernetes API that asserts the exact requests."""

from __future__ import annotations

import json
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from llmops_cli.adapters.hosts import DryRunViolation
from llmops_cli.adapters.kube import Conflict, Forbidden, Kube, NotFound, Unreachable
from llmops_cli.errors import ClusterError, WaitTimeout


def kubeconfig_for(url: str, token: str = "t0ken") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": url}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "llmops-test", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "llmops-test",
    }


@pytest.fixture
def kube(httpserver: HTTPServer) -> Kube:
    return Kube.from_kubeconfig(kubeconfig_for(httpserver.url_for("").rstrip("/")), "llmops-test", timeout=(1.0, 2.0))


CM = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "cfg", "namespace": "apps"},
    "data": {"a": "1"},
}


def test_apply_is_server_side_apply_with_field_manager_and_force(httpserver: HTTPServer, kube: Kube) -> None:
    seen: list[Request] = []

    def handler(req: Request) -> Response:
        seen.append(req)
        return Response(json.dumps({**CM, "metadata": {**CM["metadata"], "uid": "1"}}), content_type="application/json")

    httpserver.expect_oneshot_request(
        "/api/v1/namespaces/apps/configmaps/cfg",
        method="PATCH",
        query_string={"fieldManager": "llmops", "force": "true"},
        headers={"Content-Type": "application/apply-patch+yaml", "Authorization": "Bearer t0ken"},
    ).respond_with_handler(handler)
    out = kube.apply(CM)
    httpserver.check_assertions()
    assert out["metadata"]["uid"] == "1"
    assert json.loads(seen[0].get_data()) == CM


def test_apply_custom_resource_path(httpserver: HTTPServer, kube: Kube) -> None:
    app = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "root", "namespace": "argocd"},
    }
    httpserver.expect_oneshot_request(
        "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/root", method="PATCH"
    ).respond_with_json(app)
    kube.apply(app)
    httpserver.check_assertions()


def test_cluster_scoped_apply(httpserver: HTTPServer, kube: Kube) -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "llmops"}}
    httpserver.expect_oneshot_request("/api/v1/namespaces/llmops", method="PATCH").respond_with_json(ns)
    kube.apply(ns)
    httpserver.check_assertions()


def test_unknown_kind_is_resolved_through_discovery(httpserver: HTTPServer, kube: Kube) -> None:
    httpserver.expect_oneshot_request("/apis/example.com/v1", method="GET").respond_with_json(
        {
            "resources": [
                {"name": "widgets/status", "kind": "Widget", "namespaced": True},
                {"name": "widgets", "kind": "Widget", "namespaced": True},
            ]
        }
    )
    httpserver.expect_oneshot_request("/apis/example.com/v1/namespaces/x/widgets/w", method="GET").respond_with_json(
        {"kind": "Widget"}
    )
    assert kube.get("example.com/v1", "Widget", "w", "x") == {"kind": "Widget"}
    httpserver.check_assertions()


def test_get_404_is_none_and_list_of_missing_crd_is_empty(httpserver: HTTPServer, kube: Kube) -> None:
    httpserver.expect_request("/api/v1/namespaces/apps/secrets/nope").respond_with_json(
        {"kind": "Status", "message": 'secrets "nope" not found', "code": 404}, status=404
    )
    httpserver.expect_request("/apis/argoproj.io/v1alpha1/namespaces/argocd/applications").respond_with_json(
        {"kind": "Status", "code": 404}, status=404
    )
    assert kube.get("v1", "Secret", "nope", "apps") is None
    assert kube.list("argoproj.io/v1alpha1", "Application", "argocd") == []


def test_404_on_apply_is_not_found_with_hint(httpserver: HTTPServer, kube: Kube) -> None:
    httpserver.expect_request("/api/v1/namespaces/apps/configmaps/cfg", method="PATCH").respond_with_json(
        {"kind": "Status", "message": 'namespaces "apps" not found'}, status=404
    )
    with pytest.raises(NotFound, match='ConfigMap/cfg in namespace apps not found: namespaces "apps" not found'):
        kube.apply(CM)


def test_409_is_conflict(httpserver: HTTPServer, kube: Kube) -> None:
    httpserver.expect_request("/api/v1/namespaces/apps/configmaps/cfg", method="PATCH").respond_with_json(
        {"kind": "Status", "message": "Operation cannot be fulfilled: the object has been modified"},
        status=409,
    )
    with pytest.raises(Conflict, match="conflict on ConfigMap/cfg") as e:
        kube.apply(CM)
    assert "retry" in (e.value.hint or "")


def test_403_is_forbidden_naming_the_verb(httpserver: HTTPServer, kube: Kube) -> None:
    httpserver.expect_request("/api/v1/namespaces/apps/configmaps/cfg", method="PATCH").respond_with_json(
        {"kind": "Status", "message": 'configmaps "cfg" is forbidden: User "x" cannot patch'}, status=403
    )
    with pytest.raises(Forbidden, match=r"refused PATCH on ConfigMap/cfg in namespace apps \(403\)"):
        kube.apply(CM)


def test_500_is_a_cluster_error(httpserver: HTTPServer, kube: Kube) -> None:
    httpserver.expect_request("/api/v1/nodes").respond_with_data("boom", status=500)
    with pytest.raises(ClusterError, match="HTTP 500: boom"):
        kube.list("v1", "Node")


def test_read_timeout_is_unreachable(httpserver: HTTPServer, kube: Kube) -> None:
    def slow(_: Request) -> Response:
        time.sleep(3)
        return Response("{}")

    httpserver.expect_request("/api/v1/nodes").respond_with_handler(slow)
    t0 = time.monotonic()
    with pytest.raises(Unreachable, match="timed out"):
        kube.list("v1", "Node")
    assert time.monotonic() - t0 < 2.9


def test_connection_refused_is_unreachable() -> None:
    kube = Kube.from_kubeconfig(kubeconfig_for("http://127.0.0.1:9"), "llmops-test", timeout=(0.5, 0.5))
    with pytest.raises(Unreachable, match=r"cannot reach|failed"):
        kube.list("v1", "Node")


def test_delete_sends_propagation_policy(httpserver: HTTPServer, kube: Kube) -> None:
    seen = []

    def handler(req: Request) -> Response:
        seen.append(json.loads(req.get_data()))
        return Response(json.dumps({"kind": "Status"}), content_type="application/json")

    httpserver.expect_oneshot_request(
        "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/root", method="DELETE"
    ).respond_with_handler(handler)
    httpserver.expect_oneshot_request(
        "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/root", method="DELETE"
    ).respond_with_json({"kind": "Status"}, status=404)
    assert kube.delete("argoproj.io/v1alpha1", "Application", "root", "argocd") is True
    assert seen[0]["propagationPolicy"] == "Foreground"
    assert kube.delete("argoproj.io/v1alpha1", "Application", "root", "argocd") is False


def test_merge_patch_content_type(httpserver: HTTPServer, kube: Kube) -> None:
    httpserver.expect_oneshot_request(
        "/api/v1/nodes/n1",
        method="PATCH",
        headers={"Content-Type": "application/merge-patch+json"},
        json={"metadata": {"labels": {"nvidia.com/gpu.present": "true"}}},
    ).respond_with_json({"kind": "Node"})
    kube.merge_patch("v1", "Node", "n1", {"metadata": {"labels": {"nvidia.com/gpu.present": "true"}}})
    httpserver.check_assertions()


def test_list_passes_selectors(httpserver: HTTPServer, kube: Kube) -> None:
    httpserver.expect_oneshot_request(
        "/api/v1/namespaces/gpu/pods", query_string={"labelSelector": "job-name=smoke"}
    ).respond_with_json({"items": [{"metadata": {"name": "p"}}]})
    assert [p["metadata"]["name"] for p in kube.list("v1", "Pod", "gpu", label_selector="job-name=smoke")] == ["p"]


def test_read_only_client_refuses_changes_without_sending(httpserver: HTTPServer) -> None:
    ro = Kube.from_kubeconfig(kubeconfig_for(httpserver.url_for("").rstrip("/")), "llmops-test", read_only=True)
    with pytest.raises(DryRunViolation):
        ro.apply(CM)
    with pytest.raises(DryRunViolation):
        ro.delete("v1", "ConfigMap", "cfg", "apps")
    with pytest.raises(DryRunViolation):
        ro.merge_patch("v1", "Node", "n", {})
    assert len(httpserver.log) == 0


def test_wait_until_polls_until_ready(httpserver: HTTPServer, kube: Kube) -> None:
    not_ready = {
        "items": [{"metadata": {"name": "n"}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}}]
    }
    ready = {"items": [{"metadata": {"name": "n"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}]}
    httpserver.expect_ordered_request("/api/v1/nodes").respond_with_json(not_ready)
    httpserver.expect_ordered_request("/api/v1/nodes").respond_with_json({"kind": "Status"}, status=404)
    httpserver.expect_ordered_request("/api/v1/nodes").respond_with_json(ready)
    sleeps: list[float] = []
    kube.sleep = sleeps.append

    def probe():
        items = kube.list("v1", "Node")
        ok = items and all(c["status"] == "True" for i in items for c in i["status"]["conditions"])
        return items if ok else None

    assert kube.wait_until(probe, timeout=60, what="nodes", interval=1.5)[0]["metadata"]["name"] == "n"
    assert sleeps == [1.5, 1.5]


def test_wait_until_times_out_naming_what_is_unhealthy(kube: Kube) -> None:
    now = [0.0]
    kube.clock = lambda: now[0]

    def advance(s: float) -> None:
        now[0] += s

    kube.sleep = advance
    with pytest.raises(WaitTimeout) as e:
        kube.wait_until(
            lambda: None,
            timeout=10,
            what="Argo CD",
            interval=4,
            describe=lambda: ["Deployment argocd/argo-cd-argocd-server: 0/1 ready"],
        )
    assert "timed out after 10s waiting for Argo CD" in str(e.value)
    assert "Deployment argocd/argo-cd-argocd-server: 0/1 ready" in str(e.value)
    assert now[0] == 12


def test_wait_until_tolerates_unreachable_then_reports_it(kube: Kube) -> None:
    now = [0.0]
    kube.clock = lambda: now[0]
    kube.sleep = lambda s: now.__setitem__(0, now[0] + s)

    def probe():
        raise Unreachable("connection refused")

    with pytest.raises(WaitTimeout, match="connection refused"):
        kube.wait_until(probe, timeout=5, what="the API")


def test_logs(httpserver: HTTPServer, kube: Kube) -> None:
    httpserver.expect_oneshot_request(
        "/api/v1/namespaces/gpu/pods/p/log", query_string={"tailLines": "50"}
    ).respond_with_data("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)\n")
    assert "H100" in kube.logs("p", "gpu")


def test_bad_kubeconfig_is_a_cluster_error() -> None:
    with pytest.raises(ClusterError, match="cannot use kubeconfig context"):
        Kube.from_kubeconfig({"apiVersion": "v1", "clusters": [], "contexts": [], "users": []}, "missing")
