"""The Argo CD check through the real Kube adapter against the Kubernetes API stand-in of tests/cluster, with
Application status as Argo CD v3.4.4 writes it (argoproj/argo-cd pkg/apis/application/v1alpha1/types.go:
status.sync.status|revision|revisions, status.health.status (its message is deprecated and never set),
status.conditions, status.operationState, status.resources[].health only when the controller persists it, else
status.resourceHealthSource: appTree)."""

from __future__ import annotations

from typing import Any

import pytest

from llmops_cli.adapters.kube import Kube
from llmops_cli.config.model import Settings
from llmops_cli.verify.cluster import argocd, detect_env
from llmops_cli.verify.expected import expected_for
from llmops_cli.verify.model import Runner
from tests.cluster.apistub import serve

SHA = "8f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6"


def _app(name: str, status: dict[str, Any], project: str = "llmops") -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {"project": project},
        "status": status,
    }


def _run(apps: list[dict[str, Any]]) -> dict[str, Any]:
    expected = expected_for(Settings(), "dev")
    with serve() as (api, url):
        # Argo CD's CRDs are installed (the stand-in serves Applications only once their CRD exists).
        for crd in ("applications.argoproj.io", "appprojects.argoproj.io"):
            api.sim.put(
                {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": crd}}
            )
        for a in apps:
            api.sim.put(a)
        kube = Kube.from_kubeconfig(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": url}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            },
            "x",
            timeout=(2.0, 5.0),
        )
        runner = Runner()
        argocd(runner, kube, expected)
        env = detect_env(kube, Settings())
    return {"env": env, **{r.name: r for r in runner.results}}


def _healthy(name: str) -> dict[str, Any]:
    return _app(name, {"sync": {"status": "Synced", "revision": SHA}, "health": {"status": "Healthy"}})


ALL = expected_for(Settings(), "dev").applications


def test_every_rendered_application_synced_and_healthy_with_its_revision() -> None:
    apps = [_healthy(n) for n in ALL]
    apps[0]["status"]["sync"] = {"status": "Synced", "revisions": [SHA, "77.14.0"]}  # several sources
    out = _run(apps)
    assert out["env"] == "dev"
    checks = {k: v for k, v in out.items() if k.startswith("argocd ")}
    assert set(checks) == {f"argocd {n}" for n in ALL}
    assert all(c.status == "ok" for c in checks.values())
    assert checks[f"argocd {ALL[0]}"].detail == "Synced/Healthy at 8f1e2d3, 77.14.0"
    assert checks[f"argocd {ALL[1]}"].detail == "Synced/Healthy at 8f1e2d3"


@pytest.mark.parametrize(
    ("status", "said"),
    [
        (
            {
                "sync": {"status": "OutOfSync", "revision": SHA},
                "health": {"status": "Healthy"},
                "conditions": [{"type": "ComparisonError", "message": "rpc error: repository not accessible"}],
            },
            "OutOfSync/Healthy at 8f1e2d3: ComparisonError: rpc error: repository not accessible",
        ),
        (
            {
                "sync": {"status": "Synced", "revision": SHA},
                "health": {"status": "Progressing"},
                "resources": [
                    {
                        "kind": "Deployment",
                        "namespace": "llmops",
                        "name": "policy-gateway",
                        "status": "Synced",
                        "health": {"status": "Progressing"},
                    }
                ],
            },
            "Synced/Progressing at 8f1e2d3: Deployment llmops/policy-gateway: Synced/Progressing",
        ),
        (
            {
                "sync": {"status": "OutOfSync"},
                "health": {"status": "Missing"},
                "operationState": {"phase": "Failed", "message": "one or more objects failed to apply"},
            },
            "OutOfSync/Missing at no revision: last sync Failed: one or more objects failed to apply",
        ),
        (
            {
                "sync": {"status": "Synced", "revision": SHA},
                "health": {"status": "Degraded"},
                "resourceHealthSource": "appTree",
                "resources": [
                    {"kind": "Deployment", "namespace": "llmops", "name": "policy-gateway", "status": "Synced"}
                ],
            },
            "Synced/Degraded at 8f1e2d3: Argo CD keeps its resources' health out of the Application "
            '(controller.resource.health.persist is not "true" in argocd-cmd-params-cm): see them in the Argo CD UI',
        ),
        ({}, "Unknown/Unknown at no revision"),
    ],
)
def test_an_unhealthy_application_fails_with_what_argo_cd_says(status: dict[str, Any], said: str) -> None:
    apps = [_healthy(n) for n in ALL if n != "gateway"] + [_app("gateway", status)]
    out = _run(apps)
    c = out["argocd gateway"]
    assert c.status == "fail" and c.detail == said
    assert "describe application gateway" in c.hint
    assert sum(r.status == "fail" for k, r in out.items() if k.startswith("argocd ")) == 1


def test_a_missing_application_fails_and_names_the_root_app() -> None:
    out = _run([_healthy(n) for n in ALL if n != "loki"])
    assert out["argocd loki"].status == "fail" and "llmops-dev" in out["argocd loki"].hint


def test_other_applications_of_the_project_are_checked_and_foreign_ones_ignored() -> None:
    extra = _app("team-rag", {"sync": {"status": "OutOfSync"}, "health": {"status": "Degraded"}})
    foreign = _app("someone-else", {"sync": {"status": "OutOfSync"}}, project="default")
    out = _run([_healthy(n) for n in ALL] + [extra, foreign])
    assert out["argocd team-rag"].status == "fail"
    assert "argocd someone-else" not in out
