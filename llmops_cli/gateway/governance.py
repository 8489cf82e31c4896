"""Governance gauges: the release record this gateway serves under, and the incident index, as metrics.

The gateway fronts one model release. ``--release FILE`` (``PAC_RELEASE_FILE``) names the release record
``llmops govern release`` wrote (the evidence that admitted the model version: risk score and class, fairness
deltas, LLM-evaluation failure rates, evidence time and signature); ``--incidents FILE``
(``PAC_INCIDENTS_FILE``) the incident index ``llmops govern incident`` keeps. Both are exported on the
gateway's own /metrics, so Prometheus gets them without an exporter of their own, and every gateway series
joins to a model and version through ``llmops_model_release_info`` on the pod that served it.

The release is read once at start (in the cluster a new release changes the pod template, so new pods read
it); the incident index is re-read when it changes (a mounted ConfigMap is updated in place) and the overdue
counts follow the clock, every ``interval`` seconds, from a daemon thread. Label sets are never removed, only
set to zero, so the gauges work alike with one worker and with several (prometheus_client's multi-process
mode cannot remove label sets); each gauge reports the value its most recent writer set.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from prometheus_client import Counter, Gauge

from llmops_cli.errors import ConfigError
from llmops_cli.riskdata import INCIDENT_STATES, SEVERITIES, FormatError, IncidentIndex, Release, parse_time

log = logging.getLogger("llmops.gateway.governance")

_MOST_RECENT: Final = "mostrecent"
_MODEL = ["model", "model_version"]


def read_release(path: str) -> Release:
    """The release record at ``path``; ConfigError naming the file and field when it is not one."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        return Release.from_json(text, where=path)
    except OSError as e:
        raise ConfigError(
            f"cannot read the release record {path}: {e.strerror or e}",
            hint="write it with `llmops govern release`, or unset --release / PAC_RELEASE_FILE",
        ) from e
    except FormatError as e:
        raise ConfigError(str(e), hint="write it again with `llmops govern release`") from e


def read_incidents(path: str) -> IncidentIndex:
    try:
        text = Path(path).read_text(encoding="utf-8")
        return IncidentIndex.from_json(text, where=path)
    except OSError as e:
        raise ConfigError(
            f"cannot read the incident index {path}: {e.strerror or e}",
            hint="`llmops govern incident open` keeps it in the incidents folder; "
            "or unset --incidents / PAC_INCIDENTS_FILE",
        ) from e
    except FormatError as e:
        raise ConfigError(str(e), hint="restore it from Git; `llmops govern incident list` rewrites it") from e


@dataclass
class _Seen:
    mtime_ns: int = -1
    size: int = -1


