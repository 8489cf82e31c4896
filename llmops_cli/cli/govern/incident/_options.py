"""Options `govern incident open` and `serve` share: what goes into an incident record besides the alert."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

AuditLogOpt = Annotated[
    Path | None,
    typer.Option("--audit-log", metavar="FILE", help="The gateway's audit log: counts of the alert's window."),
]
LookbackOpt = Annotated[
    str,
    typer.Option("--lookback", metavar="DURATION", help="Audit log read from this long before the alert fired."),
]
ReleaseOpt = Annotated[
    Path | None,
    typer.Option("--release", metavar="FILE", help="The release record served (default: stacks.gateway.release_file)."),
]
EvidenceOpt = Annotated[
    Path | None,
    typer.Option("--evidence", metavar="BUNDLE", help="Verify the release's evidence bundle and record the result."),
]
