"""Check results, the endpoints a live run talks to, and the runner that times each check.

A check is a function returning an :class:`Outcome`; the runner measures it, turns an ``LlmopsError`` into a
failure with the error's hint, and hands each result to a callback as soon as it is known (the CLI prints it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from llmops_cli.errors import LlmopsError
from llmops_cli.reporting import CheckResult

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"

# The live components, in the order they run (Argo CD last: it only reads the cluster).
COMPONENTS = ("gateway", "vllm", "pgvector", "prometheus", "grafana", "loki", "argocd")


@dataclass(frozen=True)
class Outcome:
    status: str
    detail: str
    hint: str | None = None


def ok(detail: str) -> Outcome:
    return Outcome(OK, detail)


def fail(detail: str, hint: str | None = None) -> Outcome:
    return Outcome(FAIL, detail, hint)


def warn(detail: str, hint: str | None = None) -> Outcome:
    return Outcome(WARN, detail, hint)


def skipped(detail: str, hint: str | None = None) -> Outcome:
    return Outcome(SKIP, detail, hint)


@dataclass(frozen=True)
class Endpoints:
    """Where the live checks reach each part; None = not given (cluster mode fills them with port-forwards)."""

    gateway_url: str | None = None
    gateway_metrics_url: str | None = None  # default: <gateway_url>/metrics
    api_key: str | None = None
    vllm_url: str | None = None
    pg_dsn: str | None = None
    prometheus_url: str | None = None
    grafana_url: str | None = None
    loki_url: str | None = None

    def explicit_components(self) -> list[str]:
        """The components an endpoint was given for (the API key and metrics URL select nothing by themselves)."""
        given = {
            "gateway": self.gateway_url,
            "vllm": self.vllm_url,
            "pgvector": self.pg_dsn,
            "prometheus": self.prometheus_url,
            "grafana": self.grafana_url,
            "loki": self.loki_url,
        }
        return [c for c in COMPONENTS if given.get(c)]

    def with_(self, **kw: Any) -> Endpoints:
        return replace(self, **kw)


@dataclass(frozen=True)
class VerifyOptions:
    envs: tuple[str, ...] = ()  # offline: these trees (all when empty); live: the first (else detected, else dev)
    offline: bool = False
    live_only: bool = False
    endpoints: Endpoints = field(default_factory=Endpoints)
    timeout: float = 10.0  # seconds per request; completions get three times this
    context: str | None = None  # kubeconfig context of the cluster (default: llmops-<cluster>)


@dataclass
class Runner:
    on_result: Callable[[CheckResult], None] | None = None
    results: list[CheckResult] = field(default_factory=list)
    # More words for a component's failures, known only after its requests (what a port-forward reported).
    extra_hint: Callable[[str], str | None] | None = None

    def run(self, component: str, name: str, check: Callable[[], Outcome]) -> CheckResult:
        t0 = time.perf_counter()
        try:
            out = check()
        except LlmopsError as e:
            out = fail(e.message, e.hint)
        hint = out.hint
        extra = self.extra_hint(component) if out.status == FAIL and self.extra_hint is not None else None
        if extra and extra not in (hint or ""):
            hint = f"{hint}; {extra}" if hint else extra
        return self.add(CheckResult(name, out.status, out.detail, hint or "", component, time.perf_counter() - t0))

    def skip(self, component: str, name: str, detail: str, hint: str | None = None) -> CheckResult:
        return self.add(CheckResult(name, SKIP, detail, hint or "", component, 0.0))

    def add(self, result: CheckResult) -> CheckResult:
        self.results.append(result)
        if self.on_result is not None:
            self.on_result(result)
        return result

    def passed(self, name: str) -> bool:
        return any(r.name == name and r.status in (OK, WARN) for r in self.results)


def failed(results: list[CheckResult]) -> bool:
    return any(r.status == FAIL for r in results)


def summary(results: list[CheckResult]) -> dict[str, Any]:
    counts = {s: sum(r.status == s for r in results) for s in (OK, WARN, FAIL, SKIP)}
    return {
        "passed": counts[OK],
        "warnings": counts[WARN],
        "failed": counts[FAIL],
        "skipped": counts[SKIP],
        "seconds": round(sum(r.seconds for r in results), 3),
    }
