"""`llmops promote`: not available in this version yet."""

from __future__ import annotations

from llmops_cli.errors import NotAvailableYet


def command() -> None:
    raise NotAvailableYet(
        "`llmops promote` is not available yet in this version",
        hint="meanwhile run `llmops up` on each host of the environment",
    )
