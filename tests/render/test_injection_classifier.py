"""stacks.gateway.injection_classifier: TEI serving a prompt-injection classifier, and the gateway policy calling it.

Off by default (the tree is unchanged); on, the gateway's rendered policy must load in the gateway and reach the
rendered Service, with llmops.yaml's threshold, timeout, fail-open/closed switch and the model's attack labels.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pydantic import ValidationError

from llmops_cli.config.model import KNOWN_INJECTION_CLASSIFIERS, Settings
from llmops_cli.errors import UsageError
from llmops_cli.gateway.policy import parse_policy
from llmops_cli.render.api import render_environment
from llmops_cli.render.stacks import gateway_policy_text, make_ctx
from llmops_cli.render.stacks.injection_classifier import with_classifier

from .conftest import default_tree, objects


def _on(**cfg: Any) -> Settings:
    return Settings.model_validate({"stacks": {"gateway": {"injection_classifier": {"enabled": True, **cfg}}}})


def _policy(tree: dict[str, str]) -> str:
    cm = next(o for o in objects(tree).values() if o["metadata"]["name"] == "policy-gateway-policies")
    return cm["data"]["gateway.yaml"]


def _classifier_objects(tree: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {p: o for p, o in objects(tree).items() if p.startswith("injection-classifier/")}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_off_by_default_renders_nothing_and_ships_the_policy_verbatim(env):
    tree = default_tree(env)
    assert not _classifier_objects(tree)
    assert not any("injection-classifier" in p for p in tree)
    assert _policy(tree) == gateway_policy_text(Settings())


def test_nothing_is_rendered_without_the_gateway():
    s = Settings.model_validate(
        {"stacks": {"gateway": {"enabled": False, "injection_classifier": {"enabled": True, "hf_token_secret": "t"}}}}
    )
    assert not any("injection-classifier" in p for p in render_environment(s, "dev"))


MODELS = st.sampled_from(sorted(KNOWN_INJECTION_CLASSIFIERS)) | st.from_regex(
    r"[a-z][a-z0-9-]{0,12}/[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True
)


@st.composite
def classifier_settings(draw: st.DrawFn) -> dict[str, Any]:
    model = draw(MODELS)
    known = KNOWN_INJECTION_CLASSIFIERS.get(model)
    cfg: dict[str, Any] = {
        "model": model,
        "action": draw(st.sampled_from(["deny", "flag"])),
        "threshold": draw(st.floats(0.01, 0.99)),
        "timeout_ms": draw(st.integers(10, 30_000)),
        "on_error": draw(st.sampled_from(["open", "closed"])),
        "max_chunks": draw(st.integers(1, 512)),
    }
    if known is None or draw(st.booleans()):
        cfg["labels"] = draw(st.lists(st.from_regex(r"[A-Z][A-Z0-9_]{0,15}", fullmatch=True), min_size=1, max_size=3))
    if (known is not None and known.gated) or draw(st.booleans()):
        cfg["hf_token_secret"] = draw(st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True))
    if draw(st.booleans()):
        cfg["revision"] = draw(st.from_regex(r"[0-9a-f]{40}", fullmatch=True))
    return cfg


@given(classifier_settings(), st.sampled_from(["dev", "prod"]))
@hsettings(max_examples=40, deadline=None)
def test_the_gateway_loads_the_rendered_policy_and_calls_the_rendered_service(cfg, env):
    s = _on(**cfg)
    tree = render_environment(s, env)
    policy = parse_policy(_policy(tree), "gateway.yaml")  # exactly what `gateway serve` validates
    inj = policy.content.injection
    clf = inj.classifier
    assert clf is not None and inj.action == cfg["action"]
    assert (clf.threshold, clf.timeout_ms, clf.on_error, clf.max_chunks) == (
        cfg["threshold"],
        cfg["timeout_ms"],
        cfg["on_error"],
        cfg["max_chunks"],
    )
    want = cfg.get("labels") or list(KNOWN_INJECTION_CLASSIFIERS[cfg["model"]].labels)
    assert clf.labels == want
    # Everything else is the shipped policy's.
    shipped = parse_policy(gateway_policy_text(s), "gateway.yaml")
    assert policy.model_dump(exclude={"content": {"injection"}}) == shipped.model_dump(
        exclude={"content": {"injection"}}
    )
    assert inj.threshold == shipped.content.injection.threshold

    # The URL's host and port are the Service's, which forwards to the container port TEI listens on.
    objs = _classifier_objects(tree)
    svc = next(o for o in objs.values() if o["kind"] == "Service")
    deploy = next(o for o in objs.values() if o["kind"] == "Deployment")
    host, port = clf.url.removeprefix("http://").split(":")
    assert host == f"{svc['metadata']['name']}.{svc['metadata']['namespace']}.svc"
    (sp,) = svc["spec"]["ports"]
    assert sp["port"] == int(port)
    (c,) = deploy["spec"]["template"]["spec"]["containers"]
    (cp,) = [p for p in c["ports"] if p["name"] == sp["targetPort"]]
    assert c["args"][c["args"].index("--port") + 1] == str(cp["containerPort"])
    assert svc["spec"]["selector"].items() <= deploy["spec"]["template"]["metadata"]["labels"].items()
    assert c["args"][c["args"].index("--model-id") + 1] == cfg["model"]
    assert ("--revision" in c["args"]) == ("revision" in cfg)
    # Only the gateway's pods reach it.
    netpol = next(o for o in objs.values() if o["kind"] == "NetworkPolicy")
    (rule,) = netpol["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "policy-gateway"}}}]
    assert rule["ports"] == [{"port": sp["port"], "protocol": "TCP"}]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_classifier_runs_unprivileged_with_limits_and_a_health_probe(env):
    tree = render_environment(_on(hf_token_secret="hf-token"), env)
    deploy = next(o for o in _classifier_objects(tree).values() if o["kind"] == "Deployment")
    pod = deploy["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] >= 10000
    assert pod["automountServiceAccountToken"] is False
    (c,) = pod["containers"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= set(c["resources"]["limits"]) and {"cpu", "memory"} <= set(c["resources"]["requests"])
    assert c["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    # The token reaches TEI as a file, never as an environment value.
    assert all("valueFrom" not in e for e in c["env"])
    # Synced before the gateway that calls it.
    apps = {o["metadata"]["name"]: o for o in objects(tree).values() if o["kind"] == "Application"}
    wave = lambda a: int(a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])  # noqa: E731
    assert wave(apps["injection-classifier"]) < wave(apps["gateway"])


def test_unknown_models_need_their_labels_and_gated_ones_a_token():
    with pytest.raises(ValidationError, match=r"does not know the attack labels of 'acme/guard'.*`labels`"):
        _on(model="acme/guard")
    assert _on(model="acme/guard", labels=["ATTACK"]).stacks.gateway.injection_classifier.attack_labels == ["ATTACK"]
    with pytest.raises(ValidationError, match=r"gated on Hugging Face: set `hf_token_secret`"):
        _on(model="meta-llama/Llama-Prompt-Guard-2-22M")
    assert _on(model="protectai/deberta-v3-base-prompt-injection-v2").stacks.gateway.injection_classifier.enabled
    # Off, nothing is asked for.
    Settings.model_validate({"stacks": {"gateway": {"injection_classifier": {"model": "acme/guard"}}}})


def test_a_policy_file_that_sets_a_classifier_itself_is_refused():
    ctx = make_ctx(_on(hf_token_secret="t"), "dev")
    text = "version: 1\ncontent:\n  injection:\n    classifier: {url: 'http://elsewhere:1'}\n"
    with pytest.raises(UsageError, match="sets content.injection.classifier"):
        with_classifier(ctx, text)
    assert with_classifier(make_ctx(Settings(), "dev"), text) == text  # off: untouched
    merged = yaml.safe_load(with_classifier(ctx, "version: 1\n"))
    assert merged["content"]["injection"]["classifier"]["url"].startswith("http://injection-classifier.")
