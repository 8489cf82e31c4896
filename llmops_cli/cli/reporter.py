"""Rich implementation of the core Reporter protocol (progress and steps on stderr)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from llmops_cli.reporting import Status

_ICONS = {
    "ok": "[green]✓[/]",
    "changed": "[green]✓[/]",
    "skip": "[dim]-[/]",
    "warn": "[yellow]![/]",
    "fail": "[red]✗[/]",
    "running": "[cyan]…[/]",
    "pending": "[dim]·[/]",
}


class RichReporter:
    def __init__(self, console: Console, *, verbose: bool = False) -> None:
        self.console = console
        self.verbose = verbose
        self._phase: str | None = None
        self._phase_started = 0.0
        self.timings: list[tuple[str, float]] = []
        self._progress: dict[str, str] = {}

    def _end_phase(self) -> None:
        if self._phase is not None:
            elapsed = time.monotonic() - self._phase_started
            self.timings.append((self._phase, elapsed))

    def phase(self, name: str) -> None:
        from rich.text import Text

        self._end_phase()
        self._phase = name
        self._phase_started = time.monotonic()
        self.console.print(Text(f"» {name}", style="bold"))

    def step(self, description: str, status: Status, detail: str = "") -> None:
        from rich.text import Text

        icon = _ICONS.get(status, status)
        line = Text.from_markup(f"  {icon} ")
        line.append(description)
        if detail:
            line.append(f"  {detail}", style="dim")
        self.console.print(line)

    def progress(self, key: str, text: str) -> None:
        from rich.text import Text

        # One line per change: works in CI logs and terminals alike.
        if self._progress.get(key) != text:
            self._progress[key] = text
            self.console.print(Text(f"  {key}: {text}"))

    def info(self, message: str) -> None:
        from rich.text import Text

        self.console.print(Text(message))

    def warn(self, message: str) -> None:
        from rich.text import Text

        self.console.print(Text(f"warning: {message}", style="yellow"))

    def finish(self) -> list[tuple[str, float]]:
        self._end_phase()
        self._phase = None
        return self.timings
