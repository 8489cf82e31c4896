"""`llmops govern`: not available in this version yet."""

from __future__ import annotations

import typer

from llmops_cli.errors import NotAvailableYet

app = typer.Typer(no_args_is_help=True)


@app.callback(invoke_without_command=True)
def _group() -> None:
    raise NotAvailableYet("`llmops govern` is not available yet in this version", hint="see the README roadmap")
