"""`llmops init` (placeholder while the foundation lands)."""

from __future__ import annotations


def command() -> None:
    raise NotImplementedError
