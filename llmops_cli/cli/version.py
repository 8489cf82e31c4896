"""`llmops version`."""

from __future__ import annotations

from typing import Annotated

import typer

from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Also print every pinned upstream version.")] = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Print llmops's version, or every pinned upstream version with --all.

    Examples:
      llmops version --all
      llmops version -o json
    """
    from llmops_cli import __version__
    from llmops_cli.versions import PINS

    session = get_session(ctx)
    session.start("version", output)
    data: dict[str, object] = {"llmops": __version__}
    if all_:
        data["pins"] = dict(PINS)
    if session.machine:
        session.emit(data)
        return
    print(f"llmops {__version__}")
    if all_:
        width = max(len(k) for k in PINS)
        for name, ver in PINS.items():
            print(f"{name:<{width}}  {ver}")
