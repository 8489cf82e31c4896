"""`llmops govern incident`: incidents opened from Alertmanager notifications, reviewed, closed."""

from __future__ import annotations

import typer

from llmops_cli.cli.govern.incident import close, list_, open_, report, serve

app = typer.Typer(
    no_args_is_help=True,
    help="Incidents from alerts: open (from Alertmanager's webhook payload), serve (its webhook receiver), report "
    "(post-mortem), close, list.",
)

app.command("open")(open_.command)
app.command("serve")(serve.command)
app.command("report")(report.command)
app.command("close")(close.command)
app.command("list")(list_.command)
