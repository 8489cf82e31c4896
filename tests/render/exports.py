"""Metric names and labels the components of a render export, for the dashboard and alert checks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Labels Prometheus adds when it scrapes a target (not exported by the program itself).
TARGET_LABELS = frozenset({"namespace", "pod", "job", "instance", "service", "container", "endpoint"})


def gateway_exports() -> dict[str, set[str]]:
    """Sample name → label names, from a real gateway metrics registry after one request of each kind."""
    from llmops_cli.gateway.metrics import Metrics

    m = Metrics()
    m.requests.labels("chat", "m", "200").inc()
    m.duration.labels("chat").observe(0.1)
    m.ttft.labels("chat").observe(0.1)
    m.gap.labels("chat").observe(0.1)
    m.tokens.labels("in", "m").inc()
    m.decisions.labels("pii.output.email", "redact").inc()
    m.upstream_errors.labels("upstream_timeout").inc()
    m.stream_errors.labels("/v1/chat/completions", "upstream_protocol").inc()
    m.ratelimit_store_errors.labels("connect").inc()
    return {s.name: set(s.labels) for fam in m.registry.collect() for s in fam.samples}


def governance_exports() -> dict[str, set[str]]:
    """Sample name → label names of the gateway's governance gauges, loaded from a real release record and
    incident index (llmops_cli/gateway/governance.py)."""
    import tempfile
    from pathlib import Path

    from prometheus_client import CollectorRegistry

    from llmops_cli.gateway.governance import GovernanceGauges
    from tests.riskfixtures import incident_index, release_record

    with tempfile.TemporaryDirectory() as d:
        rel = Path(d) / "release.json"
        idx = Path(d) / "index.json"
        rel.write_text(release_record().to_json())
        idx.write_text(incident_index().to_json())
        registry = CollectorRegistry()
        GovernanceGauges(registry, release_file=str(rel), incidents_file=str(idx), interval=0).load()
    return {s.name: set(s.labels) for fam in registry.collect() for s in fam.samples}


def recorded_series(groups: list[dict]) -> dict[str, set[str]]:
    """Series the render's own recording rules produce, with the labels their aggregation keeps."""
    out: dict[str, set[str]] = {}
    for g in groups:
        for r in g["rules"]:
            if "record" in r:
                # the outermost aggregation comes first in the rules we generate (per_release)
                by = re.search(r"sum by \(([^)]*)\)", r["expr"])
                out[r["record"]] = {x.strip() for x in by.group(1).split(",")} if by else set()
    return out


@dataclass
class Exports:
    """What one render's components export: series names (histograms as their base name) and their labels."""

    metrics: dict[str, set[str]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def add(self, source: str, names: frozenset[str] | set[str], labels: frozenset[str] | set[str]) -> None:
        for n in names:
            self.metrics.setdefault(n, set()).update(labels)
            self.sources.setdefault(n, source)

    def resolve(self, series: str) -> str | None:
        """The exported metric a series name belongs to (``x_bucket``/``_sum``/``_count`` → histogram ``x``)."""
        if series in self.metrics:
            return series
        base = re.sub(r"_(bucket|sum|count)$", "", series)
        return base if base in self.metrics else None


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_IDENT = re.compile(r"(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"})


def promql_series(expr: str) -> tuple[set[str], dict[str, set[str]], set[str]]:
    """(series names, label names each selector filters on, grouping labels) of a PromQL expression.

    Enough of PromQL for the expressions we generate: string literals and label matchers are taken out first,
    then every identifier that is not a function call, keyword or grouping label is a series name.
    """
    selectors: dict[str, set[str]] = {}
    for name, body in _SELECTOR.findall(expr):
        selectors.setdefault(name, set()).update(_MATCHER_LABEL.findall(_STRING.sub('""', body)))
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    grouping: set[str] = set()
    for _, labels in _GROUPING.findall(text):
        grouping |= {x.strip() for x in labels.split(",") if x.strip()}
    text = _GROUPING.sub(" ", text)
    names = set()
    for m in _IDENT.finditer(text):
        ident = m.group(1)
        rest = text[m.end() :].lstrip()
        if rest.startswith("(") or ident in _KEYWORDS:
            continue
        names.add(ident)
    return names, selectors, grouping
