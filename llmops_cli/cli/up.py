"""`llmops up`: install k3s, GPU support and Argo CD, then deploy the platform."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from llmops_cli.cli.hostopts import SudoStdinOpt
from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


class GpuMode(StrEnum):
    auto = "auto"
    on = "on"
    off = "off"


def command(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the ordered plan; change nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before changing this machine.")] = False,
    gpu: Annotated[GpuMode | None, typer.Option("--gpu", help="auto (default), on or off (gpu.mode).")] = None,
    airgap_bundle: Annotated[
        str | None,
        typer.Option("--airgap-bundle", metavar="DIR", help="k3s binary, images tarball, install.sh."),
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", metavar="S", help="Seconds to wait for health.")] = 900.0,
    env: Annotated[str | None, typer.Option("--env", "-e", help="Environment to deploy (default: dev).")] = None,
    install_toolkit: Annotated[
        bool | None,
        typer.Option("--install-toolkit", help="Install the NVIDIA container toolkit when missing."),
    ] = None,
    switch_context: Annotated[
        bool | None, typer.Option("--switch-context", help="Make llmops-<cluster> the current context.")
    ] = None,
    show_password: Annotated[bool, typer.Option("--show-password", help="Print generated passwords.")] = False,
    sudo_password_stdin: SudoStdinOpt = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Install k3s, GPU support and Argo CD on this machine, then deploy the platform through GitOps.

    Examples:
      llmops up --dry-run
      llmops up --gpu on --dry-run -o json
      llmops up --yes --timeout 1200
      llmops up --airgap-bundle ./k3s-bundle --yes
    """
    from llmops_cli.cli.hostopts import confirm, local_host
    from llmops_cli.cli.render_up import print_plan, print_result
    from llmops_cli.cluster.model import UpOptions
    from llmops_cli.cluster.up import inspect_airgap_bundle, repo_credentials, up

    session = get_session(ctx)
    session.start("up", output)
    settings = session.settings(
        **{
            "gpu.mode": gpu.value if gpu else None,
            "gpu.install_toolkit": install_toolkit or None,
            "cluster.switch_context": switch_context or None,
        }
    )
    token, key = repo_credentials(settings, session.environ)
    options = UpOptions(
        timeout=timeout,
        airgap=inspect_airgap_bundle(airgap_bundle) if airgap_bundle else None,
        show_password=show_password,
        git_token=token,
        ssh_key=key,
    )
    if not dry_run:
        confirm(session, "Install k3s and the llmops platform on this machine?", yes=yes)
    reporter = session.reporter()
    report = up(
        settings,
        host=local_host(session, password_stdin=sudo_password_stdin),
        env=env,
        options=options,
        dry_run=dry_run,
        reporter=reporter,
        environ=session.environ,
    )
    if session.machine:
        session.emit(report.to_dict(show_secrets=show_password))
    else:
        (print_plan if dry_run else print_result)(session, report, show_password=show_password)
