"""Incident records: opened from an Alertmanager notification, reviewed through a post-mortem, then closed.

Layout of the incidents folder (kept in Git beside the evidence)::

    index.json            what the cluster needs (llmops_cli.riskdata.IncidentIndex): rewritten on every change
    <id>.json             the record
    <id>.md               the post-incident review (`incident report` writes the template; people fill it in)

A record holds the fields incident reports under the Singapore Model AI Governance Framework for Generative AI
(dimension 3, Incident Reporting) and Art. 73 of the EU AI Act (Regulation (EU) 2024/1689, reporting of
serious incidents) ask for: what happened, severity, the AI system and its version, when (a timeline), who and
what was affected, the evidence the version was released on, and the actions taken. It holds counts and
identifiers from the audit log, never prompts or completions.

Alertmanager re-sends a group's notification (every repeat interval, and when the group changes): the record's
id is derived from the group key and the group's first firing time, so a re-sent notification updates the
open record instead of opening another, and the same group firing again after it resolved opens a new one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmops_cli.errors import InputError, UsageError
from llmops_cli.govern.runtime.alerts import Notification
from llmops_cli.riskdata import SEVERITIES, IncidentEntry, IncidentIndex, Release, format_time, parse_time

INCIDENT_FORMAT = 1
INDEX = "index.json"
ID = re.compile(r"^INC-\d{8}-[0-9a-f]{8}$")
MARKER = "<!-- write here -->"
# The sections of the post-incident review that people write; `close` refuses while any is left empty.
REVIEW_SECTIONS = ("Root cause", "Impact", "Corrective and preventive actions", "Lessons learned", "Reporting")
# EU AI Act Art. 73: a serious incident is reported immediately after a causal link is established, and not
# later than 15 days after awareness (73(2)); 2 days for a widespread infringement or a serious and
# irreversible disruption of critical infrastructure (73(3)); 10 days in the event of a death (73(4)).
ART73_DAYS = 15
# The alerts that come from the platform itself rather than from a model's behaviour: their runbook is the
# automatic action already taken.
AUTOMATIC_ACTIONS = {
    "ModelRolloutAborted": "Argo Rollouts aborted the canary: the canary ReplicaSet was scaled down and the stable "
    "release kept serving (automatic rollback to the last compliant release).",
}


@dataclass(frozen=True)
class OpenOptions:
    incidents_dir: Path
    review_within: Mapping[str, float]  # severity -> seconds until the review is due
    now: float
    audit_log: Path | None = None
    lookback: float = 900.0  # seconds of audit log before the first alert fired
    release: Release | None = None
    evidence: Mapping[str, Any] | None = None  # govern.evidence.VerifyReport.to_dict() of the release's bundle
    analysis_run: Mapping[str, Any] | None = None  # the AnalysisRun Argo Rollouts judged the canary with


@dataclass(frozen=True)
class Outcome:
    record: dict[str, Any] | None
    path: Path | None
    created: bool
    note: str


# ----------------------------------------------------------------------------------------- storage
def record_path(incidents_dir: Path, incident_id: str) -> Path:
    if not ID.match(incident_id):
        raise UsageError(f"{incident_id!r} is not an incident id", hint="ids look like INC-20260102-1a2b3c4d")
    return incidents_dir / f"{incident_id}.json"


def load_record(incidents_dir: Path, incident_id: str) -> dict[str, Any]:
    path = record_path(incidents_dir, incident_id)
    if not path.is_file():
        raise InputError(
            f"no incident {incident_id} in {incidents_dir}", hint="`llmops govern incident list` names them"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: not a readable incident record ({e})", hint="restore it from Git") from e
    if not isinstance(data, dict) or data.get("llmops_incident_format") != INCIDENT_FORMAT:
        raise InputError(
            f"{path}: not an incident record (llmops_incident_format {INCIDENT_FORMAT})", hint="restore it from Git"
        )
    return data


def all_records(incidents_dir: Path) -> list[dict[str, Any]]:
    if not incidents_dir.is_dir():
        return []
    return [load_record(incidents_dir, p.stem) for p in sorted(incidents_dir.glob("INC-*.json")) if ID.match(p.stem)]


def _save(incidents_dir: Path, record: dict[str, Any]) -> Path:
    from llmops_cli.fsutil import atomic_write

    path = record_path(incidents_dir, record["id"])
    atomic_write(path, json.dumps(record, indent=1, sort_keys=True) + "\n")
    write_index(incidents_dir)
    return path


def index_of(records: Sequence[Mapping[str, Any]]) -> IncidentIndex:
    return IncidentIndex(
        tuple(
            IncidentEntry(
                id=r["id"],
                model=r["model"]["name"] or "unknown",
                model_version=r["model"]["version"] or "unknown",
                severity=r["severity"],
                state=r["state"],
                opened_at=r["opened_at"],
                review_due=r["review"]["due"],
            )
            for r in records
        )
    )


def write_index(incidents_dir: Path) -> IncidentIndex:
    """Rewrite ``index.json`` from the records (what render ships and the gateway exports)."""
    from llmops_cli.fsutil import atomic_write

    index = index_of(all_records(incidents_dir))
    atomic_write(incidents_dir / INDEX, index.to_json())
    return index


# ----------------------------------------------------------------------------------------- opening
def incident_id(group_key: str, first_fired: str) -> str:
    day = datetime.fromtimestamp(parse_time(first_fired, "startsAt"), tz=UTC).strftime("%Y%m%d")
    digest = hashlib.sha256(f"{group_key}\n{first_fired}".encode()).hexdigest()[:8]
    return f"INC-{day}-{digest}"


def _severity(n: Notification) -> str:
    found = [a.labels.get("severity", "") for a in n.firing or n.alerts]
    for s in SEVERITIES:
        if s in found:
            return s
    return "warning"


def _label(n: Notification, key: str) -> str | None:
    values = {a.labels[key] for a in n.alerts if a.labels.get(key)}
    return next(iter(values)) if len(values) == 1 else None


def _what_happened(n: Notification) -> str:
    parts = []
    for a in n.firing or n.alerts:
        summary = a.annotations.get("summary") or a.name
        desc = a.annotations.get("description")
        parts.append(f"{a.name}: {summary}" + (f". {desc}" if desc else ""))
    return "\n".join(dict.fromkeys(parts))


def _analysis_events(run: Mapping[str, Any]) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """Timeline entries and a summary of an AnalysisRun (argoproj.io/v1alpha1): its phase and the measurements
    that failed."""
    meta = run.get("metadata") or {}
    status = run.get("status") or {}
    name = str(meta.get("name") or "analysisrun")
    events = []
    failed = []
    for result in status.get("metricResults") or []:
        for m in result.get("measurements") or []:
            if m.get("phase") in ("Failed", "Error") and m.get("finishedAt"):
                failed.append(
                    {
                        "metric": result.get("name"),
                        "phase": m.get("phase"),
                        "value": m.get("value"),
                        "at": m["finishedAt"],
                    }
                )
                events.append(
                    {
                        "at": m["finishedAt"],
                        "event": f"AnalysisRun {name}: metric {result.get('name')} measured {m.get('phase')} "
                        f"(value {m.get('value')})",
                    }
                )
    if status.get("completedAt"):
        events.append(
            {
                "at": status["completedAt"],
                "event": f"AnalysisRun {name} completed {status.get('phase')}: {status.get('message', '')}".strip(),
            }
        )
    summary = {
        "name": name,
        "phase": status.get("phase"),
        "message": status.get("message"),
        "failed_measurements": failed,
    }
    return events, summary


def open_incident(n: Notification, opts: OpenOptions) -> Outcome:
    """Open an incident for a firing notification (or update the open one of its group); a resolved
    notification notes the resolution on the group's open incident."""
    from llmops_cli.govern.runtime.auditwindow import read_window

    now_s = format_time(opts.now)
    records = all_records(opts.incidents_dir)
    if not n.firing:
        for r in records:
            if r["state"] == "open" and r["detection"]["group_key"] == n.group_key:
                ends = [a.ends_at for a in n.alerts if a.ends_at]
                at = max(ends, key=lambda t: parse_time(t, "endsAt")) if ends else now_s
                if r.get("resolved_at") != at:
                    r["resolved_at"] = at
                    r["timeline"].append({"at": at, "event": "the alerts resolved (Alertmanager)"})
                    _sort_timeline(r)
                    return Outcome(r, _save(opts.incidents_dir, r), False, "resolution noted")
                return Outcome(r, record_path(opts.incidents_dir, r["id"]), False, "resolution already noted")
        return Outcome(
            None, None, False, "the notification is resolved and no open incident has its group: nothing to do"
        )
    first = min((a.starts_at for a in n.firing), key=lambda t: parse_time(t, "startsAt"))
    iid = incident_id(n.group_key, first)
    path = record_path(opts.incidents_dir, iid)
    existing = load_record(opts.incidents_dir, iid) if path.is_file() else None
    severity = _severity(n)
    rel = opts.release
    model = {
        "name": _label(n, "model") or (rel.model if rel else None),
        "version": _label(n, "model_version") or (rel.version if rel else None),
        "served_model": _label(n, "served_model") or (rel.served_model if rel else None),
    }
    window_start = parse_time(first, "startsAt") - opts.lookback
    ended = [parse_time(a.ends_at, "endsAt") for a in n.alerts if a.ends_at]
    window_end = max([opts.now, *ended])
    affected: dict[str, Any] | None = None
    if opts.audit_log is not None:
        affected = read_window(opts.audit_log, window_start, window_end, model=model["served_model"]).to_dict()
        affected["model_filter"] = model["served_model"]
    timeline = [
        {"at": a.starts_at, "event": f"{a.name} fired ({a.labels.get('severity', 'no severity')})"} for a in n.firing
    ]
    if affected and affected["first_request_at"]:
        timeline.append({"at": affected["first_request_at"], "event": "first request in the audit window"})
    run_summary = None
    if opts.analysis_run is not None:
        events, run_summary = _analysis_events(opts.analysis_run)
        timeline += events
    actions = [{"at": now_s, "action": f"notified through Alertmanager receiver {n.receiver}", "by": "alertmanager"}]
    for a in n.firing:
        if a.name in AUTOMATIC_ACTIONS:
            actions.append({"at": a.starts_at, "action": AUTOMATIC_ACTIONS[a.name], "by": "argo-rollouts"})
    detection = {
        "source": "alertmanager",
        "receiver": n.receiver,
        "group_key": n.group_key,
        "external_url": n.external_url,
        "alerts": [a.to_dict() for a in n.alerts],
        "truncated_alerts": n.truncated,
    }
    if existing is not None:
        if existing["state"] != "open":
            return Outcome(existing, path, False, f"{iid} is already {existing['state']}: nothing changed")
        known = {a["fingerprint"] for a in existing["detection"]["alerts"]}
        added = [a for a in n.alerts if a.fingerprint not in known]
        existing["detection"]["alerts"] += [a.to_dict() for a in added]
        existing["timeline"] += [t for t in timeline if t not in existing["timeline"]]
        if SEVERITIES.index(severity) < SEVERITIES.index(existing["severity"]):
            existing["severity"] = severity
            existing["timeline"].append({"at": now_s, "event": f"severity raised to {severity}"})
        if affected is not None:
            existing["affected"] = affected
        if run_summary is not None:
            existing["rollout_analysis"] = run_summary
        existing["what_happened"] = _what_happened(n) if added else existing["what_happened"]
        _sort_timeline(existing)
        return Outcome(existing, _save(opts.incidents_dir, existing), False, f"updated ({len(added)} new alerts)")
    due = opts.now + opts.review_within.get(severity, opts.review_within.get("warning", 7 * 86400))
    serious = severity == "critical"
    record: dict[str, Any] = {
        "llmops_incident_format": INCIDENT_FORMAT,
        "id": iid,
        "title": f"{n.firing[0].name}: {n.firing[0].annotations.get('summary', n.firing[0].name)}",
        "state": "open",
        "severity": severity,
        "opened_at": now_s,
        "model": model,
        "what_happened": _what_happened(n),
        "detection": detection,
        "affected": affected,
        "timeline": [*timeline, {"at": now_s, "event": "incident opened (llmops govern incident open)"}],
        "evidence": _evidence(rel, opts.evidence),
        "rollout_analysis": run_summary,
        "actions": actions,
        "reporting": {
            "eu_ai_act": {
                "article": "Art. 73",
                "serious_incident_candidate": serious,
                "report_due": format_time(opts.now + ART73_DAYS * 86400) if serious else None,
                "reported_at": None,
            },
            "sg_genai": {"dimension": "incident-reporting"},
        },
        "review": {"due": format_time(due), "reviewed_at": None, "reviewer": None, "postmortem": f"{iid}.md"},
        "closed_at": None,
        "resolution": None,
    }
    _sort_timeline(record)
    return Outcome(record, _save(opts.incidents_dir, record), True, "opened")


