"""`llmops govern check`."""

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
    evidence_dir: Annotated[
        Path | None,
        typer.Option("--evidence-dir", metavar="DIR", help="Where bundles go (default: governance.evidence_dir)."),
    ] = None,
    junit: Annotated[Path | None, typer.Option("--junit", metavar="FILE", help="Also write JUnit XML here.")] = None,
    fail_on: Annotated[
        str | None,
        typer.Option("--fail-on", metavar="error|warning", help="Lowest severity that fails (default: error)."),
    ] = None,
    data: c.DataOpt = None,
    model: c.ModelOpt = None,
    register: c.RegisterOpt = None,
    ai_act: c.AiActOpt = None,
    policies: c.PoliciesOpt = None,
    bootstrap: c.BootstrapOpt = None,
    seed: c.SeedOpt = None,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Judge the model against the governance policies and write a hashed evidence bundle.

    Examples:

    \b
      llmops govern check
      llmops govern check --project examples --evidence-dir /tmp/evidence --junit governance.xml
      llmops govern check --fail-on warning -o json
    """
    from llmops_cli.cli.govern._present import check_outcome
    from llmops_cli.errors import UsageError
    from llmops_cli.govern.api import run_check

    session = get_session(ctx)
    session.start("govern check", output)
    if fail_on not in (None, "error", "warning"):
        raise UsageError(f"--fail-on {fail_on!r}: expected 'error' or 'warning'")
    inputs, settings = c.resolve_inputs(
        session,
        project,
        data=data,
        model=model,
        risk_register=register,
        ai_act=ai_act,
        policies=policies,
        bootstrap=bootstrap,
        seed=seed,
    )
    evidence = evidence_dir or inputs.project_dir / settings.governance.evidence_dir
    report = run_check(
        inputs,
        evidence_dir=evidence,
        fail_on=fail_on or settings.governance.fail_on,  # type: ignore[arg-type]
        environ=session.environ,
        reporter=None if session.machine else session.reporter(),
    )
    check_outcome(session, report, junit)
