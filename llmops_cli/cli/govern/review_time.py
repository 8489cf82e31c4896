"""`llmops govern review-time`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmops_cli.cli.govern._common import ProjectOpt
from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    project: ProjectOpt = None,
    env: Annotated[
        str | None, typer.Option("--env", "-e", metavar="NAME", help="Only promotions to this environment.")
    ] = None,
    history: Annotated[
        Path | None,
        typer.Option("--history", metavar="FILE", help="Promotion history (default: <releases_dir>/history.jsonl)."),
    ] = None,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Report the share of each release cycle spent in governance, against the design's < 20 %.

    A cycle runs from one promotion of a model to the next; governance, from the version's first
    `govern check` to its promotion (checks until they pass, then waiting to be released). Promotions
    come from `govern release`'s history and from the commits `llmops promote` made.

    Examples:

    \b
      llmops govern review-time
      llmops govern review-time --env prod -o json
    """
    from llmops_cli.cli.govern._runtime import project as resolve
    from llmops_cli.govern.runtime.api import review_time

    session = get_session(ctx)
    session.start("govern review-time", output)
    result = review_time(resolve(session, project), env=env, history=history)
    data = result.to_dict()
    if session.machine:
        session.emit(data, status="ok" if result.within_target is not False else "over_target")
        return
    for v in data["versions"]:
        share = "unknown (first release)" if v["share"] is None else f"{v['share']:.0%}"
        gov = "?" if v["governance_hours"] is None else f"{v['governance_hours']:g} h"
        cyc = "?" if v["cycle_hours"] is None else f"{v['cycle_hours']:g} h"
        session.out.print(
            f"{v['model']} {v['version']} ({v['env']}): governance {gov} of a {cyc} cycle = {share}", markup=False
        )
    if result.share is None:
        session.info("no release cycle measured yet: a model needs two promotions to an environment")
        return
    verdict = "within" if result.within_target else "over"
    session.info(
        f"governance took {result.share:.0%} of {data['measured_versions']} release cycles "
        f"(median {data['median_share']:.0%}); {verdict} the target of < {result.target:.0%}"
    )
