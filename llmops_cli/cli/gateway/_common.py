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
    if for_write and not flag and not session.environ.get("PAC_POLICY_FILE") and not Path(configured).exists():
        from llmops_cli.errors import InputError

        raise InputError(
            f"{configured}: policy file not found",
            hint="run `llmops init`, copy the shipped policies/gateway.yaml, or pass --policies FILE",
        )
    return path
