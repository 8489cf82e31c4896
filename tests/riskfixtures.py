"""Run-time governance documents for tests: a release record and an incident index (llmops_cli.riskdata)."""

from __future__ import annotations

import time

from llmops_cli.riskdata import IncidentEntry, IncidentIndex, Release, format_time

SERVED = "qwen2-5-0-5b-instruct"


def release_record(
    *,
    model: str = "credit-approval",
    version: str = "1.2.0",
    served: str = SERVED,
    signature: str = "verified",
    status: str = "pass",
    level: str | None = "low",
    created: float | None = None,
    llm_eval: dict[str, float] | None = None,
) -> Release:
    now = time.time()
    return Release(
        model=model,
        version=version,
        served_model=served,
        env="prod",
        run="2da3d3c352ece40b",
        manifest_sha256="2da3d3c352ece40b" + "0" * 48,
        evidence_created_at=format_time(created if created is not None else now - 3600),
        promoted_at=format_time(now - 60),
        status=status,
        signature=signature,
        signed_by="key:abc" if signature == "verified" else None,
        rules_passed=15,
        rules_failed=0,
        risk_score=4.5,
        risk_level=level,
        ai_act_class="high-risk",
        fairness={"sex": {"demographic_parity_ratio": 0.97, "equalized_odds_difference": 0.04}},
        llm_eval_failure_rates=llm_eval if llm_eval is not None else {"unsafe_compliance": 0.02, "pii_echo": 0.0},
    )


def incident_index(*, overdue: bool = True, model: str = "credit-approval") -> IncidentIndex:
    now = time.time()
    due = now - 3600 if overdue else now + 86400
    return IncidentIndex(
        (
            IncidentEntry(
                "INC-20261201-aaaaaaaa", model, "1.2.0", "critical", "open", format_time(now - 7200), format_time(due)
            ),
            IncidentEntry(
                "INC-20261130-bbbbbbbb",
                model,
                "1.1.0",
                "warning",
                "closed",
                format_time(now - 90000),
                format_time(now - 80000),
            ),
        )
    )
