"""Shared option: the gateway policy file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmops_cli.cli.session import Session

PoliciesOpt = Annotated[
    str | None,
    typer.Option(
        "--policies",
        "-p",
        metavar="FILE",
        help="Gateway policy file (env PAC_POLICY_FILE; default: stacks.gateway.policies_file).",
    ),
]


def policy_file(session: Session, flag: str | None, *, for_write: bool = False) -> str:
    from llmops_cli.gateway.settings import resolve_policy_file

    configured = str(session.loaded().resolve(session.settings().stacks.gateway.policies_file))
    path = resolve_policy_file(flag, session.environ, configured)
    if not for_write:
        return path
    from llmops_cli.errors import InputError
    from llmops_cli.resources import shipped_policy_root

    if not flag and not session.environ.get("PAC_POLICY_FILE") and not Path(configured).exists():
        raise InputError(
            f"{configured}: policy file not found",
            hint="run `llmops init` (it copies the gateway policy into your project), or pass --policies FILE",
        )
    if shipped_policy_root(path) is not None:
        raise InputError(
            f"{path} is the gateway policy that ships with llmops; a key stored there would ship with it",
            hint="create your own project with `llmops init --dir DIR` and run this from DIR, or pass --policies "
            "with your own copy",
        )
    return path
