"""Shared by up/down/sync/doctor: build the LocalHost with a sudo password source (prompts live here only)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from llmops_cli.adapters.hosts import LocalHost
    from llmops_cli.cli.session import Session

SudoStdinOpt = Annotated[
    bool,
    typer.Option(
        "--sudo-password-stdin",
        help="Read the sudo password from the first line of stdin (when not root and sudo needs one).",
    ),
]


def local_host(session: Session, *, password_stdin: bool = False) -> LocalHost:
    from llmops_cli.adapters.hosts import LocalHost, detect_sudo

    def from_stdin() -> str:
        line = sys.stdin.readline()
        return line.rstrip("\n")

    def prompt() -> str:
        import getpass

        return getpass.getpass("sudo password (asked once): ", stream=sys.stderr)

    provider = from_stdin if password_stdin else (prompt if session.interactive else None)
    return LocalHost(detect_sudo(provider))


def confirm(session: Session, question: str, *, yes: bool) -> None:
    """Ask before a change; with no TTY and no --yes, fail naming the flag."""
    from llmops_cli.errors import UsageError

    if yes:
        return
    if not session.interactive:
        raise UsageError(f"{question} needs confirmation and there is no terminal", hint="pass --yes")
    if not typer.confirm(question, default=False, err=True):
        session.err.print("cancelled: nothing was changed", markup=False)
        raise typer.Exit(1)
