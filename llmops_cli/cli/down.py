"""`llmops down`: remove the platform (and optionally k3s) from this host."""

from __future__ import annotations

from typing import Annotated

import typer

from llmops_cli.cli.hostopts import SudoStdinOpt
from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask first.")] = False,
    keep_data: Annotated[bool, typer.Option("--keep-data", help="Keep volumes and generated secrets.")] = False,
    uninstall_k3s: Annotated[bool, typer.Option("--uninstall-k3s", help="Also run k3s-uninstall.sh.")] = False,
    purge: Annotated[
        bool,
        typer.Option(
            "--purge", help="Also remove what `up` added to the host (k3s if it installed it, toolkit, files)."
        ),
    ] = False,
    env: Annotated[str | None, typer.Option("--env", "-e", help="Environment to remove (default: dev).")] = None,
    sudo_password_stdin: SudoStdinOpt = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Remove the platform (root Application with cascade) and the kubeconfig context; optionally k3s.

    Prints what `up` left on the host; --purge removes it too.

    Examples:
      llmops down
      llmops down --yes --keep-data
      llmops down --yes --purge
    """
    from llmops_cli.adapters.hostfacts import detect_init
    from llmops_cli.cli.hostopts import confirm, local_host
    from llmops_cli.cluster.context import k3s_kube_factory, user_kube_factory
    from llmops_cli.cluster.lock import run_lock
    from llmops_cli.cluster.state import State
    from llmops_cli.cluster.teardown import down, down_actions
    from llmops_cli.cluster.up import resolve_env

    session = get_session(ctx)
    session.start("down", output)
    settings = session.settings()
    env_name = resolve_env(settings, env)
    with run_lock(settings.cluster.name, "down", session.environ):
        actions = down_actions(
            State.load(settings.cluster.name, session.environ).host, uninstall_k3s=uninstall_k3s, purge=purge
        )
        what = "the llmops platform" + "".join(f"; {a}" for a in actions)
        confirm(session, f"Remove {what} from this machine?", yes=yes)
        host = local_host(session, password_stdin=sudo_password_stdin)
        factory = user_kube_factory(settings.cluster.context_name, session.environ, fallback=k3s_kube_factory(host))
        report = down(
            settings,
            host=host,
            kube_factory=factory,
            env=env_name,
            keep_data=keep_data,
            uninstall_k3s=uninstall_k3s,
            purge=purge,
            init_system=detect_init(host),
            reporter=session.reporter(),
            environ=session.environ,
        )
    if session.machine:
        session.emit(report.to_dict())
    elif not report.installed:
        session.info(
            f"nothing to remove: llmops is not installed on this machine (no kubeconfig context "
            f"{settings.cluster.context_name}, no k3s)"
        )
    else:
        for r in report.removed:
            session.info(f"removed {r}")
        for k in report.kept:
            session.info(f"kept {k}")
        for item in report.left_on_host:
            session.info(f"left on this machine: {item}")
        if report.left_on_host and not purge:
            session.info("`llmops down --purge` removes what llmops added (docs/laptop.md)")
