"""What the live checks expect, read from the rendered tree and the metric-name map."""

from __future__ import annotations

import dataclasses

from hypothesis import assume, given
from hypothesis import strategies as st

from llmops_cli.config.model import Settings
from llmops_cli.render.metrics import vllm_metrics
from llmops_cli.verify.expected import expected_for, needed_names
from tests.verify.vllm_facts import pinned

NAME = st.from_regex(r"[a-z_][a-z0-9_:]{0,20}", fullmatch=True)


@given(
    metric=NAME,
    label=NAME,
    value=st.text(alphabet="abc$-._ ", max_size=10),
    suffix=st.sampled_from(["", "_bucket", "_sum", "_count"]),
)
def test_a_name_counts_where_a_metric_stands_never_as_a_label_or_string(
    metric: str, label: str, value: str, suffix: str
) -> None:
    assume(metric != label and metric not in {"sum", "by", "rate", "on", "group_left", "vector"})
    expr = f'sum by ({label}) (rate({metric}{suffix}{{{label}="{value}"}}[5m])) / on({label}) group_left vector(1)'
    found = needed_names([expr], {metric})
    assert found == {metric + suffix}
    # A name that appears only as a label, in `by (...)` or in a string is not needed.
    assert needed_names([f'sum by ({metric}) (up{{{metric}="{metric}"}})'], {metric}) == set()


def test_every_vllm_name_the_render_uses_is_one_the_pinned_vllm_exports() -> None:
    """The metric map against the fact table: a renamed or invented entry would fail here and in verify."""
    e = expected_for(Settings.model_validate({"gpu": {"mode": "on"}}), "dev")
    assert e.vllm_metric_names
    exported = set()
    for name, kind in pinned().items():
        exported |= (
            {name + "_total"}
            if kind == "counter"
            else {name + s for s in ("_bucket", "_sum", "_count")}
            if kind == "histogram"
            else {name}
        )
    assert set(e.vllm_metric_names) <= exported
    vm = vllm_metrics()
    assert e.vllm_model_label == vm.model_label == "model_name"
    # Every map entry that names a metric is used by an alert or a dashboard.
    mapped = {getattr(vm, f.name) for f in dataclasses.fields(vm)} - {vm.version, vm.model_label}
    assert {n.removesuffix("_bucket") for n in e.vllm_metric_names} == mapped


def test_disabled_stacks_are_not_expected() -> None:
    s = Settings.model_validate({"stacks": {"vllm": {"enabled": False}, "observability": {"grafana": False}}})
    e = expected_for(s, "dev")
    assert not e.stacks["vllm"] and not e.stacks["grafana"] and e.stacks["prometheus"]
    assert e.vllm_metric_names == () and e.dashboards == () and "vllm" not in e.targets
    assert "llmops-vllm" not in e.rule_groups and "vllm" not in e.applications
