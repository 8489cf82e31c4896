"""`llmops govern incident report`."""

from __future__ import annotations

from typing import Annotated

import typer

from llmops_cli.cli.govern._common import ProjectOpt
from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    incident_id: Annotated[str, typer.Argument(metavar="ID", help="The incident, e.g. INC-20260102-1a2b3c4d.")],
    project: ProjectOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Write the template again over an existing post-mortem (its text is lost).")
    ] = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Write the incident's post-mortem template beside its record, prefilled with what is known.

    People fill in root cause, impact, corrective actions, lessons and reporting; `incident close` checks
    that they did. With -o json prints the record: the fields an authority report needs.

    Examples:

    \b
      llmops govern incident report INC-20260102-1a2b3c4d
      llmops govern incident report INC-20260102-1a2b3c4d -o json > report.json
    """
    from llmops_cli.cli.govern._runtime import project as resolve
    from llmops_cli.govern.runtime.api import report_incident

    session = get_session(ctx)
    session.start("govern incident report", output)
    record, path, written = report_incident(resolve(session, project), incident_id, force=force)
    if session.machine:
        session.emit({"postmortem": str(path), "written": written, "incident": record})
        return
    if written:
        session.info(f"wrote {path}: fill in each section, then `llmops govern incident close {incident_id}`")
    else:
        session.info(f"{path} is already there (kept; --force writes the template again)")
