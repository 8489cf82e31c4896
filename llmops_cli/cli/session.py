"""The one per-run Session in ``ctx.obj``: consoles, Settings, verbosity, output format, factories."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from llmops_cli.cli.output import OutputFormat, dump, envelope, write_stdout

if TYPE_CHECKING:
    from rich.console import Console

    from llmops_cli.config.load import LoadedSettings
    from llmops_cli.config.model import Settings
    from llmops_cli.reporting import Reporter


@dataclass
class Session:
    config_path: str | None = None
    verbosity: int = 0
    quiet: bool = False
    no_color: bool = False
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    # Set by a command that reports with -o; the error boundary then prints an error envelope.
    command: str | None = None
    output: OutputFormat = OutputFormat.text
    _loaded: dict[tuple[tuple[str, Any], ...], LoadedSettings] = field(default_factory=dict)

    def apply_root_options(
        self, *, config_path: str | None = None, verbosity: int = 0, quiet: bool = False, no_color: bool = False
    ) -> None:
        """A root option given after the command (``llmops doctor --no-color``): as if given before it."""
        if config_path is not None:
            self.config_path = config_path
            self._loaded.clear()
        self.verbosity += verbosity
        self.quiet = self.quiet or quiet
        self.no_color = self.no_color or no_color
        for console in ("err", "out"):  # made again, with these settings, when next used
            self.__dict__.pop(console, None)

    # ----------------------------------------------------------------- consoles
    @cached_property
    def err(self) -> Console:
        from rich.console import Console

        return Console(
            stderr=True,
            no_color=self.no_color or "NO_COLOR" in self.environ,
            quiet=self.quiet,
            highlight=False,
            soft_wrap=True,
        )

    @cached_property
    def out(self) -> Console:
        from rich.console import Console

        return Console(no_color=self.no_color or "NO_COLOR" in self.environ, highlight=False, soft_wrap=True)

    # ----------------------------------------------------------------- settings
    def loaded(self, **flags: Any) -> LoadedSettings:
        """Settings with flag overrides (dotted path → value; None means 'not given')."""
        from llmops_cli.config.load import find_config, load_settings

        key = tuple(sorted((k, repr(v)) for k, v in flags.items()))
        if key not in self._loaded:
            path, explicit = find_config(self.config_path, self.environ)
            loaded = load_settings(path, environ=self.environ, flags=flags, explicit=explicit)
            if not self._loaded:  # the same environment for every load of a run: say it once
                for warning in loaded.warnings:
                    self.warn(warning)
            self._loaded[key] = loaded
        return self._loaded[key]

    def settings(self, **flags: Any) -> Settings:
        return self.loaded(**flags).settings

    # ----------------------------------------------------------------- output
    def start(self, command: str, output: OutputFormat = OutputFormat.text) -> None:
        """Declare the running command and its output format (for error envelopes)."""
        self.command = command
        self.output = output

    def emit(self, data: Any, *, status: str = "ok", errors: list[dict[str, str]] | None = None) -> None:
        """Print machine output for -o json|yaml (an envelope)."""
        write_stdout(dump(envelope(self.command or "llmops", data, status=status, errors=errors or []), self.output))

    @property
    def machine(self) -> bool:
        return self.output is not OutputFormat.text

    def info(self, message: str) -> None:
        if not self.quiet:
            self.err.print(message, markup=False)

    def warn(self, message: str) -> None:
        self.err.print(f"warning: {message}", markup=False, style="yellow")

    def reporter(self) -> Reporter:
        from llmops_cli.cli.reporter import RichReporter

        return RichReporter(self.err, verbose=self.verbosity > 0)

    @property
    def interactive(self) -> bool:
        return sys.stdin.isatty() and sys.stderr.isatty() and "CI" not in self.environ


def get_session(ctx: typer.Context) -> Session:
    obj = ctx.find_root().obj
    if not isinstance(obj, Session):  # invoked without the root callback (tests of a sub-app)
        obj = Session()
        ctx.find_root().obj = obj
    return obj


def user_path(p: str | os.PathLike[str]) -> Path:
    return Path(p).expanduser()
