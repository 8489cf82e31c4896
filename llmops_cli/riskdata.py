"""The run-time governance documents: a release record and the incident index.

``llmops govern release`` writes a release record (what the evidence that admitted a model version says:
risk score and class, fairness deltas, LLM-evaluation failure rates, when the evidence was made, whether its
signature verified); ``llmops govern incident`` keeps incident records and their index. ``llmops render``
ships both into the cluster (ConfigMaps the Policy Gateway mounts) and the gateway exports them as Prometheus
gauges (``gateway.governance``), so alert rules, the risk dashboard and canary analyses read them like any
other metric, without an exporter of their own. This module is the one definition of both formats; govern,
render and the gateway each import it (they cannot import one another).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

RELEASE_FORMAT = 1
INCIDENT_INDEX_FORMAT = 1

# Residual risk levels of the risk scorecard (govern.stages.risk), lowest first; the gauge value is the index + 1.
RISK_LEVELS = ("low", "medium", "high", "critical")
# Alert severities the rendered rules use (render.alerts), most severe first.
SEVERITIES = ("critical", "warning", "info")
# An incident is open until its post-incident review is filed, which closes it.
INCIDENT_STATES = ("open", "closed")
SIGNATURE_STATES = ("verified", "none", "invalid")


class FormatError(ValueError):
    """A release record or incident index that does not match its format; the message names the field."""


def parse_time(value: object, where: str) -> float:
    """Epoch seconds of an RFC 3339 UTC timestamp (``2026-01-02T03:04:05Z``, fractions and offsets allowed)."""
    if not isinstance(value, str) or not value:
        raise FormatError(f"{where}: expected an RFC 3339 timestamp, got {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as e:
        raise FormatError(f"{where}: expected an RFC 3339 timestamp, got {value!r}") from e
    if moment.tzinfo is None:
        raise FormatError(f"{where}: the timestamp {value!r} has no time zone (end it with Z)")
    return moment.timestamp()


def duration_seconds(d: str) -> int:
    """Seconds of a Prometheus-style duration such as 90d, 12h, 30m, 45s (llmops.yaml's Duration fields)."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    for suffix in sorted(units, key=len, reverse=True):
        if d.endswith(suffix) and d[: -len(suffix)].isdigit():
            return int(int(d[: -len(suffix)]) * units[suffix])
    raise ValueError(f"not a duration: {d!r}")


def format_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _str(data: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> str | None:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise FormatError(f"{where}.{key}: expected a non-empty string, got {value!r}")
    return value


def _choice(
    data: Mapping[str, Any], key: str, where: str, choices: tuple[str, ...], *, optional: bool = False
) -> str | None:
    value = _str(data, key, where, optional=optional)
    if value is not None and value not in choices:
        raise FormatError(f"{where}.{key}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FormatError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def _numbers(data: object, where: str) -> dict[str, float]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise FormatError(f"{where}: expected a map of names to numbers")
    return {str(k): _number(v, f"{where}.{k}") for k, v in data.items() if v is not None}


@dataclass(frozen=True)
class Release:
    """One promoted model version and the evidence that admitted it."""

    model: str  # the governance model name (model metadata ``name``)
    version: str
    served_model: str  # the name clients and vLLM use (--served-model-name)
    env: str
    run: str  # the evidence run (content address of its manifest)
    manifest_sha256: str
    evidence_created_at: str
    promoted_at: str
    status: str  # pass | fail, recomputed from the signed rule results
    signature: str  # verified | none | invalid
    signed_by: str | None = None
    rules_passed: int = 0
    rules_failed: int = 0
    risk_score: float | None = None  # the highest residual risk of the register
    risk_level: str | None = None  # the highest residual level with a risk in it
    ai_act_class: str | None = None
    fairness: dict[str, dict[str, float]] = field(default_factory=dict)  # attribute -> metric -> value
    llm_eval_failure_rates: dict[str, float] = field(default_factory=dict)

    @property
    def risk_level_value(self) -> int | None:
        return RISK_LEVELS.index(self.risk_level) + 1 if self.risk_level else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "llmops_release_format": RELEASE_FORMAT,
            "model": self.model,
            "version": self.version,
            "served_model": self.served_model,
            "env": self.env,
            "evidence": {
                "run": self.run,
                "manifest_sha256": self.manifest_sha256,
                "created_at": self.evidence_created_at,
                "status": self.status,
                "signature": self.signature,
                "signed_by": self.signed_by,
                "rules": {"passed": self.rules_passed, "failed": self.rules_failed},
            },
            "promoted_at": self.promoted_at,
            "risk": {"score": self.risk_score, "level": self.risk_level, "ai_act_class": self.ai_act_class},
            "fairness": self.fairness,
            "llm_eval": {"failure_rates": self.llm_eval_failure_rates},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: object, where: str = "release") -> Release:
        if not isinstance(data, Mapping):
            raise FormatError(f"{where}: expected a JSON object")
        if data.get("llmops_release_format") != RELEASE_FORMAT:
            raise FormatError(
                f"{where}.llmops_release_format: expected {RELEASE_FORMAT}, got {data.get('llmops_release_format')!r}"
            )
        ev = data.get("evidence")
        if not isinstance(ev, Mapping):
            raise FormatError(f"{where}.evidence: expected an object")
        risk = data.get("risk") or {}
        if not isinstance(risk, Mapping):
            raise FormatError(f"{where}.risk: expected an object")
        fairness_raw = data.get("fairness") or {}
        if not isinstance(fairness_raw, Mapping):
            raise FormatError(f"{where}.fairness: expected a map of attributes")
        rules = ev.get("rules") or {}
        llm = data.get("llm_eval") or {}
        if not isinstance(llm, Mapping) or not isinstance(rules, Mapping):
            raise FormatError(f"{where}: llm_eval and evidence.rules must be objects")
        for key, w in (("created_at", f"{where}.evidence.created_at"),):
            parse_time(ev.get(key), w)
        parse_time(data.get("promoted_at"), f"{where}.promoted_at")
        score = risk.get("score")
        return cls(
            model=str(_str(data, "model", where)),
            version=str(_str(data, "version", where)),
            served_model=str(_str(data, "served_model", where)),
            env=str(_str(data, "env", where)),
            run=str(_str(ev, "run", f"{where}.evidence")),
            manifest_sha256=str(_str(ev, "manifest_sha256", f"{where}.evidence")),
            evidence_created_at=str(ev["created_at"]),
            promoted_at=str(data["promoted_at"]),
            status=str(_choice(ev, "status", f"{where}.evidence", ("pass", "fail"))),
            signature=str(_choice(ev, "signature", f"{where}.evidence", SIGNATURE_STATES)),
            signed_by=_str(ev, "signed_by", f"{where}.evidence", optional=True),
            rules_passed=int(_number(rules.get("passed", 0), f"{where}.evidence.rules.passed")),
            rules_failed=int(_number(rules.get("failed", 0), f"{where}.evidence.rules.failed")),
            risk_score=None if score is None else _number(score, f"{where}.risk.score"),
            risk_level=_choice(risk, "level", f"{where}.risk", RISK_LEVELS, optional=True),
            ai_act_class=_str(risk, "ai_act_class", f"{where}.risk", optional=True),
            fairness={str(a): _numbers(m, f"{where}.fairness.{a}") for a, m in fairness_raw.items()},
            llm_eval_failure_rates=_numbers(llm.get("failure_rates"), f"{where}.llm_eval.failure_rates"),
        )

    @classmethod
    def from_json(cls, text: str, where: str = "release") -> Release:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise FormatError(f"{where}: not valid JSON ({e})") from e
        return cls.from_dict(data, where)


@dataclass(frozen=True)
class IncidentEntry:
    """What the cluster needs to know of one incident: enough to count open and overdue ones per model."""

    id: str
    model: str
    model_version: str
    severity: str
    state: str
    opened_at: str
    review_due: str

    def to_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "model": self.model,
            "model_version": self.model_version,
            "severity": self.severity,
            "state": self.state,
            "opened_at": self.opened_at,
            "review_due": self.review_due,
        }

    def overdue(self, now: float) -> bool:
        """Its review is not filed and its deadline has passed."""
        return self.state == "open" and now > parse_time(self.review_due, f"incident {self.id}.review_due")


@dataclass(frozen=True)
class IncidentIndex:
    incidents: tuple[IncidentEntry, ...] = ()

    def to_json(self) -> str:
        doc = {
            "llmops_incident_index_format": INCIDENT_INDEX_FORMAT,
            "incidents": [e.to_dict() for e in sorted(self.incidents, key=lambda e: e.id)],
        }
        return json.dumps(doc, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = "incident index") -> IncidentIndex:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise FormatError(f"{where}: not valid JSON ({e})") from e
        if not isinstance(data, Mapping) or data.get("llmops_incident_index_format") != INCIDENT_INDEX_FORMAT:
            raise FormatError(f"{where}: expected llmops_incident_index_format {INCIDENT_INDEX_FORMAT}")
        raw = data.get("incidents")
        if not isinstance(raw, list):
            raise FormatError(f"{where}.incidents: expected a list")
        out = []
        for i, item in enumerate(raw):
            w = f"{where}.incidents[{i}]"
            if not isinstance(item, Mapping):
                raise FormatError(f"{w}: expected an object")
            entry = IncidentEntry(
                id=str(_str(item, "id", w)),
                model=str(_str(item, "model", w)),
                model_version=str(_str(item, "model_version", w)),
                severity=str(_choice(item, "severity", w, SEVERITIES)),
                state=str(_choice(item, "state", w, INCIDENT_STATES)),
                opened_at=str(_str(item, "opened_at", w)),
                review_due=str(_str(item, "review_due", w)),
            )
            parse_time(entry.opened_at, f"{w}.opened_at")
            parse_time(entry.review_due, f"{w}.review_due")
            out.append(entry)
        return cls(tuple(out))
