"""Opt-in: every pinned chart rendered by a real Helm engine (the helm-python-sdk wheel, Helm v4 SDK) with the
values the tree gives it: the chart's schema accepts them, its templates render, and no key we set is ignored.

Charts cannot be downloaded in CI and their sources are upstream code, so they are not in this repository:
export them with `python -m tests.render.upstream.chart_sources CLONES OUT`, `pip install helm-python-sdk`,
and set LLMOPS_CHART_SOURCES=OUT. Without both this module skips; the fact tables
(test_upstream_contract.py) hold the same values paths in CI.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest

from .upstream.rendered import VARIANT_IDS, chart_sources, leaf_paths, variants

SOURCES = os.environ.get("LLMOPS_CHART_SOURCES")
helm = pytest.importorskip("helm_python", reason="pip install helm-python-sdk (opt-in Helm rendering)")
pytestmark = pytest.mark.skipif(not SOURCES, reason="set LLMOPS_CHART_SOURCES to exported chart sources")


def _without(values: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    out = copy.deepcopy(values)
    cur = out
    for key in path[:-1]:
        cur = cur[key]
    del cur[path[-1]]
    return out


def _default(defaults: dict[str, Any], path: tuple[str, ...]) -> Any:
    cur: Any = defaults
    for key in path:
        if not isinstance(cur, dict) or key not in cur:
            return None
        cur = cur[key]
    return cur


@pytest.mark.parametrize(("variant", "tree"), variants(), ids=VARIANT_IDS)
def test_pinned_charts_render_our_values_and_read_every_key(variant, tree):
    for path, chart_name, version, values in chart_sources(tree):
        source = Path(SOURCES or "") / chart_name
        if not source.is_dir():
            pytest.fail(
                f"{chart_name} {version} is not in {SOURCES}: chart_sources could not export it (see its stderr)"
            )
        chart = helm.Chart.load(source)
        assert chart.version == version, f"{chart_name}: exported {chart.version}, pinned {version}"
        chart.validate_schema(values)
        # A release name other than the chart's, so that a name override shows in the output.
        kwargs = {"name": f"{chart_name}-r", "namespace": "ns", "is_install": True}
        # Subchart conditions (Chart.yaml) are read by Helm itself, CRDs included, which render() leaves out.
        conditions = {
            tuple(c.strip().split("."))
            for dep in chart.metadata.get("dependencies") or []
            for c in str(dep.get("condition") or "").split(",")
            if c.strip()
        }
        base = chart.render(values, **kwargs)
        assert base, f"{variant} {path}: {chart_name} rendered nothing"
        for leaf in leaf_paths(values):
            if leaf in conditions:
                continue
            try:
                other = chart.render(_without(values, leaf), **kwargs)
            except helm.HelmError:
                continue  # the chart needs the key: it reads it
            ours = _default(values, leaf)
            if other == base and _default(chart.values, leaf) != ours:
                pytest.fail(f"{variant} {path}: {chart_name} {version} ignores {'.'.join(leaf)} = {ours!r}")
