"""`llmops govern data-quality`."""

from __future__ import annotations

import typer

from llmops_cli.cli.govern import _common as c
from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    data: c.DataOpt = None,
    label: c.LabelOpt = None,
    positive: c.PositiveOpt = None,
    data_card: c.DataCardOpt = None,
    project: c.ProjectOpt = None,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Check a dataset against its declared schema and for missing values, duplicates and personal data.

    Examples:

    \b
      llmops govern data-quality --data data/loans.csv --label approved
      llmops govern data-quality --data data/loans.csv --data-card data/loans.dataset.yaml -o json
    """
    from llmops_cli.cli.govern._present import emit_stage
    from llmops_cli.govern.api import data_quality

    session = get_session(ctx)
    session.start("govern data-quality", output)
    inputs, _ = c.resolve_inputs(session, project, data=data, label=label, positive=positive, data_card=data_card)
    result = data_quality(inputs)
    emit_stage(session, result, result.artefacts.get("data_quality.md"))
