"""Property test: no YAML input produces a traceback; every outcome is exit 0 or a one-line exit 2."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import run_cli

KEYS = [
    "cluster",
    "gpu",
    "gitops",
    "environments",
    "stacks",
    "governance",
    "version",
    "name",
    "mode",
    "share",
    "vllm",
    "model",
    "hosts",
    "port",
    "address",
    "tls_san",
    "enabled",
    "x",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 100_000),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["on", "off", "auto", "1Gi", "v1.2.3+k3s1", "dev"]),
)
trees = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), children, max_size=4),
    ),
    max_leaves=12,
)


def _check(tmp: Path, text: str) -> None:
    p = tmp / "llmops.yaml"
    p.write_text(text, encoding="utf-8")
    r = run_cli("-c", str(p), "config", "validate")
    assert r.exit_code in (0, 2), r.output
    assert "Traceback" not in r.output
    if r.exit_code == 2:
        assert r.stderr.startswith("error: "), r.stderr


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=trees)
def test_structured_yaml_never_crashes(tmp_path: Path, tree: object) -> None:
    _check(tmp_path, yaml.safe_dump({"cluster": tree} if not isinstance(tree, dict) else tree))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.sampled_from(list("abc:-[]{}'\"\n #&*!|>%@`,?0123456789\t")), max_size=80))
def test_arbitrary_text_never_crashes(tmp_path: Path, text: str) -> None:
    _check(tmp_path, text)
