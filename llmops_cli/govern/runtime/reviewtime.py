"""Review time: the share of each release cycle spent in governance, against the design's "< 20 % of total cycle".

From the records the project already keeps: the evidence index (every `govern check` run, with its time and
verdict) and the promotions: the history `govern release` appends to, and the commits `llmops promote` makes
(their `Llmops-Environment`, `Llmops-Model` and `Llmops-Model-Version` trailers, at the commit's time; see
:func:`promotions_in_git`). For each promoted model version:

- the release cycle runs from the previous promotion of the same model (in the same environment) to this one;
- governance runs from the version's first check to its promotion: getting the checks to pass (first check to
  first passing check) and then waiting to be released (first passing check to promotion).

The share is governance / cycle. A model's first promotion has no previous one, so its cycle (and share) is
unknown; it is listed but left out of the totals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

from llmops_cli.errors import InputError
from llmops_cli.riskdata import FormatError, parse_time

TARGET = 0.20


@dataclass(frozen=True)
class VersionCycle:
    model: str
    version: str
    env: str
    first_check: float | None
    first_pass: float | None
    promoted: float
    previous_promotion: float | None
    checks: int

    @property
    def governance(self) -> float | None:
        return None if self.first_check is None else max(0.0, self.promoted - self.first_check)

    @property
    def cycle(self) -> float | None:
        return None if self.previous_promotion is None else max(0.0, self.promoted - self.previous_promotion)

    @property
    def share(self) -> float | None:
        g, c = self.governance, self.cycle
        if g is None or not c:
            return None
        return min(1.0, g / c)

    def to_dict(self) -> dict[str, Any]:
        checking = None if self.first_check is None or self.first_pass is None else self.first_pass - self.first_check
        waiting = None if self.first_pass is None else max(0.0, self.promoted - self.first_pass)
        return {
            "model": self.model,
            "version": self.version,
            "env": self.env,
            "checks": self.checks,
            "governance_hours": _hours(self.governance),
            "checking_hours": _hours(checking),
            "waiting_hours": _hours(waiting),
            "cycle_hours": _hours(self.cycle),
            "share": None if self.share is None else round(self.share, 4),
        }


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 3)


@dataclass(frozen=True)
class ReviewTime:
    versions: tuple[VersionCycle, ...]
    target: float = TARGET

    @property
    def measured(self) -> list[VersionCycle]:
        return [v for v in self.versions if v.share is not None]

    @property
    def share(self) -> float | None:
        """Time in governance over time in cycles, summed over the measured versions."""
        m = self.measured
        total = sum(v.cycle or 0 for v in m)
        return None if not m or not total else sum(v.governance or 0 for v in m) / total

    @property
    def within_target(self) -> bool | None:
        return None if self.share is None else self.share < self.target

    def to_dict(self) -> dict[str, Any]:
        shares = [v.share for v in self.measured if v.share is not None]
        return {
            "target": self.target,
            "share": None if self.share is None else round(self.share, 4),
            "median_share": round(median(shares), 4) if shares else None,
            "within_target": self.within_target,
            "measured_versions": len(shares),
            "versions": [v.to_dict() for v in self.versions],
        }


def _read_runs(evidence_dir: Path) -> list[dict[str, Any]]:
    from llmops_cli.govern.evidence import read_index

    return [r for r in read_index(evidence_dir)["runs"] if isinstance(r, dict)]


def _read_history(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise InputError(
            f"no promotion history at {path}", hint="`llmops govern release` writes it with each promotion"
        )
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            parse_time(rec["promoted_at"], "promoted_at")
            if not all(isinstance(rec[k], str) for k in ("model", "version", "env")):
                raise TypeError("model, version and env must be strings")
        except (json.JSONDecodeError, KeyError, TypeError, FormatError) as e:
            raise InputError(f"{path}:{n}: not a promotion record ({e})", hint="restore the file from Git") from e
        out.append(rec)
    return out


def review_time(
    evidence_dir: Path,
    history: Path,
    *,
    env: str | None = None,
    target: float = TARGET,
    committed: list[dict[str, Any]] | None = None,
) -> ReviewTime:
    """``committed``: promotions read from Git (:func:`promotions_in_git`); with some, a missing history file is
    no error."""
    runs = _read_runs(evidence_dir)
    recorded = _read_history(history) if not committed or history.is_file() else []
    promotions = [p for p in [*recorded, *(committed or [])] if env is None or p["env"] == env]
    promotions.sort(key=lambda p: parse_time(p["promoted_at"], "promoted_at"))
    first_promotion: dict[tuple[str, str, str], dict[str, Any]] = {}
    for p in promotions:
        first_promotion.setdefault((p["model"], p["version"], p["env"]), p)
    out = []
    previous: dict[tuple[str, str], float] = {}
    for (model, version, e), p in first_promotion.items():
        at = parse_time(p["promoted_at"], "promoted_at")
        mine = [r for r in runs if r.get("model") == model and r.get("version") == version and r.get("created_at")]
        times = [parse_time(r["created_at"], "created_at") for r in mine]
        before = [t for t in times if t <= at]
        passes = [parse_time(r["created_at"], "created_at") for r in mine if r.get("status") == "pass"]
        passes = [t for t in passes if t <= at]
        out.append(
            VersionCycle(
                model=model,
                version=version,
                env=e,
                first_check=min(before) if before else None,
                first_pass=min(passes) if passes else None,
                promoted=at,
                previous_promotion=previous.get((model, e)),
                checks=len(before),
            )
        )
        previous[(model, e)] = at
    return ReviewTime(tuple(out), target)


# `git log` fields: the commit time, then its trailers, one record per commit.
_FIELD, _RECORD = "\x1f", "\x1e"


def promotions_in_git(log: str) -> list[dict[str, Any]]:
    """Promotions from ``git log --all --format=%cI%x1f%(trailers:only,unfold)%x1e`` output: every commit whose
    trailers name an environment, a model and its version (what `llmops promote` writes, a rollback included:
    only a version's first promotion counts)."""
    out = []
    for record in log.split(_RECORD):
        when, _, trailers = record.strip().partition(_FIELD)
        fields: dict[str, str] = {}
        for line in trailers.splitlines():
            key, sep, value = line.partition(": ")
            if sep:
                fields.setdefault(key.strip(), value.strip())
        env, model, version = (fields.get(f"Llmops-{k}") for k in ("Environment", "Model", "Model-Version"))
        if not (when and env and model and version):
            continue
        try:
            parse_time(when, "commit time")
        except FormatError:
            continue
        out.append({"model": model, "version": version, "env": env, "promoted_at": when, "source": "git"})
    return out
