"""`llmops govern init`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmops_cli.cli.govern import _common as c
from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    project: c.ProjectOpt = None,
    docs_dir: Annotated[
        Path | None,
        typer.Option("--dir", metavar="DIR", help="Where to write them (default: governance.docs_dir)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite documents that exist.")] = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Scaffold the human-authored governance documents: principles, risk appetite, RACI matrix, incident SOP.

    `govern check` validates them, hashes them into the evidence and counts them in the lifecycle coverage;
    each stays incomplete until its TODO marks are replaced.

    Examples:

    \b
      llmops govern init
      llmops govern init --project examples --dir examples/governance
    """
    from llmops_cli.govern.lifecycle import scaffold

    session = get_session(ctx)
    session.start("govern init", output)
    inputs, _ = c.resolve_inputs(session, project)
    target = docs_dir or inputs.docs_dir or inputs.project_dir / "governance"
    model = None
    if inputs.model is not None and inputs.model.is_file():
        from llmops_cli.govern.stages.model_card import load_model_meta

        model = load_model_meta(inputs.model).name
    written = scaffold(target, model=model, force=force)
    if session.machine:
        session.emit({"written": [str(p) for p in written]})
        return
    for p in written:
        session.info(f"wrote {p}")
    session.info("next: replace each TODO, then run `llmops govern check`")
