"""Alertmanager's webhook payload, read strictly.

The shape is Alertmanager's ``notify/webhook.Message`` (version "4"): ``template.Data`` (receiver, status,
alerts, groupLabels, commonLabels, commonAnnotations, externalURL) plus version, groupKey and truncatedAlerts;
each alert has status, labels, annotations, startsAt, endsAt, generatorURL and fingerprint
(prometheus/alertmanager v0.34.0 notify/webhook/webhook.go, template/template.go; the same in v0.25.0). An
alert still firing has the zero time ``0001-01-01T00:00:00Z`` as endsAt.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops_cli.errors import InputError
from llmops_cli.riskdata import FormatError, parse_time

PAYLOAD_VERSION = "4"
ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True)
class Alert:
    status: str  # firing | resolved
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: str
    ends_at: str | None  # None while firing
    generator_url: str
    fingerprint: str

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "labels": self.labels,
            "annotations": self.annotations,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "generator_url": self.generator_url,
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True)
class Notification:
    receiver: str
    status: str
    group_key: str
    external_url: str
    alerts: tuple[Alert, ...]
    group_labels: dict[str, str] = field(default_factory=dict)
    common_labels: dict[str, str] = field(default_factory=dict)
    common_annotations: dict[str, str] = field(default_factory=dict)
    truncated: int = 0

    @property
    def firing(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.status == "firing")


def _kv(data: object, where: str) -> dict[str, str]:
    if data is None:
        return {}
    if not isinstance(data, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise FormatError(f"{where}: expected a map of strings")
    return dict(data)


def _text(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise FormatError(f"{where}.{key}: expected a string, got {value!r}")
    return value


def parse_notification(data: object, where: str = "payload") -> Notification:
    if not isinstance(data, Mapping):
        raise FormatError(f"{where}: expected a JSON object (Alertmanager's webhook payload)")
    if data.get("version") != PAYLOAD_VERSION:
        raise FormatError(
            f"{where}.version: expected {PAYLOAD_VERSION!r} (Alertmanager webhook), got {data.get('version')!r}"
        )
    raw = data.get("alerts")
    if not isinstance(raw, list) or not raw:
        raise FormatError(f"{where}.alerts: expected a non-empty list")
    alerts = []
    for i, a in enumerate(raw):
        w = f"{where}.alerts[{i}]"
        if not isinstance(a, Mapping):
            raise FormatError(f"{w}: expected an object")
        status = _text(a, "status", w)
        if status not in ("firing", "resolved"):
            raise FormatError(f"{w}.status: expected firing or resolved, got {status!r}")
        starts = _text(a, "startsAt", w)
        parse_time(starts, f"{w}.startsAt")
        ends_raw = a.get("endsAt")
        ends = None
        if isinstance(ends_raw, str) and ends_raw and not ends_raw.startswith("0001-01-01"):
            parse_time(ends_raw, f"{w}.endsAt")
            ends = ends_raw
        alerts.append(
            Alert(
                status=status,
                labels=_kv(a.get("labels"), f"{w}.labels"),
                annotations=_kv(a.get("annotations"), f"{w}.annotations"),
                starts_at=starts,
                ends_at=ends,
                generator_url=str(a.get("generatorURL") or ""),
                fingerprint=_text(a, "fingerprint", w),
            )
        )
    truncated = data.get("truncatedAlerts") or 0
    return Notification(
        receiver=_text(data, "receiver", where),
        status=_text(data, "status", where),
        group_key=_text(data, "groupKey", where),
        external_url=str(data.get("externalURL") or ""),
        alerts=tuple(alerts),
        group_labels=_kv(data.get("groupLabels"), f"{where}.groupLabels"),
        common_labels=_kv(data.get("commonLabels"), f"{where}.commonLabels"),
        common_annotations=_kv(data.get("commonAnnotations"), f"{where}.commonAnnotations"),
        truncated=int(truncated) if isinstance(truncated, int) else 0,
    )


def read_notification(path: Path, text: str | None = None) -> Notification:
    """The payload in ``path`` (``text`` when it was read already, e.g. from stdin); InputError naming the field."""
    try:
        body = text if text is not None else path.read_text(encoding="utf-8")
        return parse_notification(json.loads(body), where=str(path))
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}", hint="pass the file the webhook received") from e
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e})", hint="pass Alertmanager's webhook body as it arrived") from e
    except FormatError as e:
        raise InputError(str(e), hint="pass Alertmanager's webhook body (payload version 4) as it arrived") from e
