"""`llmops sync`: push the re-rendered tree to the in-cluster Git server (local GitOps mode)."""

from __future__ import annotations

from typing import Annotated

import typer

from llmops_cli.cli.hostopts import SudoStdinOpt
from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    env: Annotated[str | None, typer.Option("--env", "-e", help="Environment to sync (default: dev).")] = None,
    timeout: Annotated[float, typer.Option("--timeout", metavar="S", help="Seconds to wait for the push.")] = 300.0,
    sudo_password_stdin: SudoStdinOpt = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Re-render the environment and push it to the in-cluster Git server Argo CD reads.

    Examples:
      llmops sync
      llmops sync --env dev -o json
    """
    from llmops_cli.adapters.hostfacts import gather_facts
    from llmops_cli.adapters.hosts import DryRunHost
    from llmops_cli.cli.hostopts import local_host
    from llmops_cli.cluster.context import k3s_kube_factory, user_kube_factory
    from llmops_cli.cluster.lock import run_lock
    from llmops_cli.cluster.sync import sync

    session = get_session(ctx)
    session.start("sync", output)
    loaded = session.loaded()
    settings = loaded.settings
    host = local_host(session, password_stdin=sudo_password_stdin)
    factory = user_kube_factory(settings.cluster.context_name, session.environ, fallback=k3s_kube_factory(host))
    with run_lock(settings.cluster.name, "sync", session.environ):
        data = sync(
            settings,
            host=host,
            facts=gather_facts(DryRunHost(host)),
            kube_factory=factory,
            env=env,
            reporter=session.reporter(),
            environ=session.environ,
            timeout=timeout,
            project_dir=loaded.base_dir,
        )
    if session.machine:
        session.emit(data)
    else:
        session.info(f"pushed {data['files']} files" if data["changed"] else "already in sync")
