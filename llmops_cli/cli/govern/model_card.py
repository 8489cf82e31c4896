"""`llmops govern model-card`."""

from __future__ import annotations

import typer

from llmops_cli.cli.govern import _common as c
from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    model: c.ModelOpt = None,
    policies: c.PoliciesOpt = None,
    project: c.ProjectOpt = None,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Write a model card with Hugging Face front matter and list missing required fields.

    Examples:

    \b
      llmops govern model-card --model model.yaml > MODEL_CARD.md
      llmops govern model-card -o json
    """
    from llmops_cli.cli.govern._present import emit_stage
    from llmops_cli.govern.api import model_card

    session = get_session(ctx)
    session.start("govern model-card", output)
    inputs, _ = c.resolve_inputs(session, project, model=model, policies=policies)
    result, _meta = model_card(inputs)
    emit_stage(session, result, result.artefacts.get("model_card.md"))
    if not session.machine and result.metrics["missing_required"]:
        session.warn("missing required fields: " + ", ".join(result.metrics["missing_required"]))
