"""The Typer application: root options and explicit registration of every command and group."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from llmops_cli import __version__
from llmops_cli.cli.session import Session
from llmops_cli.errors import EXIT_CODES_HELP

HELP = (
    "llmops: a governed LLM platform on Kubernetes, from a laptop to cloud VMs.\n\n"
    "Bootstrap k3s + NVIDIA GPU + Argo CD, render vLLM, the Policy Gateway, pgvector and observability "
    "as a GitOps tree, gate releases on governance evidence, and promote them over SSH."
)

class LazyGroup(TyperGroup):
    """The root group: a command's module is imported and its parameters built only when it is invoked.

    Building every command up front (typer inspects each signature and evaluates its annotations) cost more
    than all imports together once the CLI had two dozen commands; `llmops --help` lists the registry's own
    one-line help instead.
    """

    def list_commands(self, ctx: Any) -> list[str]:
        return [name for name, *_ in COMMANDS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        entry = next((c for c in COMMANDS if c[0] == cmd_name), None)
        if entry is None:
            return None
        name, module, attr, help_text = entry
        from importlib import import_module

        from typer.main import get_command

        target = getattr(import_module(f"llmops_cli.cli.{module}"), attr)
        if attr == "app":
            # A group is built as its own Typer: keep it consistent with the root (no completion options,
            # plain help text).
            target._add_completion = False
            target.rich_markup_mode = None
            command = get_command(target)
            command.help = command.help or help_text
        else:
            single = typer.Typer(add_completion=False, rich_markup_mode=None)
            single.command(name, help=help_text)(target)
            command = get_command(single)
        command.name = name
        return command

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = [(name, help_text) for name, _m, _a, help_text in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


app = typer.Typer(
    name="llmops",
    cls=LazyGroup,
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


# Explicit registration, in the order `llmops --help` lists them: (name, module, attribute, help).
# An attribute named `app` is a Typer group; anything else is a single command function.
COMMANDS: tuple[tuple[str, str, str, str], ...] = (
    ("init", "init", "command", "Create llmops.yaml and starter policies (interactive, or flags / --yes)."),
    ("config", "config", "app", "Validate, show and describe llmops.yaml."),
    ("doctor", "doctor", "command", "Check this host for k3s, GPU and platform readiness."),
    ("up", "up", "command", "Install k3s, GPU support and Argo CD, then deploy the platform."),
    ("status", "status", "command", "Show nodes, GPUs, Argo CD applications and endpoints."),
    ("down", "down", "command", "Remove the platform (and optionally k3s) from this host."),
    ("sync", "sync", "command", "Push the re-rendered tree to the in-cluster Git server."),
    ("render", "render", "command", "Render the platform as a GitOps tree (manifests/<env>/...)."),
    ("verify", "verify", "command", "Check config, policies and the rendered tree offline, as CI would."),
    ("govern", "govern", "app", "Governance as code: data, bias, model card, risk, policies."),
    ("gateway", "gateway", "app", "Run and manage the Policy Gateway (OpenAI-compatible proxy)."),
    ("promote", "promote", "command", "Promote a release to an environment behind the governance gate."),
    ("version", "version", "command", "Print llmops's version, or every pinned upstream version with --all."),
)
