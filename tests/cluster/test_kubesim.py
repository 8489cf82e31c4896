"""The simulated cluster refuses and delays what a real one does, through both fronts (in memory and HTTP with
the real Kube adapter): a stand-in that accepted everything would let `up`'s tests pass where k3s fails."""

from __future__ import annotations

from typing import Any

import pytest

from llmops_cli.adapters.kube import Forbidden, Kube, NotFound
from tests.cluster.apistub import serve
from tests.cluster.fakes import FakeKube
from tests.cluster.kubesim import Sim


def world(gpus: int = 1) -> Sim:
    sim = Sim(gpus=gpus)
    sim.k3s_started()
    sim.add_node("laptop", cpus=4, memory_gib=8, labels={"nvidia.com/gpu.present": "true"})
    sim.runtime_handlers.add("nvidia")
    plugin = {"app.kubernetes.io/name": "nvidia-device-plugin"}
    sim.create(  # the device plugin: once its pod runs, the node advertises the GPUs
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "nvidia-device-plugin", "namespace": "kube-system", "labels": plugin},
            "spec": {
                "template": {
                    "metadata": {"labels": plugin},
                    "spec": {"runtimeClassName": "nvidia", "containers": [{"name": "p"}]},
                }
            },
        }
    )
    sim.tick()
    assert sim.node()["status"]["allocatable"]["nvidia.com/gpu"] == str(gpus)  # type: ignore[index]
    return sim


def gpu_job(name: str, gpus: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "template": {
                "spec": {
                    "runtimeClassName": "nvidia",
                    "containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": gpus}}}],
                }
            }
        },
    }


def gpu_deployment(name: str) -> dict[str, Any]:
    d = gpu_job(name)
    return {**d, "apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 1, **d["spec"]}}


def test_extended_resources_are_counted_and_an_unschedulable_job_pod_stays_pending() -> None:
    sim = world(gpus=1)
    kube = FakeKube(sim)
    kube.apply(gpu_deployment("vllm"))
    kube.apply(gpu_job("smoke"))
    phases = dict(sim.phase_of("default", ""))
    assert phases["vllm-0"] == "Running" and phases["smoke-run"] == "Pending"
    pod = kube.get("v1", "Pod", "smoke-run", "default")
    assert pod is not None
    cond = pod["status"]["conditions"][0]
    assert (cond["status"], cond["reason"]) == ("False", "Unschedulable")
    assert cond["message"] == "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
    assert not (kube.get("batch/v1", "Job", "smoke", "default") or {}).get("status", {}).get("succeeded")
    # Once the holder is gone, the Job's pod gets the GPU and the Job completes.
    kube.delete("apps/v1", "Deployment", "vllm", "default")
    assert (kube.get("batch/v1", "Job", "smoke", "default") or {})["status"]["succeeded"] == 1


def test_a_pod_whose_runtime_containerd_lacks_never_starts() -> None:
    sim = world()
    sim.runtime_handlers.discard("nvidia")
    kube = FakeKube(sim)
    kube.apply(gpu_job("smoke"))
    assert sim.phase_of("default", "smoke") == [("smoke-run", "Pending")]
    assert 'no runtime for "nvidia" is configured' in "".join(kube.events_for("default", "smoke-run", "Pod"))


def test_terminating_namespaces_refuse_new_objects_until_their_finalizers_are_gone() -> None:
    sim = world()
    kube = FakeKube(sim)
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}})
    held = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "namespace": "argocd", "finalizers": ["f/x"]},
    }
    kube.apply(held)
    kube.delete("v1", "Namespace", "argocd")
    ns = kube.get("v1", "Namespace", "argocd")
    assert ns is not None and ns["status"]["phase"] == "Terminating"
    with pytest.raises(Forbidden, match="because it is being terminated"):
        kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new", "namespace": "argocd"}})
    assert kube.get("v1", "ConfigMap", "x", "argocd")["metadata"]["deletionTimestamp"]  # type: ignore[index]
    kube.merge_patch("v1", "ConfigMap", "x", {"metadata": {"finalizers": None}}, "argocd")
    assert kube.get("v1", "Namespace", "argocd") is None
    with pytest.raises(NotFound, match='namespaces "argocd" not found'):
        kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new", "namespace": "argocd"}})


