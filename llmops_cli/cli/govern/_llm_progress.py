"""A rich progress bar per evaluation suite: answers so far of the total, failed requests, requests per second.

Drawn on stderr only when it is a terminal (rich turns live display off otherwise); in CI logs each suite
ends with one summary line instead.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


class RichEvalProgress:
    def __init__(self, console: Console, *, enabled: bool = True) -> None:
        self.console = console
        self.enabled = enabled
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._failed: dict[str, int] = {}
        self._started: dict[str, float] = {}
        self._done: dict[str, int] = {}
        self._total: dict[str, int] = {}

    def __enter__(self) -> RichEvalProgress:
        if self.enabled and self.console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("  {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[failed]} failed"),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    # --------------------------------------------------------------------------- llmeval.run.Progress
    def start(self, suite: str, total: int) -> None:
        self._failed[suite] = 0
        self._done[suite] = 0
        self._total[suite] = total
        self._started[suite] = time.monotonic()
        if self._progress is not None:
            self._tasks[suite] = self._progress.add_task(suite, total=total, failed=0, rate="")

    def advance(self, suite: str, failed: bool) -> None:
        self._failed[suite] += int(failed)
        self._done[suite] += 1
        if self._progress is not None:
            task = self._tasks[suite]
            done = self._done[suite]
            elapsed = max(time.monotonic() - self._started[suite], 1e-9)
            self._progress.update(task, advance=1, failed=self._failed[suite], rate=f"{done / elapsed:.1f} req/s")

    def finish(self, suite: str) -> None:
        if self.enabled and self._progress is None:  # not a terminal: one line per suite, for CI logs
            elapsed = time.monotonic() - self._started[suite]
            self.console.print(
                f"  {suite}: {self._done[suite]}/{self._total[suite]} answers, {self._failed[suite]} failed, "
                f"{elapsed:.1f} s ({self._done[suite] / max(elapsed, 1e-9):.2f} req/s)",
                markup=False,
            )
