"""What the error boundary (``llmops_cli.__main__``) learns about a run from the root callback.

The boundary creates one ``RunState`` and hands it to Click as ``obj``; the root callback fills it in and then
replaces ``ctx.obj`` with the run's Session. No module-level state, and ``__main__`` is imported by nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmops_cli.cli.session import Session


@dataclass
class RunState:
    verbosity: int = 0
    session: Session | None = None
