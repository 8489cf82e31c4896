"""The canary objects against the pinned Argo Rollouts release: a Rollout per workload references its Deployment,
runs a canary judged by an AnalysisTemplate of the same folder, and every condition is an expression Argo
Rollouts can evaluate (tests/rollouts/exprlang.py) over the names its environment defines."""

from __future__ import annotations

import re

import pytest

from llmops_cli.config.model import Settings
from llmops_cli.render.api import render_environment
from tests.rollouts.exprlang import Parser

from .conftest import objects
from .upstream.rendered import VARIANT_IDS, release, variants

ARGS = re.compile(r"\{\{\s*args\.([A-Za-z0-9_-]+)\s*\}\}")


def _by(tree: dict[str, str], kind: str) -> dict[str, tuple[str, dict]]:
    return {o["metadata"]["name"]: (p, o) for p, o in objects(tree).items() if o["kind"] == kind}


def _names(node: tuple) -> set[str]:
    """Identifiers an expression reads (variables and called functions)."""
    out: set[str] = set()
    if node[0] == "var":
        out.add(node[1])
    elif node[0] == "call":
        out.add(node[1])
    for part in node[1:]:
        if isinstance(part, tuple):
            out |= _names(part)
        elif isinstance(part, list):
            for p in part:
                if isinstance(p, tuple):
                    out |= _names(p)
    return out


@pytest.mark.parametrize(("variant", "tree"), variants(), ids=VARIANT_IDS)
def test_each_rollout_runs_its_deployment_as_a_canary_judged_by_a_template_beside_it(variant, tree):
    ar = release("argo-rollouts")
    rollouts, deployments = _by(tree, "Rollout"), _by(tree, "Deployment")
    templates = _by(tree, "AnalysisTemplate")
    assert {n for n in rollouts} == {"policy-gateway", *(n for n in deployments if n.startswith("vllm-"))}
    for name, (path, ro) in rollouts.items():
        ref = ro["spec"]["workloadRef"]
        assert ref["kind"] == "Deployment" and ref["apiVersion"] == "apps/v1" and ref["name"] == name
        assert ref["scaleDown"] in ar.names("workload_ref_scale_down")
        dpath, deploy = deployments[name]
        # Argo Rollouts runs the pods; the Deployment is only its template (docs/migrating.md)
        assert deploy["spec"]["replicas"] == 0, dpath
        assert ro["spec"]["selector"] == deploy["spec"]["selector"]
        labels = deploy["spec"]["template"]["metadata"]["labels"]
        assert all(labels[k] == v for k, v in ro["spec"]["selector"]["matchLabels"].items())
        steps = ro["spec"]["strategy"]["canary"]["steps"]
        assert [next(iter(s)) for s in steps] == ["setWeight", "pause", "analysis"]
        for t in steps[2]["analysis"]["templates"]:
            tpath, template = templates[t["templateName"]]
            assert tpath.split("/")[0] == path.split("/")[0], "the template is synced with its Rollout"
            declared = {a["name"] for a in template["spec"]["args"]}
            given = {a["name"] for a in steps[2]["analysis"]["args"]}
            assert declared <= given
        for a in steps[2]["analysis"]["args"]:
            assert a["valueFrom"]["podTemplateHashValue"] in ar.names("pod_template_hash_values")


@pytest.mark.parametrize(("variant", "tree"), variants(), ids=VARIANT_IDS)
def test_every_analysis_condition_is_an_expression_argo_rollouts_evaluates(variant, tree):
    env = release("argo-rollouts").names("condition_env") | {"len"}
    for _, (path, t) in _by(tree, "AnalysisTemplate").items():
        declared = {a["name"] for a in t["spec"]["args"]}
        assert t["spec"]["metrics"]
        for m in t["spec"]["metrics"]:
            assert "successCondition" in m, (path, m["name"])
            for key in ("successCondition", "failureCondition"):
                if key in m:
                    assert _names(Parser(m[key]).parse()) <= env, (path, m["name"], key)
            query = m["provider"]["prometheus"]["query"]
            assert set(ARGS.findall(query)) <= declared, (path, m["name"])
            assert m["provider"]["prometheus"]["address"].startswith("http://kube-prometheus-stack-prometheus.")


@pytest.mark.parametrize(("variant", "tree"), variants(), ids=VARIANT_IDS)
def test_the_analysis_can_tell_canary_pods_from_stable_ones(variant, tree):
    """Series carry the pod's rollouts-pod-template-hash label (ServiceMonitor podTargetLabels), which the
    analysis queries select the canary by."""
    label = next(iter(release("argo-rollouts").names("pod_template_hash_label")))
    for name, (path, sm) in _by(tree, "ServiceMonitor").items():
        if name == "policy-gateway" or name.startswith("vllm-"):
            assert sm["spec"]["podTargetLabels"] == [label], path
    gateway = _by(tree, "AnalysisTemplate")["llmops-gateway-risk"][1]
    for m in gateway["spec"]["metrics"]:
        assert 'rollouts_pod_template_hash="{{args.canary-hash}}"' in m["provider"]["prometheus"]["query"], m["name"]


def test_one_gpu_means_the_model_canary_replaces_the_stable_pod():
    gpu = _by(render_environment(Settings.model_validate({"gpu": {"mode": "on"}}), "dev"), "Rollout")
    canary = next(o for n, (_, o) in gpu.items() if n.startswith("vllm-"))["spec"]["strategy"]["canary"]
    assert canary["maxSurge"] == 0 and canary["maxUnavailable"] == 1
    assert canary["steps"][0] == {"setWeight": 100}
    sim = _by(render_environment(Settings(), "dev"), "Rollout")
    assert "maxSurge" not in next(o for n, (_, o) in sim.items() if n.startswith("vllm-"))["spec"]["strategy"]["canary"]


def test_evidence_checks_join_the_gateway_analysis_where_releases_are_required():
    def names(env: str, settings: Settings) -> set[str]:
        t = _by(render_environment(settings, env), "AnalysisTemplate")["llmops-gateway-risk"][1]
        return {m["name"] for m in t["spec"]["metrics"]}

    kpis = {"redaction-ratio", "blocked-ratio", "injection-ratio", "refusal-ratio", "error-ratio", "latency-slow-ratio"}
    evidence = {"evidence-passed", "evidence-fresh", "risk-level", "evidence-signed"}
    assert names("dev", Settings()) == kpis
    assert names("prod", Settings()) == kpis | evidence
    unsigned = Settings.model_validate({"governance": {"runtime": {"risk": {"require_signed_evidence": False}}}})
    assert names("prod", unsigned) == kpis | evidence - {"evidence-signed"}


def test_rollouts_off_renders_plain_deployments():
    objs = objects(render_environment(Settings.model_validate({"stacks": {"rollouts": {"enabled": False}}}), "prod"))
    kinds = {o["kind"] for o in objs.values()}
    assert not kinds & {"Rollout", "AnalysisTemplate"}
    assert not any(o["kind"] == "Application" and o["metadata"]["name"] == "argo-rollouts" for o in objs.values())
    assert all(o["spec"].get("replicas", 1) != 0 for o in objs.values() if o["kind"] == "Deployment")
