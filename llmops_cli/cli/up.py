"""`llmops up`: install k3s, GPU support and Argo CD, then deploy the platform."""

from __future__ import annotations

import contextlib
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
        typer.Option(
            "--airgap-bundle",
            metavar="DIR",
            help="k3s binary, images tarball, install.sh; optional images/, charts/ (docs/laptop.md).",
        ),
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

    The plan and its checks come first: known failures stop `up` before it asks (exit 1); then it lists the
    steps, restarts, files and packages, and asks.

    Examples:
      llmops up --dry-run
      llmops up --gpu on --dry-run -o json
      llmops up --yes --timeout 1200
      llmops up --airgap-bundle ./k3s-bundle --yes
    """
    from llmops_cli.cli.hostopts import confirm, local_host
    from llmops_cli.cli.render_up import preflight_failures, print_plan, print_result, print_summary
    from llmops_cli.cluster.lock import run_lock
    from llmops_cli.cluster.model import UpOptions
    from llmops_cli.cluster.up import execute_up, inspect_airgap_bundle, prepare_up, repo_credentials

    session = get_session(ctx)
    session.start("up", output)
    loaded = session.loaded(
        **{
            "gpu.mode": gpu.value if gpu else None,
            "gpu.install_toolkit": install_toolkit or None,
            "cluster.switch_context": switch_context or None,
        }
    )
    settings = loaded.settings
    token, key = repo_credentials(settings, session.environ)
    options = UpOptions(
        timeout=timeout,
        airgap=inspect_airgap_bundle(airgap_bundle) if airgap_bundle else None,
        show_password=show_password,
        git_token=token,
        ssh_key=key,
    )
    reporter = session.reporter()
    host = local_host(session, password_stdin=sudo_password_stdin)
    lock = contextlib.nullcontext() if dry_run else run_lock(settings.cluster.name, "up", session.environ)
    with lock:
        prepared = prepare_up(
            settings,
            host=host,
            env=env,
            options=options,
            reporter=reporter,
            environ=session.environ,
            project_dir=loaded.base_dir,
        )
        failures = preflight_failures(session, prepared)
        if dry_run or failures:
            report = prepared.report()
            if session.machine:
                session.emit({**report.to_dict(), "preflight": failures}, status="error" if failures else "ok")
            else:
                print_plan(session, report, failures=failures)
            if failures:
                raise typer.Exit(1)
            return
        print_summary(session, prepared)
        if prepared.summary()["steps"]:
            confirm(session, "Make these changes to this machine?", yes=yes)
        report = execute_up(prepared, reporter=reporter)
    if session.machine:
        session.emit(report.to_dict(show_secrets=show_password))
    else:
        print_result(session, report, show_password=show_password)