class GovernanceGauges:
    def __init__(
        self,
        registry: Any,
        *,
        release_file: str | None = None,
        incidents_file: str | None = None,
        interval: float = 15.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.release_file = release_file
        self.incidents_file = incidents_file
        self.interval = interval
        self.clock = clock
        self._seen = _Seen()
        self._index = IncidentIndex()
        self._models: set[tuple[str, str]] = set()  # (model, severity) label sets ever set
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        p = "llmops_model_"
        r = registry

        def gauge(name: str, doc: str, labels: list[str]) -> Gauge:
            return Gauge(name, doc, labels, registry=r, multiprocess_mode=_MOST_RECENT)

        self.info = gauge(
            p + "release_info",
            "The model release this gateway serves (1), from its release record.",
            [*_MODEL, "served_model", "env", "run", "risk_level", "ai_act_class", "status", "signature"],
        )
        self.risk_score = gauge(p + "risk_score", "Highest residual risk of the model's risk register.", _MODEL)
        self.risk_level = gauge(
            p + "risk_level", "Highest residual risk level: 1 low, 2 medium, 3 high, 4 critical.", _MODEL
        )
        self.fairness = gauge(
            p + "fairness_delta",
            "Fairness metric of the evidence, per sensitive attribute.",
            [*_MODEL, "attribute", "metric"],
        )
        self.llm_eval = gauge(
            p + "llm_eval_failure_ratio",
            "LLM-evaluation failure rate of the evidence, per measure.",
            [*_MODEL, "measure"],
        )
        self.created = gauge(p + "evidence_created_timestamp_seconds", "When the evidence was made.", _MODEL)
        self.promoted = gauge(p + "promoted_timestamp_seconds", "When the release was promoted.", _MODEL)
        self.verified = gauge(p + "evidence_signature_verified", "1 when the evidence's signature verified.", _MODEL)
        self.passed = gauge(p + "evidence_passed", "1 when the evidence's policy rules passed.", _MODEL)
        # `incident_severity`, not `severity`: an alert rule's own severity label would replace it.
        self.incidents = gauge(
            "llmops_incidents", "Incidents by model, severity and state.", ["model", "incident_severity", "state"]
        )
        self.overdue = gauge(
            "llmops_incidents_review_overdue",
            "Open incidents whose post-incident review is past its deadline.",
            ["model", "incident_severity"],
        )
        self.errors = Counter(
            "llmops_governance_reload_errors_total",
            "Incident index re-reads that failed (the previous index stays).",
            registry=r,
        )

    # ------------------------------------------------------------------ loading
    def load(self) -> None:
        """Read both files once (ConfigError when either is missing or invalid) and set every gauge."""
        if self.release_file:
            self._set_release(read_release(self.release_file))
        if self.incidents_file:
            self._index = read_incidents(self.incidents_file)
            self._seen = _stat(self.incidents_file)
        self._set_incidents()

    def _set_release(self, rel: Release) -> None:
        m = (rel.model, rel.version)
        self.info.labels(
            *m,
            rel.served_model,
            rel.env,
            rel.run,
            rel.risk_level or "",
            rel.ai_act_class or "",
            rel.status,
            rel.signature,
        ).set(1)
        if rel.risk_score is not None:
            self.risk_score.labels(*m).set(rel.risk_score)
        if rel.risk_level_value is not None:
            self.risk_level.labels(*m).set(rel.risk_level_value)
        for attribute, metrics in sorted(rel.fairness.items()):
            for metric, value in sorted(metrics.items()):
                self.fairness.labels(*m, attribute, metric).set(value)
        for measure, value in sorted(rel.llm_eval_failure_rates.items()):
            self.llm_eval.labels(*m, measure).set(value)
        self.created.labels(*m).set(parse_time(rel.evidence_created_at, "evidence.created_at"))
        self.promoted.labels(*m).set(parse_time(rel.promoted_at, "promoted_at"))
        self.verified.labels(*m).set(1 if rel.signature == "verified" else 0)
        self.passed.labels(*m).set(1 if rel.status == "pass" else 0)

    def _set_incidents(self) -> None:
        now = self.clock()
        counts: dict[tuple[str, str, str], int] = {}
        overdue: dict[tuple[str, str], int] = {}
        for e in self._index.incidents:
            counts[(e.model, e.severity, e.state)] = counts.get((e.model, e.severity, e.state), 0) + 1
            if e.overdue(now):
                overdue[(e.model, e.severity)] = overdue.get((e.model, e.severity), 0) + 1
            self._models.add((e.model, e.severity))
        # Every label set ever seen keeps a value (0 when nothing is left in it), and the overall series exist
        # from the start, so "zero unreviewed incidents" reads 0, never "no data".
        for model, severity in sorted(self._models | {("", s) for s in SEVERITIES}):
            for state in INCIDENT_STATES:
                self.incidents.labels(model, severity, state).set(counts.get((model, severity, state), 0))
            self.overdue.labels(model, severity).set(overdue.get((model, severity), 0))

    def refresh(self) -> None:
        """Re-read the incident index when it changed, and recount the overdue ones by the clock."""
        if self.incidents_file:
            seen = _stat(self.incidents_file)
            if seen != self._seen:
                try:
                    self._index = read_incidents(self.incidents_file)
                    self._seen = seen
                except ConfigError as e:
                    self.errors.inc()
                    log.warning("incident index not reloaded, keeping the previous one: %s", e.message)
        self._set_incidents()

    # ------------------------------------------------------------------ background refresh
    def start(self) -> None:
        if self._thread is not None or self.interval <= 0:
            return
        self._thread = threading.Thread(target=self._run, name="llmops-governance-gauges", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
            except Exception:  # the thread must outlive any one bad read
                log.exception("governance gauges refresh failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def _stat(path: str) -> _Seen:
    try:
        st = os.stat(path)
    except OSError:
        return _Seen()
    return _Seen(st.st_mtime_ns, st.st_size)


def attach(
    registry: Any, release_file: str | None, incidents_file: str | None, *, interval: float = 15.0
) -> GovernanceGauges | None:
    """Gauges for the configured files on ``registry``, loaded and refreshing; None when neither is set."""
    if not release_file and not incidents_file:
        return None
    gauges = GovernanceGauges(registry, release_file=release_file, incidents_file=incidents_file, interval=interval)
    gauges.load()
    gauges.start()
    return gauges
