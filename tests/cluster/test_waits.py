"""What `up` says about Applications that are not Synced and Healthy, from status as Argo CD v3.4.4 writes it."""

from __future__ import annotations

from typing import Any

from llmops_cli.cluster.steps.waits import describe_apps
from tests.cluster.fakes import FakeKube
from tests.cluster.kubesim import Sim


def _app(status: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "vllm", "namespace": "argocd"},
        "status": status,
    }


def test_unhealthy_resources_are_named_with_their_health_message() -> None:
    app = _app(
        {
            "sync": {"status": "Synced"},
            "health": {"status": "Progressing"},
            "resources": [
                {
                    "kind": "Service",
                    "namespace": "llmops",
                    "name": "vllm",
                    "status": "Synced",
                    "health": {"status": "Healthy"},
                },
                {
                    "kind": "Deployment",
                    "namespace": "llmops",
                    "name": "vllm-qwen",
                    "status": "Synced",
                    "health": {"status": "Progressing", "message": "0 of 1 updated replicas available"},
                },
            ],
        }
    )
    lines = describe_apps(FakeKube(Sim()), [app])
    assert lines == [
        "Application vllm: Synced/Progressing",
        "    Deployment llmops/vllm-qwen: Synced/Progressing (0 of 1 updated replicas available)",
    ]


def test_an_argo_cd_that_keeps_resource_health_in_its_tree_is_named_as_such() -> None:
    """Argo CD >= 3.0 without controller.resource.health.persist: resources[] carry no health at all."""
    app = _app(
        {
            "sync": {"status": "Synced"},
            "health": {"status": "Degraded"},
            "resourceHealthSource": "appTree",
            "resources": [{"kind": "Deployment", "namespace": "llmops", "name": "vllm-qwen", "status": "Synced"}],
        }
    )
    lines = describe_apps(FakeKube(Sim()), [app])
    assert lines[0] == "Application vllm: Synced/Degraded"
    assert len(lines) == 2 and "controller.resource.health.persist" in lines[1] and "Argo CD UI" in lines[1]
