"""`llmops verify`: offline checks of config, policies and the rendered tree."""

from __future__ import annotations

from typing import Annotated

import typer

from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session

_ICON = {"ok": "✓", "warn": "!", "fail": "✗"}


def command(
    ctx: typer.Context,
    env: Annotated[
        list[str] | None,
        typer.Option("--env", "-e", metavar="ENV", help="Check only this environment's tree (repeatable)."),
    ] = None,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Check config, governance and gateway policies and the rendered tree offline; exit 1 on a failure.

    Examples:
      llmops verify
      llmops verify --env prod -o json
    """
    from llmops_cli.errors import UsageError
    from llmops_cli.verify import failed, run_checks

    session = get_session(ctx)
    session.start("verify", output)
    loaded = session.loaded()
    unknown = [e for e in env or [] if e not in loaded.settings.environments]
    if unknown:
        known = ", ".join(loaded.settings.environments)
        raise UsageError(f"unknown environment {unknown[0]!r}", hint=f"known: {known}")
    results = run_checks(loaded, env)
    bad = failed(results)
    if session.machine:
        session.emit({"checks": [r.as_dict() for r in results]}, status="fail" if bad else "ok")
    else:
        for r in results:
            session.err.print(f"  {_ICON[r.status]} {r.name}: {r.detail}", markup=False)
    if bad:
        raise typer.Exit(1)
