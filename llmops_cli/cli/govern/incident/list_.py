"""`llmops govern incident list`."""

from __future__ import annotations

from typing import Annotated

import typer

from llmops_cli.cli.govern._common import ProjectOpt
from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    project: ProjectOpt = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only open incidents past their review deadline.")] = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """List incidents (and rewrite the index the cluster reads); exit 1 when any review is overdue.

    Examples:

    \b
      llmops govern incident list
      llmops govern incident list --overdue -o json
    """
    from llmops_cli.cli.govern._runtime import now
    from llmops_cli.cli.govern._runtime import project as resolve
    from llmops_cli.govern.runtime.api import list_incidents

    session = get_session(ctx)
    session.start("govern incident list", output)
    rows = list_incidents(resolve(session, project), overdue_only=overdue, now=now(session))
    late = [r for r in rows if r["overdue"]]
    if session.machine:
        session.emit(rows, status="overdue" if late else "ok")
    else:
        for r in rows:
            flag = "  OVERDUE" if r["overdue"] else ""
            session.out.print(
                f"{r['id']}  {r['state']:<6} {r['severity']:<8} {r['model']} {r['version']}  review due "
                f"{r['review_due']}{flag}  {r['title']}",
                markup=False,
            )
        session.info(f"{len(rows)} incidents, {sum(r['state'] == 'open' for r in rows)} open, {len(late)} overdue")
    if late:
        raise typer.Exit(1)
