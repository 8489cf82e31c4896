"""What the gateway's audit log says about a time window: requests, refusals, redactions, clients.

Reads the JSON-lines audit log `llmops gateway serve` writes (one record per request: ``time``, ``request_id``,
``key_id``, ``model``, ``status``, ``decisions``, ...). Only counts and identifiers leave this module: never a
prompt, completion or hash, so an incident record holds no personal data from the traffic it describes.
Unparseable lines are counted, not fatal (a log cut mid-line by a crash still tells most of the story).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops_cli.errors import InputError
from llmops_cli.riskdata import FormatError, format_time, parse_time

MAX_IDS = 100


@dataclass
class AuditWindow:
    start: float
    end: float
    requests: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)  # "rule action"
    actions: Counter[str] = field(default_factory=Counter)
    clients: set[str] = field(default_factory=set)
    first: str | None = None
    last: str | None = None
    request_ids: list[str] = field(default_factory=list)  # of requests with a policy decision, first MAX_IDS
    unreadable: int = 0
    _first_t: float = float("inf")
    _last_t: float = float("-inf")

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": {"from": format_time(self.start), "to": format_time(self.end)},
            "requests": self.requests,
            "statuses": dict(sorted(self.statuses.items())),
            "decisions": dict(sorted(self.decisions.items())),
            "actions": dict(sorted(self.actions.items())),
            "clients": len(self.clients),
            "client_ids": sorted(self.clients)[:MAX_IDS],
            "first_request_at": self.first,
            "last_request_at": self.last,
            "flagged_request_ids": self.request_ids,
            "unreadable_lines": self.unreadable,
        }


def read_window(path: Path, start: float, end: float, *, model: str | None = None) -> AuditWindow:
    """Summarise the records of ``path`` with ``start <= time <= end`` (and ``model``, when given)."""
    win = AuditWindow(start, end)
    try:
        fh = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed below
    except OSError as e:
        raise InputError(
            f"cannot read the audit log {path}: {e.strerror or e}", hint="pass the gateway's --audit-log file"
        ) from e
    with fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                at = parse_time(rec.get("time"), "time")
            except (json.JSONDecodeError, FormatError, AttributeError):
                win.unreadable += 1
                continue
            if not isinstance(rec, dict) or not start <= at <= end:
                continue
            if model and rec.get("model") != model:
                continue
            win.requests += 1
            win.statuses[str(rec.get("status"))] += 1
            decisions = rec.get("decisions") or []
            for d in decisions if isinstance(decisions, list) else []:
                if isinstance(d, dict):
                    n = d.get("count", 1)  # the gateway writes each (rule, action) once, with a count
                    n = n if type(n) is int and n > 0 else 1
                    win.decisions[f"{d.get('rule')} {d.get('action')}"] += n
                    win.actions[str(d.get("action"))] += n
            if decisions and len(win.request_ids) < MAX_IDS and isinstance(rec.get("request_id"), str):
                win.request_ids.append(rec["request_id"])
            if isinstance(rec.get("key_id"), str):
                win.clients.add(rec["key_id"])
            stamp = str(rec.get("time"))
            if at < win._first_t:
                win._first_t, win.first = at, stamp
            if at >= win._last_t:
                win._last_t, win.last = at, stamp
    return win
