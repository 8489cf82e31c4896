"""`llmops govern incident close`."""

from __future__ import annotations

from typing import Annotated

import typer

from llmops_cli.cli.govern._common import ProjectOpt
from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    incident_id: Annotated[str, typer.Argument(metavar="ID", help="The incident, e.g. INC-20260102-1a2b3c4d.")],
    reviewer: Annotated[str, typer.Option("--reviewer", metavar="NAME", help="Who reviewed the post-mortem.")],
    resolution: Annotated[str, typer.Option("--resolution", metavar="TEXT", help="How it was resolved.")],
    project: ProjectOpt = None,
    action: Annotated[
        list[str] | None, typer.Option("--action", metavar="TEXT", help="An action taken (repeatable).")
    ] = None,
    reported_at: Annotated[
        str | None,
        typer.Option("--reported-at", metavar="TIME", help="When it was reported to the authority (RFC 3339)."),
    ] = None,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """File the incident's review and close it; refused while the post-mortem has unfilled sections.

    Examples:

    \b
      llmops govern incident close INC-20260102-1a2b3c4d --reviewer "A. Risk Officer" \\
          --resolution "rolled back to 1.2.0; PII filter added to the output policy"
    """
    from llmops_cli.cli.govern._runtime import now
    from llmops_cli.cli.govern._runtime import project as resolve
    from llmops_cli.govern.runtime.api import close_incident

    session = get_session(ctx)
    session.start("govern incident close", output)
    record, path = close_incident(
        resolve(session, project),
        incident_id,
        reviewer=reviewer,
        resolution=resolution,
        actions=action or [],
        reported_at=reported_at,
        now=now(session),
    )
    if session.machine:
        session.emit({"path": str(path), "incident": record})
        return
    session.info(f"{incident_id} closed: review by {reviewer} filed ({path})")
