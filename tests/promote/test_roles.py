"""Roles and plans of an environment's hosts, without SSH: who starts the cluster, who joins, what each plan
holds, and the settings the environment's cluster is made with."""

from __future__ import annotations

from dataclasses import replace

import pytest

from llmops_cli.cluster.model import NodeRole, StepContext, UpOptions
from llmops_cli.cluster.plan import build_plan
from llmops_cli.cluster.state import State
from llmops_cli.config.load import load_settings
from llmops_cli.config.model import Settings
from llmops_cli.errors import ConfigError
from llmops_cli.promote.remote import cluster_warnings, environment_settings, roles
from llmops_cli.reporting import RecordingReporter
from tests.cluster.conftest import Cluster, make_facts, make_inputs
from tests.cluster.fakes import FakeClock


def env(hosts: list[dict], **extra: object) -> Settings:
    return Settings.model_validate({"environments": {"prod": {"profile": "prod", "hosts": hosts, **extra}}})


def test_the_first_server_starts_the_cluster_whatever_the_order() -> None:
    s = env(
        [{"address": "a1", "role": "agent"}, {"address": "s1"}, {"address": "s2"}, {"address": "a2", "role": "agent"}]
    )
    got = [(h.address, r.kind, r.server_url) for h, r in roles(s.environments["prod"])]
    assert got == [
        ("s1", "init", None),
        ("a1", "agent", "https://s1:6443"),
        ("s2", "server", "https://s1:6443"),
        ("a2", "agent", "https://s1:6443"),
    ]
    assert cluster_warnings(s.environments["prod"]) and not cluster_warnings(
        env([{"address": "s"}]).environments["prod"]
    )


def test_hosts_need_a_server_and_no_host_twice(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "llmops.yaml"
    f.write_text("environments:\n  prod:\n    hosts:\n      - {address: 10.0.0.1, role: agent}\n")
    with pytest.raises(ConfigError, match="role: server"):
        load_settings(f, environ={})
    f.write_text("environments:\n  prod:\n    hosts:\n      - {address: 10.0.0.1}\n      - {address: 10.0.0.1}\n")
    with pytest.raises(ConfigError, match="listed twice"):
        load_settings(f, environ={})


def test_the_environments_cluster_is_named_after_it_and_its_certificate_names_every_server() -> None:
    s = env([{"address": "203.0.113.10"}, {"address": "203.0.113.11"}, {"address": "10.0.0.9", "role": "agent"}])
    e = environment_settings(s, "prod")
    assert e.cluster.context_name == "llmops-prod"
    assert e.cluster.tls_san == ["203.0.113.10", "203.0.113.11"]
    assert "traefik" in e.cluster.disable  # no domain: no ingress controller needed
    with_domain = environment_settings(env([{"address": "s"}], domain="llm.example.com"), "prod")
    assert "traefik" not in with_domain.cluster.disable


def joining_ctx(cluster: Cluster, inputs, facts, token: str = "K10abc::server:s3cret"):  # type: ignore[no-untyped-def]
    clock = FakeClock()
    return StepContext(
        host=cluster.host,
        settings=Settings(),
        facts=facts,
        inputs=inputs,
        options=UpOptions(timeout=60),
        reporter=RecordingReporter(),
        state=State.memory(),
        kube_factory=lambda: cluster.kube,
        join_token=lambda: token,
        sleep=clock.sleep,
        clock=clock.now,
    )


@pytest.mark.parametrize("gpu", [False, True])
def test_an_agent_gets_the_host_part_of_the_up_plan_and_waits_for_its_own_node(gpu: bool) -> None:
    role = NodeRole("agent", server_url="https://10.0.0.1:6443")
    inputs = replace(make_inputs(gpu=gpu), node=role)
    plan = build_plan(Settings(), replace(make_facts(gpu=gpu, toolkit=gpu), k3s=make_facts().k3s), inputs)
    ids = plan.ids()
    assert ids[0 if not gpu else 2] == "write_join_token"
    assert "wait_node_ready" in ids and "install_k3s" in ids
    for cluster_step in (
        "merge_kubeconfig",
        "apply_argocd_install",
        "apply_root_application",
        "wait_applications_healthy",
    ):
        assert cluster_step not in ids
    assert ("label_gpu_node" in ids) == gpu and ("enable_nvidia_runtime" in ids) == gpu
    assert plan.summary["role"] == "agent"


def test_an_agent_is_installed_as_k3s_agent_and_its_token_never_reaches_an_argv() -> None:
    cluster = Cluster()
    role = NodeRole("agent", server_url="https://10.0.0.1:6443")
    inputs = replace(make_inputs(), node=role)
    facts = replace(cluster.facts(), k3s=replace(cluster.facts().k3s, service_name="k3s-agent"))
    plan = build_plan(Settings(), facts, inputs)
    ctx = joining_ctx(cluster, inputs, facts)
    ctx.state = State.memory()
    step = plan.step("write_join_token")
    step.apply(ctx)
    assert cluster.host.files["/etc/rancher/k3s/llmops-join-token"] == "K10abc::server:s3cret\n"
    assert cluster.host.modes["/etc/rancher/k3s/llmops-join-token"] == 0o600
    assert step.check is not None and step.check(ctx)
    assert not any("s3cret" in " ".join(c) for c in cluster.host.calls if c[0] == "run")
    # A token that changed on the first server (a rebuilt cluster) makes the step run again.
    assert not step.check(joining_ctx(cluster, inputs, facts, token="K10new::server:other"))
