"""`llmops status` through the real kube adapter, against a local stand-in for the Kubernetes API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pytest_httpserver import HTTPServer

from tests.helpers import run_cli

NODE = {
    "metadata": {"name": "laptop"},
    "status": {
        "conditions": [{"type": "Ready", "status": "True"}],
        "allocatable": {"nvidia.com/gpu": "1"},
        "nodeInfo": {"kubeletVersion": "v1.33.5+k3s1"},
    },
}


def app(name: str, health: str) -> dict:
    return {
        "metadata": {"name": name},
        "status": {"sync": {"status": "Synced"}, "health": {"status": health}},
    }


@pytest.fixture
def api(httpserver: HTTPServer) -> HTTPServer:
    cfg = Path.home() / ".kube" / "config"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    url = httpserver.url_for("").rstrip("/")
    cfg.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "llmops-llmops", "cluster": {"server": url}}],
                "users": [{"name": "llmops-llmops", "user": {"token": "abc"}}],
                "contexts": [
                    {
                        "name": "llmops-llmops",
                        "context": {"cluster": "llmops-llmops", "user": "llmops-llmops"},
                    }
                ],
                "current-context": "something-else",
            }
        )
    )
    httpserver.expect_request("/api/v1/nodes").respond_with_json({"items": [NODE]})
    httpserver.expect_request("/api/v1/namespaces/llmops/services/policy-gateway").respond_with_json(
        {"metadata": {"name": "policy-gateway"}, "spec": {"ports": [{"port": 8080}]}}
    )
    httpserver.expect_request("/api/v1/namespaces/monitoring/services").respond_with_json({"items": []})
    httpserver.expect_request("/api/v1/namespaces/argocd/services").respond_with_json(
        {"items": [{"metadata": {"name": "argo-cd-argocd-server"}, "spec": {"ports": [{"port": 443}]}}]}
    )
    return httpserver


def test_status_healthy_json(api: HTTPServer) -> None:
    api.expect_request("/apis/argoproj.io/v1alpha1/namespaces/argocd/applications").respond_with_json(
        {"items": [app("llmops-dev", "Healthy"), app("vllm", "Healthy")]}
    )
    r = run_cli("status", "-o", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)["data"]
    assert data["healthy"] is True and data["nodes"][0]["gpu_allocatable"] == 1
    assert [a["name"] for a in data["applications"]] == ["llmops-dev", "vllm"]
    eps = {e["name"]: e for e in data["endpoints"]}
    assert eps["argocd"]["url"] == "http://argo-cd-argocd-server.argocd.svc:443" and not eps["grafana"]["present"]
    for entry in api.log:
        assert entry[0].headers["Authorization"] == "Bearer abc"  # the llmops context, not the current one


def test_status_unhealthy_exits_1_and_names_it(api: HTTPServer) -> None:
    api.expect_request("/apis/argoproj.io/v1alpha1/namespaces/argocd/applications").respond_with_json(
        {"items": [app("llmops-dev", "Healthy"), app("pgvector", "Degraded")]}
    )
    r = run_cli("status")
    assert r.exit_code == 1
    assert "app  pgvector" in r.stdout and "Application pgvector is Synced/Degraded" in r.stderr


def test_status_without_context_is_a_clear_error() -> None:
    r = run_cli("status")
    assert r.exit_code == 1 and "no kubeconfig context llmops-llmops" in r.stderr and "llmops up" in r.stderr


def test_status_api_down_is_a_clear_error(tmp_path: Path) -> None:
    cfg = Path.home() / ".kube" / "config"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "x"}}],
                "contexts": [{"name": "llmops-llmops", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    r = run_cli("status")
    assert r.exit_code == 1 and "Kubernetes API" in r.stderr and "Traceback" not in r.output
