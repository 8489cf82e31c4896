"""`llmops govern verify`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    bundle: Annotated[Path, typer.Argument(metavar="BUNDLE", help="Bundle folder: <evidence-dir>/<model>/<version>.")],
    project: Annotated[
        Path | None,
        typer.Option("--project", metavar="DIR", help="Also re-hash the inputs recorded in the manifest, from DIR."),
    ] = None,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Recompute an evidence bundle's hashes and fail naming any file that changed.

    Examples:

    \b
      llmops govern verify evidence/credit-model/1.2.0
      llmops govern verify evidence/credit-model/1.2.0 --project . -o json
    """
    from llmops_cli.govern.api import verify
    from llmops_cli.govern.evidence import EvidenceMismatch

    session = get_session(ctx)
    session.start("govern verify", output)
    report = verify(bundle, project)
    if not report.ok:
        if session.machine:
            session.emit(
                report.as_dict(),
                status="fail",
                errors=[{"code": "evidence_mismatch", "message": report.problem()}],
            )
            raise typer.Exit(1)
        raise EvidenceMismatch(
            f"{bundle}: {report.problem()}", hint="re-run `llmops govern check` or restore the files"
        )
    if session.machine:
        session.emit(report.as_dict())
    else:
        extra = f", {report.inputs_checked} inputs" if project is not None else ""
        session.info(f"ok: {report.checked} artefacts{extra} match {bundle / 'manifest.json'}")