def test_argo_kinds_exist_only_with_their_crds() -> None:
    kube = FakeKube(world())
    app = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "a", "namespace": "default"},
    }
    with pytest.raises(NotFound):
        kube.apply(app)
    assert kube.list("argoproj.io/v1alpha1", "Application") == []


def _helmchart(unmanaged: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "argo-cd", "namespace": "kube-system"}
    if unmanaged:
        meta["annotations"] = {"helmcharts.helm.cattle.io/unmanaged": "true"}
    return {
        "apiVersion": "helm.cattle.io/v1",
        "kind": "HelmChart",
        "metadata": meta,
        "spec": {"chart": "argo-cd", "targetNamespace": "argocd", "createNamespace": True},
    }


def test_deleting_a_managed_helmchart_uninstalls_and_an_unmanaged_one_does_not() -> None:
    sim = world()
    kube = FakeKube(sim)
    kube.apply(_helmchart())
    chart = kube.get("helm.cattle.io/v1", "HelmChart", "argo-cd", "kube-system")
    assert chart is not None and "wrangler.cattle.io/on-helm-chart-remove" in chart["metadata"]["finalizers"]
    assert kube.get("apps/v1", "Deployment", "argo-cd-argocd-server", "argocd") is not None
    kube.delete("helm.cattle.io/v1", "HelmChart", "argo-cd", "kube-system")
    assert kube.get("apps/v1", "Deployment", "argo-cd-argocd-server", "argocd") is None  # helm delete ran
    # Unmanaged: helm-controller ignores it, its finalizer stays until someone removes it; Argo CD stays.
    kube.apply(_helmchart())
    kube.merge_patch(
        "helm.cattle.io/v1",
        "HelmChart",
        "argo-cd",
        {"metadata": {"annotations": {"helmcharts.helm.cattle.io/unmanaged": "true"}}},
        "kube-system",
    )
    kube.delete("helm.cattle.io/v1", "HelmChart", "argo-cd", "kube-system")
    assert kube.get("helm.cattle.io/v1", "HelmChart", "argo-cd", "kube-system") is not None  # stuck on its finalizer
    kube.merge_patch("helm.cattle.io/v1", "HelmChart", "argo-cd", {"metadata": {"finalizers": None}}, "kube-system")
    assert kube.get("helm.cattle.io/v1", "HelmChart", "argo-cd", "kube-system") is None
    assert kube.get("apps/v1", "Deployment", "argo-cd-argocd-server", "argocd") is not None


def test_the_http_front_gives_the_real_adapter_the_same_answers() -> None:
    sim = world()
    with serve(sim) as (_, url):
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": url}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        }
        kube = Kube.from_kubeconfig(cfg, "x", timeout=(2.0, 5.0))
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gone"}})
        kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "s", "namespace": "gone"},
                "stringData": {"k": "v"},
            }
        )
        assert kube.get("v1", "Secret", "s", "gone")["data"] == {"k": "dg=="}  # type: ignore[index]
        kube.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "h", "namespace": "gone", "finalizers": ["f/x"]},
            }
        )
        kube.delete("v1", "Namespace", "gone")
        with pytest.raises(Forbidden, match="being terminated"):
            kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "n", "namespace": "gone"}})
        kube.apply(gpu_deployment("vllm"))
        kube.apply(gpu_job("smoke"))
        (pod,) = kube.list("v1", "Pod", "default", label_selector="job-name=smoke")
        assert (
            pod["status"]["phase"] == "Pending"
            and "Insufficient nvidia.com/gpu" in pod["status"]["conditions"][0]["message"]
        )
