"""Property: any user string either renders into the same object structure with the value preserved
exactly, or is rejected by config validation. No value can add keys, objects or documents."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from llmops_cli.config.model import Settings
from llmops_cli.render.api import k3s_config, render_environment
from llmops_cli.render.yamlio import load_all, yaml_value

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
nasty = st.text(
    alphabet=st.sampled_from([*"aZ09-_./:@ \t\n\"'{}[]#&*!|>%`,?\\", "\u2028", "\x85", "é", "😀", "\x00"]),
    max_size=40,
) | st.text(max_size=30)


def _shape(x: Any) -> Any:
    """The structure of an object with every string leaf replaced by a marker."""
    if isinstance(x, dict):
        return {k: _shape(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_shape(v) for v in x]
    return type(x).__name__


def _render(overrides: dict[str, Any]) -> dict[str, str] | None:
    try:
        s = Settings.model_validate(overrides)
    except ValidationError:
        return None
    return render_environment(s, "dev", stacks=["argocd", "vllm", "gateway", "k3s"])


BASE = render_environment(Settings(), "dev", stacks=["argocd", "vllm", "gateway", "k3s"])


def _objs(tree: dict[str, str]) -> dict[str, Any]:
    return {p: yaml.safe_load(t) for p, t in tree.items()}


JSONISH = st.recursive(
    st.one_of(st.text(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none()),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@given(value=JSONISH)
@settings(max_examples=300, deadline=None)
def test_the_y_filter_round_trips_any_value(value):
    doc = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  v: {yaml_value(value)}\n"
    (obj,) = load_all(doc, "test")
    assert obj["data"]["v"] == value
    assert set(obj) == {"apiVersion", "kind", "metadata", "data"}


@given(model=nasty)
@SETTINGS
def test_model_name_is_preserved_or_rejected(model):
    tree = _render({"stacks": {"vllm": {"model": model}}})
    if tree is None:
        return
    objs = _objs(tree)
    deploy = next(o for p, o in objs.items() if p.startswith("vllm/deployment-"))
    args = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--model") + 1] == model
    assert len(objs) == len(BASE)


@given(key=nasty, value=nasty)
@SETTINGS
def test_node_labels_are_preserved_or_rejected(key, value):
    try:
        s = Settings.model_validate({"cluster": {"node_labels": {key: value}}})
    except ValidationError:
        return
    cfg = yaml.safe_load(k3s_config(s, gpu=False))
    assert cfg["node-label+"] == [f"{key}={value}"]  # appended to the labels config.yaml sets (k3s `key+:`)
    assert set(cfg) == {"write-kubeconfig-mode", "node-label+", "disable+"}


@given(host=nasty)
@SETTINGS
def test_hostnames_are_preserved_or_rejected(host):
    try:
        s = Settings.model_validate({"cluster": {"tls_san": [host]}})
    except ValidationError:
        return
    cfg = yaml.safe_load(k3s_config(s, gpu=False))
    assert cfg["tls-san+"] == [host]


@given(suffix=nasty)
@SETTINGS
def test_repo_url_is_preserved_or_rejected(suffix):
    url = "https://git.example.com/" + suffix
    tree = _render({"gitops": {"repo_url": url}})
    if tree is None:
        return
    objs = _objs(tree)
    root = objs["bootstrap/application-llmops-dev.yaml"]
    assert root["spec"]["source"]["repoURL"] == url
    base_root = _objs(BASE)["bootstrap/application-llmops-dev.yaml"]
    assert _shape(root) == _shape(base_root)
    project = objs["bootstrap/appproject-llmops.yaml"]
    assert url in project["spec"]["sourceRepos"]
    # same files except the local git server, which a remote repo does not need
    assert set(objs) == {p for p in BASE if "llmops-git" not in p and "llmops-system" not in p}


@pytest.mark.parametrize(
    "evil",
    [
        'x"\nkind: Secret',
        "x\n---\napiVersion: v1\nkind: Secret",
        "{a: b}",
        "x: y",
        "'",
    ],
)
def test_injection_attempts_in_free_text_stay_one_value(evil):
    # extra_args are validated; the repo URL pattern forbids quotes, braces and whitespace
    for overrides in (
        {"stacks": {"vllm": {"extra_args": [evil]}}},
        {"gitops": {"repo_url": "https://h/" + evil}},
    ):
        tree = _render(overrides)
        if tree is not None:
            assert all("kind: Secret" not in t for t in tree.values())


@given(value=st.text())
@settings(max_examples=300, deadline=None)
def test_the_output_dumper_round_trips_any_string(value):
    from llmops_cli.render.yamlio import dump

    obj = {"kind": "ConfigMap", "data": {"v": value, "multi": value + "\n" + value}}
    assert yaml.safe_load(dump(obj)) == obj
