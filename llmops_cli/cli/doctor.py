"""`llmops doctor`: not available in this version yet."""

from __future__ import annotations

from llmops_cli.errors import NotAvailableYet


def command() -> None:
    raise NotAvailableYet("`llmops doctor` is not available yet in this version", hint="see the README roadmap")
