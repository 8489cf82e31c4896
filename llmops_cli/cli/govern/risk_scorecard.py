"""`llmops govern risk-scorecard`."""

from __future__ import annotations

import typer

from llmops_cli.cli.govern import _common as c
from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    register: c.RegisterOpt = None,
    ai_act: c.AiActOpt = None,
    project: c.ProjectOpt = None,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Score the risk register, map it to NIST/ISO/Singapore frameworks and classify it under the EU AI Act.

    Examples:

    \b
      llmops govern risk-scorecard --register risk_register.yaml --ai-act ai_act.yaml
      llmops govern risk-scorecard -o json
    """
    from llmops_cli.cli.govern._present import emit_stage
    from llmops_cli.govern.api import risk_scorecard

    session = get_session(ctx)
    session.start("govern risk-scorecard", output)
    inputs, _ = c.resolve_inputs(session, project, risk_register=register, ai_act=ai_act)
    result = risk_scorecard(inputs)
    emit_stage(session, result, result.artefacts.get("risk_scorecard.md"))
