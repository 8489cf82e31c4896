"""`llmops gateway serve|keys`: run and manage the Policy Gateway."""

from __future__ import annotations

import typer

from llmops_cli.cli.gateway import keys, serve

app = typer.Typer(no_args_is_help=True, help="Run and manage the Policy Gateway (OpenAI-compatible proxy).")
app.command("serve")(serve.command)  # its help: the docstring (precedence rule, examples)
app.add_typer(keys.app, name="keys", help="Create, list and revoke gateway API keys.")
