"""The Typer application: root options and explicit registration of every command and group."""

from __future__ import annotations

from typing import Annotated

import typer

from llmops_cli import __version__
from llmops_cli.cli import (
    config,
    doctor,
    down,
    gateway,
    govern,
    init,
    promote,
    render,
    status,
    sync,
    up,
    verify,
    version,
)
from llmops_cli.cli.session import Session
from llmops_cli.errors import EXIT_CODES_HELP

HELP = (
    "llmops: a governed LLM platform on Kubernetes, from a laptop to cloud VMs.\n\n"
    "Bootstrap k3s + NVIDIA GPU + Argo CD, render vLLM, the Policy Gateway, pgvector and observability "
    "as a GitOps tree, gate releases on governance evidence, and promote them over SSH."
)

app = typer.Typer(
    name="llmops",
    help=HELP,
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        print(f"llmops {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    config_path: Annotated[
        str | None,
        typer.Option(
            "--config",
            "-c",
            metavar="PATH",
            help="llmops.yaml to use (default: ./llmops.yaml if present, else built-in defaults). "
            "Env: LLMOPS_CONFIG.",
        ),
    ] = None,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, show_default=False, help="More output; tracebacks.")
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and data.")] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colours (also NO_COLOR).")] = False,
    _version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    from llmops_cli.__main__ import set_verbosity

    set_verbosity(verbose)
    session = Session(config_path=config_path, verbosity=verbose, quiet=quiet, no_color=no_color)
    ctx.obj = session
    from llmops_cli.__main__ import set_session

    set_session(session)


# Explicit registration, in the order `llmops --help` lists them.
app.command("init", help="Create llmops.yaml and starter policies (interactive, or flags / --yes).")(init.command)
app.add_typer(config.app, name="config", help="Validate, show and describe llmops.yaml.")
app.command("doctor", help="Check this host for k3s, GPU and platform readiness.")(doctor.command)
app.command("up", help="Install k3s, GPU support and Argo CD, then deploy the platform.")(up.command)
app.command("status", help="Show nodes, GPUs, Argo CD applications and endpoints.")(status.command)
app.command("down", help="Remove the platform (and optionally k3s) from this host.")(down.command)
app.command("sync", help="Push the re-rendered tree to the in-cluster Git server.")(sync.command)
app.command("render", help="Render the platform as a GitOps tree (manifests/<env>/...).")(render.command)
app.command("verify", help="Check config, policies and the rendered tree offline, as CI would.")(verify.command)
app.add_typer(govern.app, name="govern", help="Governance as code: data, bias, model card, risk, policies.")
app.add_typer(gateway.app, name="gateway", help="Run and manage the Policy Gateway (OpenAI-compatible proxy).")
app.command("promote", help="Promote a release to an environment behind the governance gate.")(promote.command)
app.command("version", help="Print llmops's version, or every pinned upstream version with --all.")(
    version.command
)
