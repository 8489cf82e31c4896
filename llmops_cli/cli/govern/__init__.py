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
    model_card,
    risk_scorecard,
    verify,
)

app = typer.Typer(
    no_args_is_help=True,
    help="Governance as code: data, bias, model card, risk, policies.",
)

app.command("check", help="Run every stage the policies need, judge the rules and write an evidence bundle.")(
    check.command
)
app.command("verify", help="Recompute an evidence bundle's hashes; exit 1 naming any changed file.")(
    verify.command
)
app.command(
    "data-quality", help="Check a dataset: schema, missing values, duplicates, ranges, personal data."
)(data_quality.command)
app.command("data-card", help="Write a data card: provenance and statistics (Markdown or JSON).")(
    data_card.command
)
app.command("bias-scan", help="Per-group rates and fairness metrics (Fairlearn / AIF360 definitions).")(
    bias_scan.command
)
app.command("model-card", help="Write a model card (Hugging Face front matter) and check its completeness.")(
    model_card.command
)
app.command(
    "risk-scorecard", help="Score the risk register, map it to frameworks, classify under the EU AI Act."
)(risk_scorecard.command)
