"""`llmops govern release`: promote a verified evidence bundle into a release record.

The record is what the platform knows at run time about the model version it serves: the Policy Gateway
exports it as gauges (``gateway.governance``), the risk alerts, dashboard and canary analysis read those.
Only a bundle whose hashes and signature verify, and whose rule results pass, can be released. Every
promotion is also appended to ``history.jsonl`` beside the record (the promotion records `govern review-time`
measures).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops_cli.errors import InputError, PolicyViolation
from llmops_cli.riskdata import RISK_LEVELS, Release, format_time

HISTORY = "history.jsonl"
# The fairness deltas exported per sensitive attribute (bias.json, govern.stages.bias): the differences and
# ratios the default policies gate on.
FAIRNESS_METRICS = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equal_opportunity_difference",
    "equalized_odds_difference",
)


@dataclass(frozen=True)
class Promotion:
    release: Release
    path: Path
    history: Path


def _artefact(bundle: Path, name: str, listed: Mapping[str, Any]) -> dict[str, Any] | None:
    """A JSON artefact of the (already verified) bundle, or None when the bundle has none by that name."""
    if name not in listed:
        return None
    try:
        data = json.loads((bundle / name).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{bundle / name}: not readable JSON ({e})", hint="the bundle was modified") from e
    return data if isinstance(data, dict) else None


def _risk(risk: Mapping[str, Any] | None) -> tuple[float | None, str | None, str | None]:
    if not risk:
        return None, None, None
    score = risk.get("max_residual")
    levels = risk.get("residual_levels") or {}
    level = None
    for name in RISK_LEVELS:  # lowest first: the last level that holds a risk is the highest
        if isinstance(levels, Mapping) and (levels.get(name) or 0) > 0:
            level = name
    ai = risk.get("ai_act")
    ai_class = ai.get("classification") if isinstance(ai, Mapping) else None
    return (float(score) if isinstance(score, (int, float)) else None), level, (str(ai_class) if ai_class else None)


def _fairness(bias: Mapping[str, Any] | None) -> dict[str, dict[str, float]]:
    if not bias:
        return {}
    out: dict[str, dict[str, float]] = {}
    names = [a for a in bias.get("attributes") or [] if isinstance(a, str)] + ["worst"]
    for attribute in names:
        block = bias.get(attribute)
        if not isinstance(block, Mapping):
            continue
        values = {
            m: float(block[m])
            for m in FAIRNESS_METRICS
            if isinstance(block.get(m), (int, float)) and not isinstance(block.get(m), bool)
        }
        if values:
            out[attribute] = values
    return out


def _failure_rates(llm: Mapping[str, Any] | None) -> dict[str, float]:
    """``failure_rates`` of the llm_eval stage's metrics (llm_eval.json), when the bundle has that stage."""
    rates = (llm or {}).get("failure_rates")
    if not isinstance(rates, Mapping):
        return {}
    return {str(k): float(v) for k, v in rates.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def build_release(bundle: Path, report: Any, *, served_model: str, env: str, now: float) -> Release:
    """The release record of a bundle ``verify_bundle`` checked (``report``); refuses a changed or failing one."""
    from llmops_cli.govern.evidence import EvidenceMismatch, read_manifest

    if not report.ok:
        raise EvidenceMismatch(
            f"{report.bundle}: the evidence does not verify: {report.problem()}",
            hint="run `llmops govern verify` on it; release only evidence that verifies",
        )
    if report.status != "pass":
        raise PolicyViolation(
            f"{report.bundle}: the evidence's rule results do not pass ({report.status or 'no results.json'})",
            hint="fix the findings and run `llmops govern check` again; a failing bundle cannot be released",
        )
    bundle = report.bundle
    manifest = read_manifest(bundle)
    listed = manifest["artefacts"]
    results = _artefact(bundle, "results.json", listed) or {}
    rules = results.get("rules") or {}
    score, level, ai_class = _risk(_artefact(bundle, "risk.json", listed))
    from llmops_cli.govern.io import sha256_file

    return Release(
        model=str(report.model.get("name") or manifest["model"]["name"]),
        version=str(report.model.get("version") or manifest["model"]["version"]),
        served_model=served_model,
        env=env,
        run=bundle.name,
        manifest_sha256=sha256_file(bundle / "manifest.json"),
        evidence_created_at=str(manifest.get("created_at")),
        promoted_at=format_time(now),
        status=report.status,
        signature=report.signature,
        signed_by=report.signed_by,
        rules_passed=int(rules.get("passed") or 0),
        rules_failed=int(rules.get("failed") or 0),
        risk_score=score,
        risk_level=level,
        ai_act_class=ai_class,
        fairness=_fairness(_artefact(bundle, "bias.json", listed)),
        llm_eval_failure_rates=_failure_rates(_artefact(bundle, "llm_eval.json", listed)),
    )


def write_release(release: Release, out: Path) -> Promotion:
    """Write the record atomically and append the promotion to ``history.jsonl`` in the same folder."""
    from filelock import FileLock

    from llmops_cli.fsutil import atomic_write

    out.parent.mkdir(parents=True, exist_ok=True)
    history = out.parent / HISTORY
    atomic_write(out, release.to_json())
    line = {
        "model": release.model,
        "version": release.version,
        "env": release.env,
        "run": release.run,
        "evidence_created_at": release.evidence_created_at,
        "promoted_at": release.promoted_at,
        "record": out.name,
    }
    with FileLock(str(out.parent / ".history.lock"), timeout=60), open(history, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, sort_keys=True) + "\n")
    return Promotion(release, out, history)
