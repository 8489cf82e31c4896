"""`llmops`, `llmops --help` / `-h` and `llmops --version` without importing Typer.

They are the commands people type first and most, and Typer's import alone is most of the time they took. The
text is what Typer (its bundled Click formatter, plain mode) prints for the root group built in ``app``: the
same width rule, wrapping and layout, from the same strings (``registry``); a test compares the two at several
terminal widths. Anything else, including these options combined with others, goes through Typer.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Sequence

from llmops_cli import __version__
from llmops_cli.cli.registry import COMMANDS, HELP, ROOT_OPTIONS
from llmops_cli.errors import EXIT_CODES_HELP


class _Wrapper(textwrap.TextWrapper):
    """Click's wrapper: a word longer than the line is cut at the line's end (no hyphen search)."""

    def _handle_long_word(self, reversed_chunks: list[str], cur_line: list[str], cur_len: int, width: int) -> None:
        space_left = max(width - cur_len, 1)
        last = reversed_chunks[-1]
        cur_line.append(last[:space_left])
        reversed_chunks[-1] = last[space_left:]


def _columns() -> int:
    """``shutil.get_terminal_size().columns`` (what Click asks), without importing shutil."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


def _wrap(text: str, width: int, indent: str = "") -> str:
    """Click's ``wrap_text(..., preserve_paragraphs=True)`` for plain paragraphs (no ``\\b`` blocks)."""
    wrapper = _Wrapper(width, initial_indent=indent, subsequent_indent=indent, replace_whitespace=False)
    paragraphs = [" ".join(line.strip() for line in p.splitlines()) for p in text.expandtabs().split("\n\n")]
    return "\n\n".join(wrapper.fill(p) for p in paragraphs if p.strip())


def _rows(rows: Sequence[tuple[str, str]], width: int) -> str:
    """Click's ``write_dl`` at indent 2."""
    first_col = min(max(len(a) for a, _ in rows), 30) + 2
    out = []
    for first, second in rows:
        line = f"  {first}"
        if len(first) <= first_col - 2:
            line += " " * (first_col - len(first))
        else:
            line += "\n" + " " * (first_col + 2)
        lines = _wrap(second, max(width - first_col - 2, 10)).splitlines()
        out.append(line + lines[0] + "\n")
        out.extend(" " * (first_col + 2) + more + "\n" for more in lines[1:])
    return "".join(out)


def render(columns: int | None = None) -> str:
    """The root help, as Typer prints it (ending in one newline)."""
    width = max(min(_columns() if columns is None else columns, 80) - 2, 50)
    prefix = "Usage: llmops "
    usage = _Wrapper(width, initial_indent=prefix, subsequent_indent=" " * len(prefix), replace_whitespace=False)
    parts = [
        usage.fill("[OPTIONS] COMMAND [ARGS]...") + "\n",
        "\n" + _wrap(HELP.strip(), width, "  ") + "\n",
        "\nOptions:\n" + _rows(ROOT_OPTIONS, width),
        "\nCommands:\n" + _rows([(name, text) for name, _m, _a, text in COMMANDS], width),
        "\n" + _wrap(EXIT_CODES_HELP.strip(), width, "  ") + "\n",
    ]
    return "".join(parts).rstrip("\n") + "\n"


def answer(args: list[str]) -> int | None:
    """Print the answer and return the exit code when ``args`` is one of the root's own: no arguments (the
    help on stderr, exit 2, as Click's ``no_args_is_help``), ``--help`` / ``-h``, or ``--version``; else None."""
    if not args:
        sys.stderr.write(render())
        sys.stderr.flush()
        return 2
    if len(args) == 1 and args[0] in ("--help", "-h"):
        sys.stdout.write(render())
        return 0
    if args == ["--version"]:
        sys.stdout.write(f"llmops {__version__}\n")
        return 0
    return None
