"""`llmops govern`: governance as code (data quality, data card, bias, model card, risk, policies, evidence).

Explicit registration; each command lives in its own module and imports numpy/pandas/celpy only when run.
"""

from __future__ import annotations

import typer

from llmops_cli.cli.govern import (
    bias_scan,
    check,
    data_card,
    data_quality,
    explain,
    init,
    keygen,
    llm_eval,
    model_card,
    release,
    review_time,
    risk_scorecard,
    verify,
)
from llmops_cli.cli.govern.incident import app as incident_app

app = typer.Typer(
    no_args_is_help=True,
    help="Governance as code: data, bias, explanations, model card, risk, the served LLM, policies; releases, "
    "incidents and review time.",
)

app.command("init")(init.command)
app.command("check")(check.command)
app.command("verify")(verify.command)
app.command("data-quality")(data_quality.command)
app.command("data-card")(data_card.command)
app.command("bias-scan")(bias_scan.command)
app.command("model-card")(model_card.command)
app.command("explain")(explain.command)
app.command("risk-scorecard")(risk_scorecard.command)
app.command("llm-eval")(llm_eval.command)
app.command("keygen")(keygen.command)
app.command("release")(release.command)
app.add_typer(incident_app, name="incident")
app.command("review-time")(review_time.command)