def _evidence(rel: Release | None, report: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if rel is None and report is None:
        return None
    out: dict[str, Any] = {}
    if rel is not None:
        out["release"] = {
            "model": rel.model,
            "version": rel.version,
            "env": rel.env,
            "run": rel.run,
            "manifest_sha256": rel.manifest_sha256,
            "created_at": rel.evidence_created_at,
            "promoted_at": rel.promoted_at,
            "status": rel.status,
            "signature": rel.signature,
            "signed_by": rel.signed_by,
            "risk_level": rel.risk_level,
            "risk_score": rel.risk_score,
            "ai_act_class": rel.ai_act_class,
        }
    if report is not None:
        out["verification"] = {
            k: report.get(k)
            for k in ("bundle", "ok", "status", "signature", "signed_by", "problems", "changed", "missing")
        }
    return out


def _sort_timeline(record: dict[str, Any]) -> None:
    record["timeline"].sort(key=lambda t: parse_time(t["at"], "timeline"))


# ----------------------------------------------------------------------------------------- review
def _table(rows: Sequence[tuple[str, Any]]) -> str:
    lines = ["| field | value |", "|---|---|"]
    for k, v in rows:
        text = "" if v is None else str(v)
        lines.append(f"| {k} | {text.replace('|', '/').replace(chr(10), ' ')} |")
    return "\n".join(lines)


def _counts(c: Mapping[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in c.items()) or "none"


def postmortem_markdown(r: Mapping[str, Any]) -> str:
    """The post-incident review template, prefilled with what the record knows."""
    m = r["model"]
    rep = r["reporting"]["eu_ai_act"]
    out = [
        f"# Post-incident review: {r['id']}",
        "",
        f"{r['title']}",
        "",
        _table(
            [
                ("severity", r["severity"]),
                ("model", m.get("name")),
                ("version", m.get("version")),
                ("served model", m.get("served_model")),
                ("opened", r["opened_at"]),
                ("review due", r["review"]["due"]),
                ("EU AI Act Art. 73 serious-incident candidate", "yes" if rep["serious_incident_candidate"] else "no"),
                ("Art. 73 report due", rep["report_due"]),
            ]
        ),
        "",
        "## What happened",
        "",
        r["what_happened"],
        "",
        "## Timeline",
        "",
        *[f"- {t['at']}: {t['event']}" for t in r["timeline"]],
        "",
        "## Affected users and requests",
        "",
    ]
    a = r.get("affected")
    if a:
        out += [
            f"{a['requests']} requests from {a['clients']} clients between {a['window']['from']} and "
            f"{a['window']['to']} (statuses: {_counts(a['statuses'])}; policy actions: {_counts(a['actions'])}).",
            "",
        ]
    else:
        out += ["No audit log was given when the incident was opened.", ""]
    out += ["## Evidence of the release", ""]
    ev = (r.get("evidence") or {}).get("release")
    if ev:
        out += [
            _table(
                [
                    (k, ev.get(k))
                    for k in (
                        "run",
                        "manifest_sha256",
                        "created_at",
                        "promoted_at",
                        "status",
                        "signature",
                        "risk_level",
                        "ai_act_class",
                    )
                ]
            ),
            "",
        ]
    else:
        out += ["No release record was given when the incident was opened.", ""]
    ra = r.get("rollout_analysis")
    if ra:
        out += [
            "## Canary analysis",
            "",
            f"AnalysisRun {ra['name']}: {ra['phase']}. {ra.get('message') or ''}".strip(),
            "",
        ]
        out += [f"- {f['at']}: {f['metric']} {f['phase']} (value {f['value']})" for f in ra["failed_measurements"]]
        out += [""]
    out += ["## Actions taken", "", *[f"- {x['at']} ({x['by']}): {x['action']}" for x in r["actions"]], ""]
    prompts = {
        "Root cause": "What caused it, and how it was established.",
        "Impact": "Who was affected and how (harm to health, safety or fundamental rights, property, critical "
        "infrastructure?).",
        "Corrective and preventive actions": "What was changed in the model, data, policies or platform, with "
        "owners and dates.",
        "Lessons learned": "What the team will do differently.",
        "Reporting": "Whether this is a serious incident under EU AI Act Art. 73 and whether and when it was "
        "reported to the market surveillance authority; other notifications (data protection authority, users).",
    }
    for section in REVIEW_SECTIONS:
        out += [f"## {section}", "", f"<!-- {prompts[section]} -->", MARKER, ""]
    return "\n".join(out).rstrip() + "\n"


def write_postmortem(incidents_dir: Path, incident_id: str, *, force: bool = False) -> tuple[Path, bool]:
    """Write the review template beside the record unless one is there (its text is people's work)."""
    from llmops_cli.fsutil import atomic_write

    record = load_record(incidents_dir, incident_id)
    path = incidents_dir / record["review"]["postmortem"]
    if path.exists() and not force:
        return path, False
    atomic_write(path, postmortem_markdown(record))
    return path, True


def unfilled_sections(text: str) -> list[str]:
    """Review sections that are missing or still hold only the template's marker."""
    missing = []
    for section in REVIEW_SECTIONS:
        m = re.search(rf"^## {re.escape(section)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
        if m is None:
            missing.append(section)
            continue
        body = re.sub(r"<!--.*?-->", "", m.group(1), flags=re.S).strip()
        if not body:
            missing.append(section)
    return missing


def close_incident(
    incidents_dir: Path,
    incident_id: str,
    *,
    reviewer: str,
    resolution: str,
    now: float,
    actions: Sequence[str] = (),
    reported_at: str | None = None,
) -> tuple[dict[str, Any], Path]:
    """File the review and close the incident; refuses while the post-mortem has unfilled sections."""
    record = load_record(incidents_dir, incident_id)
    if record["state"] == "closed":
        raise UsageError(f"{incident_id} is already closed (at {record['closed_at']})", hint="nothing to do")
    pm = incidents_dir / record["review"]["postmortem"]
    if not pm.is_file():
        raise UsageError(
            f"{incident_id} has no post-incident review yet",
            hint=f"run `llmops govern incident report {incident_id}`, fill in {pm.name}, then close it",
        )
    missing = unfilled_sections(pm.read_text(encoding="utf-8"))
    if missing:
        raise UsageError(
            f"{pm}: still to be written: {', '.join(missing)}", hint="fill in each section, then close it again"
        )
    if not reviewer.strip() or not resolution.strip():
        raise UsageError(
            "--reviewer and --resolution must not be empty", hint="name who reviewed it and how it was resolved"
        )
    if reported_at is not None:
        parse_time(reported_at, "--reported-at")
        record["reporting"]["eu_ai_act"]["reported_at"] = reported_at
    now_s = format_time(now)
    record["actions"] += [{"at": now_s, "action": a, "by": reviewer} for a in actions]
    record["review"].update(
        {"reviewed_at": now_s, "reviewer": reviewer, "postmortem_sha256": hashlib.sha256(pm.read_bytes()).hexdigest()}
    )
    record.update({"state": "closed", "closed_at": now_s, "resolution": resolution})
    record["timeline"].append({"at": now_s, "event": f"review filed and incident closed by {reviewer}"})
    _sort_timeline(record)
    return record, _save(incidents_dir, record)


def overdue(records: Sequence[Mapping[str, Any]], now: float) -> list[Mapping[str, Any]]:
    return [r for r in records if r["state"] == "open" and now > parse_time(r["review"]["due"], "review.due")]
