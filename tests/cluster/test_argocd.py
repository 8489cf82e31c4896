"""Argo CD readiness: what counts as ready, and what a timeout names."""

from __future__ import annotations

import pytest

from llmops_cli.cluster.steps import argocd
from llmops_cli.config.model import Settings
from llmops_cli.errors import WaitTimeout
from tests.cluster.conftest import Cluster, make_facts, make_inputs
from tests.cluster.test_apply import context


def deployment(name: str, available: int, conditions: list | None = None) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {"replicas": 1},
        "status": {"availableReplicas": available, "conditions": conditions or []},
    }


def test_split_and_namespace() -> None:
    install, argo = argocd.split(make_inputs().bootstrap)
    assert [o["kind"] for o in argo] == ["AppProject", "Application"]
    assert "HelmChart" in [o["kind"] for o in install]
    assert argocd.argocd_namespace(make_inputs().bootstrap) == "argocd"


def test_ready_needs_server_and_repo_server_available() -> None:
    cluster = Cluster(k3s_installed=True)
    cluster.kube.hooks.clear()
    ctx = context(cluster, Settings(), make_facts(), make_inputs())
    assert argocd.ready_workloads(ctx, "argocd") is None
    cluster.kube.put(deployment("argo-cd-argocd-server", 1))
    assert argocd.ready_workloads(ctx, "argocd") is None  # no repo-server yet
    cluster.kube.put(deployment("argo-cd-argocd-repo-server", 0))
    assert argocd.ready_workloads(ctx, "argocd") is None
    cluster.kube.put(deployment("argo-cd-argocd-repo-server", 1))
    assert argocd.ready_workloads(ctx, "argocd") == ["argo-cd-argocd-repo-server", "argo-cd-argocd-server"]


def test_timeout_names_the_workload_and_its_condition() -> None:
    cluster = Cluster(k3s_installed=True)
    cluster.kube.hooks.clear()
    cluster.kube.put(deployment("argo-cd-argocd-server", 1))
    cluster.kube.put(
        deployment(
            "argo-cd-argocd-repo-server",
            0,
            [
                {
                    "type": "Available",
                    "status": "False",
                    "message": "Deployment does not have minimum availability.",
                }
            ],
        )
    )
    cluster.sim.event("argocd", "Deployment", "argo-cd-argocd-repo-server", "BackOff", "pulling image failed")
    inputs = make_inputs()
    ctx = context(cluster, Settings(), make_facts(), inputs)
    step = next(
        s for s in argocd.install_steps(Settings(), make_facts(), inputs, ctx.options) if s.id == "wait_argocd_ready"
    )
    with pytest.raises(WaitTimeout) as e:
        step.apply(ctx)
    msg = str(e.value)
    assert "Argo CD in namespace argocd" in msg
    assert "Deployment argocd/argo-cd-argocd-repo-server: 0/1 ready Available=False Deployment does not have" in msg
    assert "BackOff: pulling image failed" in msg


def test_timeout_before_any_workload_points_at_the_helm_install_job() -> None:
    cluster = Cluster(k3s_installed=True)
    cluster.kube.hooks.clear()
    inputs = make_inputs()
    ctx = context(cluster, Settings(), make_facts(), inputs)
    step = next(
        s for s in argocd.install_steps(Settings(), make_facts(), inputs, ctx.options) if s.id == "wait_argocd_ready"
    )
    with pytest.raises(WaitTimeout, match="HelmChart install job may be failing"):
        step.apply(ctx)


def test_after_up_argo_cd_has_one_owner_its_own_application() -> None:
    from llmops_cli.cluster.state import State
    from tests.cluster.test_apply import up_once

    cluster = Cluster()
    up_once(cluster, Settings(), State.memory())
    objs = cluster.kube.objects
    assert ("helm.cattle.io/v1", "HelmChart", "kube-system", "argo-cd") not in objs  # helm-controller let go
    server = objs[("apps/v1", "Deployment", "argocd", "argo-cd-argocd-server")]
    assert server["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"].startswith("argo-cd:")
    assert server["status"]["availableReplicas"] == 1  # still running: removing the chart uninstalled nothing
    # The next `up` does not bring the HelmChart back (two owners again).
    cluster.kube.calls.clear()
    up_once(cluster, Settings(), State.memory())
    assert not [c for c in cluster.kube.calls if c[0] == "apply" and c[1] == "HelmChart"]


def test_no_handover_while_argo_cds_own_application_is_not_healthy() -> None:
    from llmops_cli.errors import LlmopsError

    cluster = Cluster(k3s_installed=True)
    inputs = make_inputs()
    ctx = context(cluster, Settings(), make_facts(), inputs)
    (step,) = argocd.handover_steps(Settings(), make_facts(), inputs, ctx.options)
    cluster.kube.put(
        {
            "apiVersion": "helm.cattle.io/v1",
            "kind": "HelmChart",
            "metadata": {"name": "argo-cd", "namespace": "kube-system"},
            "spec": {"chart": "other"},
        }
    )
    assert not step.check(ctx)  # type: ignore[misc]
    with pytest.raises(LlmopsError, match="stays with its bootstrap HelmChart"):
        step.apply(ctx)
    assert ("helm.cattle.io/v1", "HelmChart", "kube-system", "argo-cd") in cluster.kube.objects
