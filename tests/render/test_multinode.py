"""What an environment of several hosts renders: each node's k3s drop-in by role, vLLM spread over the GPU hosts,
HTTPS hostnames under the environment's domain; every object valid for the pinned Kubernetes."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from llmops_cli.config.model import Settings
from llmops_cli.render.api import k3s_config, render_environment
from llmops_cli.versions import KUBERNETES_MINOR

from .conftest import objects


def env_with(hosts: list[dict], **extra: object) -> Settings:
    return Settings.model_validate({"environments": {"prod": {"profile": "prod", "hosts": hosts, **extra}}})


def _kind(objs: dict, kind: str) -> list[dict]:
    return [o for o in objs.values() if o["kind"] == kind]


@pytest.mark.parametrize(
    ("node", "present", "absent"),
    [
        (
            {"role": "server", "cluster_init": True, "tls_san": ["203.0.113.10"]},
            {"cluster-init", "tls-san+", "disable+"},
            {"server", "token-file"},
        ),
        (
            {"role": "server", "server_url": "https://203.0.113.10:6443", "token_file": "/t"},
            {"server", "token-file", "disable+"},
            {"cluster-init"},
        ),
        (
            {"role": "agent", "server_url": "https://203.0.113.10:6443", "token_file": "/t"},
            {"server", "token-file"},
            {"write-kubeconfig-mode", "tls-san+", "disable+", "cluster-init"},
        ),
    ],
    ids=["first-server", "joining-server", "agent"],
)
def test_each_role_gets_its_k3s_settings(node: dict, present: set[str], absent: set[str]) -> None:
    text = k3s_config(Settings(), gpu=False, **node)
    data = yaml.safe_load(text)
    assert present <= set(data), text
    assert not (absent & set(data)), text
    if "token-file" in data:
        assert data["token-file"] == "/t" and "token:" not in text  # never the token itself


def test_a_gpu_agent_carries_the_gpu_label_and_nothing_of_a_server() -> None:
    data = yaml.safe_load(k3s_config(Settings(), gpu=True, role="agent", server_url="https://a:6443", token_file="/t"))
    assert data["node-label+"] == ["nvidia.com/gpu.present=true"]
    assert set(data) == {"server", "token-file", "node-label+"}


@given(st.integers(min_value=0, max_value=6), st.integers(min_value=0, max_value=3))
@hsettings(max_examples=20, deadline=None)
def test_vllm_runs_one_replica_per_gpu_host_spread_over_nodes(gpu_hosts: int, cpu_hosts: int) -> None:
    hosts = [
        {"address": f"10.0.0.{i + 1}", "role": "server" if i == 0 else "agent", "gpu": True} for i in range(gpu_hosts)
    ]
    hosts += [
        {"address": f"10.0.1.{i + 1}", "role": "server" if not hosts and i == 0 else "agent"} for i in range(cpu_hosts)
    ]
    if not hosts:
        hosts = [{"address": "10.0.2.1"}]
    s = env_with(hosts)
    objs = objects(render_environment(s, "prod", gpu=True))
    deploy = next(o for o in _kind(objs, "Deployment") if o["metadata"]["name"].startswith("vllm-"))
    # With Argo Rollouts on (the default), the Rollout runs the pods from the Deployment's template
    # (workloadRef) and the Deployment stays at zero replicas; without it, the Deployment runs them.
    rollout = next((o for o in _kind(objs, "Rollout") if o["metadata"]["name"] == deploy["metadata"]["name"]), None)
    runs = rollout or deploy
    want = max(1, gpu_hosts)
    assert runs["spec"]["replicas"] == want
    assert rollout is None or deploy["spec"]["replicas"] == 0
    pdbs = [p for p in _kind(objs, "PodDisruptionBudget") if p["metadata"]["name"] == deploy["metadata"]["name"]]
    pod = deploy["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    if want > 1:
        assert pdbs and pdbs[0]["spec"]["maxUnavailable"] == 1
        assert pdbs[0]["spec"]["selector"]["matchLabels"] == runs["spec"]["selector"]["matchLabels"]
        term = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
        assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
        # One pod per GPU: a new pod never starts before an old one has freed its GPU.
        if rollout is None:
            assert deploy["spec"]["strategy"] == {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
            }
        else:
            canary = rollout["spec"]["strategy"]["canary"]
            assert (canary["maxSurge"], canary["maxUnavailable"]) == (0, 1)
        assert "ephemeral" in volumes["cache"]  # a ReadWriteOnce claim cannot follow pods onto several nodes
        assert not [o for o in _kind(objs, "PersistentVolumeClaim") if o["metadata"]["name"].startswith("vllm-")]
    else:
        assert not pdbs and "affinity" not in pod and "persistentVolumeClaim" in volumes["cache"]
    for obj in (deploy, *pdbs):
        kubernetes_validate.validate(obj, KUBERNETES_MINOR, strict=True)


def test_postgres_instances_follow_the_hosts_up_to_three() -> None:
    for n, want in ((0, 1), (1, 1), (2, 2), (3, 3), (5, 3)):
        hosts = [{"address": f"10.0.0.{i + 1}", "role": "server"} for i in range(n)]
        s = env_with(hosts) if hosts else Settings()
        cluster = next(o for o in objects(render_environment(s, "prod")).values() if o["kind"] == "Cluster")
        assert cluster["spec"]["instances"] == want, n


def test_a_domain_gives_https_hostnames_with_the_environments_certificate() -> None:
    s = env_with([{"address": "203.0.113.10"}], domain="llm.example.com", tls_secret="wildcard-llm")
    objs = objects(render_environment(s, "prod"))
    ingresses = {o["spec"]["rules"][0]["host"]: o for o in _kind(objs, "Ingress")}
    assert set(ingresses) == {"gateway.llm.example.com", "grafana.llm.example.com"}
    gw = ingresses["gateway.llm.example.com"]
    assert gw["metadata"]["namespace"] == "llmops"
    assert gw["spec"]["tls"] == [{"hosts": ["gateway.llm.example.com"], "secretName": "wildcard-llm"}]
    backend = gw["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    svc = next(o for o in _kind(objs, "Service") if o["metadata"]["name"] == backend["name"])
    assert backend["port"]["number"] in [p["port"] for p in svc["spec"]["ports"]]
    assert ingresses["grafana.llm.example.com"]["metadata"]["namespace"] == "monitoring"
    for ing in ingresses.values():
        kubernetes_validate.validate(ing, KUBERNETES_MINOR, strict=True)
    assert not _kind(objects(render_environment(Settings(), "prod")), "Ingress")
    no_grafana = Settings.model_validate(
        {"environments": {"prod": {"domain": "x.example"}}, "stacks": {"observability": {"grafana": False}}}
    )
    assert [
        o["spec"]["rules"][0]["host"] for o in _kind(objects(render_environment(no_grafana, "prod")), "Ingress")
    ] == ["gateway.x.example"]
