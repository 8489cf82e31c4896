"""The Typer application: root options and every command and group, built from ``registry``."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from llmops_cli import __version__
from llmops_cli.cli.registry import COMMANDS, HELP, OPTION_HELP
from llmops_cli.cli.runstate import RunState
from llmops_cli.cli.session import Session
from llmops_cli.errors import EXIT_CODES_HELP


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

        from llmops_cli.cli.finish import finish

        target = getattr(import_module(f"llmops_cli.cli.{module}"), attr)
        if attr == "app":
            # A group is built as its own Typer: keep it consistent with the root (no completion options,
            # plain help text).
            target._add_completion = False
            target.rich_markup_mode = None
            command = get_command(target)
            command.help = command.help or help_text
        else:
            # The command's own docstring (with its examples) is its help; the registry's line is its row in
            # `llmops --help`.
            single = typer.Typer(add_completion=False, rich_markup_mode=None)
            single.command(name, help=None if target.__doc__ else help_text)(target)
            command = get_command(single)
        command.name = name
        return finish(command)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and not args[0].startswith("-") and all(args[0] != name for name, *_ in COMMANDS):
            from difflib import get_close_matches

            close = get_close_matches(args[0].lower(), [name for name, *_ in COMMANDS], n=1, cutoff=0.6)
            ctx.fail(f"No such command {args[0]!r}." + (f" Did you mean {close[0]!r}?" if close else ""))
        return super().resolve_command(ctx, args)

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
            help=OPTION_HELP["config"],
        ),
    ] = None,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, show_default=False, help=OPTION_HELP["verbose"])
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help=OPTION_HELP["quiet"])] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help=OPTION_HELP["no_color"])] = False,
    _version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True, help=OPTION_HELP["version"]),
    ] = False,
) -> None:
    session = Session(config_path=config_path, verbosity=verbose, quiet=quiet, no_color=no_color)
    run = ctx.obj  # the error boundary's RunState; None when a test invokes the app directly
    if isinstance(run, RunState):
        run.verbosity = verbose
        run.session = session
    # Subcommands' contexts are made after this callback returns, so each of them inherits the Session.
    ctx.obj = session
