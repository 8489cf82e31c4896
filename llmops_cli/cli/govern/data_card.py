"""`llmops govern data-card`."""

from __future__ import annotations

import typer

from llmops_cli.cli.govern import _common as c
from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    data: c.DataOpt = None,
    data_card: c.DataCardOpt = None,
    sensitive: c.SensitiveOpt = None,
    project: c.ProjectOpt = None,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Write a data card (provenance and statistics) as Markdown, or JSON with -o json.

    Examples:

    \b
      llmops govern data-card --data data/loans.csv --data-card data/loans.dataset.yaml > DATA_CARD.md
      llmops govern data-card -o json
    """
    from llmops_cli.cli.govern._present import emit_stage
    from llmops_cli.govern.api import data_card as build

    session = get_session(ctx)
    session.start("govern data-card", output)
    inputs, _ = c.resolve_inputs(session, project, data=data, data_card=data_card, sensitive=sensitive)
    result = build(inputs)
    emit_stage(session, result, result.artefacts.get("data_card.md"))
