"""Shared by the gateway commands: the policy file option, and what llmops.yaml says for the gateway."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from llmops_cli.cli.session import Session

if TYPE_CHECKING:
    from llmops_cli.gateway.settings import Configured

PoliciesOpt = Annotated[
    str | None,
    typer.Option(
        "--policies",
        "-p",
        metavar="FILE",
        help="Gateway policy file (env PAC_POLICY_FILE; llmops.yaml stacks.gateway.policies_file; default the "
        "project's policies/gateway.yaml, else the one shipped with llmops).",
    ),
]


def configured(session: Session) -> Configured:
    """The gateway settings llmops.yaml sets (in the file or through ``LLMOPS_*``), with their sources."""
    from llmops_cli.gateway.settings import CONFIG_KEYS, Configured

    loaded = session.loaded()
    gateway = loaded.settings.stacks.gateway
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    for name, key in CONFIG_KEYS.items():
        src = loaded.sources.get(f"stacks.gateway.{key}", "default")
        if src == "default":
            continue
        value = getattr(gateway, key)
        values[name] = str(loaded.resolve(value)) if name == "policy_file" else value
        where = f"{loaded.file.name}:{src[5:]}" if src.startswith("file:") and loaded.file else src
        sources[name] = f"llmops.yaml stacks.gateway.{key} ({where})"
    return Configured(values, sources, str(loaded.resolve(gateway.policies_file)))


def policy_file(session: Session, flag: str | None, *, for_write: bool = False) -> str:
    from llmops_cli.gateway.settings import resolve_policy_file

    conf = configured(session)
    path = resolve_policy_file(flag, session.environ, conf)
    if not for_write:
        return path
    from llmops_cli.errors import InputError
    from llmops_cli.resources import shipped_policy_root

    if shipped_policy_root(path) is not None:  # installed with llmops, or tracked in a clone of llmops
        project = conf.project_policy
        if not flag and not session.environ.get("PAC_POLICY_FILE") and not (project and Path(project).exists()):
            raise InputError(
                f"{conf.project_policy}: policy file not found",
                hint="run `llmops init` (it copies the gateway policy into your project), or pass --policies FILE",
            )
        raise InputError(
            f"{path} is the gateway policy that ships with llmops; a key stored there would ship with it",
            hint="create your own project with `llmops init --dir DIR` and run this from DIR, or pass --policies "
            "with your own copy",
        )
    return path
