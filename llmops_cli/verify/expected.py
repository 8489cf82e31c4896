"""What a healthy platform must show, read from the tree `llmops render` makes for the environment.

The live checks compare the running platform with this: the Argo CD Applications, the alert groups and their
alerts, the dashboards and their queries, the Prometheus targets (one per ServiceMonitor; prometheus-operator
labels a target's ``job`` with the Service name and ``namespace`` with its namespace:
prometheus-operator/prometheus-operator ``pkg/prometheus/promcfg.go`` at v0.93.0, the minor that
kube-prometheus-stack 88.5.3 pins as v0.93.1), and the vLLM metric names those alerts
and dashboards use, taken from the metric-name map through its public function (``render.metrics.vllm_metrics``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

from llmops_cli.config.model import Settings
from llmops_cli.render import names


@dataclass(frozen=True)
class Panel:
    title: str
    exprs: tuple[str, ...]


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    panels: tuple[Panel, ...]
    # Template variables with a fixed value (constants, and the datasource variable's type).
    variables: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Expected:
    env: str
    served_model: str
    stacks: dict[str, bool]  # component -> enabled
    applications: tuple[str, ...] = ()
    rule_groups: dict[str, tuple[str, ...]] = field(default_factory=dict)  # group -> alert names
    dashboards: tuple[Dashboard, ...] = ()
    vllm_metric_names: tuple[str, ...] = ()  # exposition names the alerts and dashboards need
    vllm_model_label: str = "model_name"
    targets: dict[str, str] = field(default_factory=dict)  # component -> Prometheus job (the Service name)

    @property
    def alert_names(self) -> set[str]:
        return {a for alerts in self.rule_groups.values() for a in alerts}


# ----------------------------------------------------------------------------------------- PromQL names
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")  # label matchers: names inside are labels, not metrics
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def metric_names(expr: str) -> set[str]:
    """Identifiers of ``expr`` that stand where a metric name stands (functions and keywords included; callers
    intersect with the names they know)."""
    text = _STRING.sub(" ", expr)
    text = _MATCHERS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _RANGE.sub(" ", text)
    return set(_IDENT.findall(text))


def needed_names(exprs: list[str], known: set[str]) -> set[str]:
    """Exposition names of ``known`` metrics that ``exprs`` use (a histogram as ``name_bucket``, ...)."""
    out: set[str] = set()
    for e in exprs:
        for ident in metric_names(e):
            base = next((ident[: -len(s)] for s in HISTOGRAM_SUFFIXES if ident.endswith(s)), ident)
            if ident in known or base in known:
                out.add(ident)
    return out


# ----------------------------------------------------------------------------------------- the tree
def _dashboard(doc: dict[str, Any]) -> Dashboard:
    panels: list[Panel] = []

    def walk(items: list[dict[str, Any]]) -> None:
        for p in items:
            exprs = tuple(str(t["expr"]) for t in p.get("targets") or [] if t.get("expr"))
            if exprs:
                panels.append(Panel(str(p.get("title", "")), exprs))
            walk(p.get("panels") or [])  # rows hold panels

    walk(doc.get("panels") or [])
    variables = []
    for v in (doc.get("templating") or {}).get("list") or []:
        if v.get("type") in ("constant", "datasource") and v.get("name"):
            variables.append((str(v["name"]), str(v.get("query", ""))))
    return Dashboard(str(doc.get("uid", "")), str(doc.get("title", "")), tuple(panels), tuple(variables))


def expected_for(settings: Settings, env: str) -> Expected:
    """Render ``env`` in memory and read what the live checks need from it."""
    import yaml

    from llmops_cli.render.api import render_environment
    from llmops_cli.render.metrics import vllm_metrics

    stacks = settings.stacks
    obs = stacks.observability
    tree = render_environment(settings, env)
    applications: list[str] = []
    groups: dict[str, tuple[str, ...]] = {}
    dashboards: list[Dashboard] = []
    rule_exprs: list[str] = []  # alerts count even where dashboards are not rendered (observability.grafana off)
    for text in tree.values():
        for doc in yaml.safe_load_all(text):
            if not isinstance(doc, dict):
                continue
            kind = doc.get("kind")
            if kind == "Application":
                applications.append(str(doc["metadata"]["name"]))
            elif kind == "PrometheusRule":
                for g in (doc.get("spec") or {}).get("groups") or []:
                    rules = g.get("rules") or []
                    groups[str(g["name"])] = tuple(str(r["alert"]) for r in rules if r.get("alert"))
                    rule_exprs += [str(r["expr"]) for r in rules if r.get("expr")]
            elif kind == "ConfigMap" and "grafana_dashboard" in ((doc.get("metadata") or {}).get("labels") or {}):
                for body in (doc.get("data") or {}).values():
                    dashboards.append(_dashboard(json.loads(body)))
    exprs = rule_exprs + [e for d in dashboards for p in d.panels for e in p.exprs]
    vm = vllm_metrics()
    known = {v for f in dataclasses.fields(vm) if isinstance(v := getattr(vm, f.name), str) and v != vm.model_label}
    targets: dict[str, str] = {}
    if stacks.vllm.enabled:
        targets["vllm"] = names.vllm_service_name(stacks.vllm.name)
    if stacks.gateway.enabled:
        targets["gateway"] = names.GATEWAY_NAME
    if stacks.pgvector.enabled:
        targets["pgvector"] = names.PGVECTOR_NAME
    return Expected(
        env=env,
        served_model=stacks.vllm.name,
        stacks={
            "gateway": stacks.gateway.enabled,
            "vllm": stacks.vllm.enabled,
            "pgvector": stacks.pgvector.enabled,
            "prometheus": obs.enabled,
            "grafana": obs.enabled and obs.grafana,
            "loki": obs.enabled and obs.loki,
            "argocd": True,
        },
        applications=tuple(sorted(set(applications))),
        rule_groups=dict(sorted(groups.items())),
        dashboards=tuple(sorted(dashboards, key=lambda d: d.uid)),
        vllm_metric_names=tuple(sorted(needed_names(exprs, known))) if stacks.vllm.enabled else (),
        vllm_model_label=vm.model_label,
        targets=targets,
    )
