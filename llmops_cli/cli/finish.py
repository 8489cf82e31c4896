"""The house's conventions, applied to a command once Typer has built it.

Typer builds each command from its function; this pass then gives every command and group in the tree the same
shape, so no command module has to remember it:

* **Examples stay one per line.** Click rewraps every help paragraph; an ``Examples:`` block becomes a
  ``\\b`` paragraph (Click's mark for "do not rewrap"), under its heading.
* **Usage lines and metavars in one style**: arguments as ``NAME`` / ``[NAME]`` (Typer writes ``{name}``),
  options without a metavar of their own get one from their type or name (``auto|on|off``, ``FILE``, ``N``,
  ``MODEL``) instead of Typer's ``<str>``.
* **Root options anywhere**: ``--config/-c``, ``--verbose/-v``, ``--quiet/-q`` and ``--no-color`` are also
  (hidden) options of every group and command and update the run's Session, so ``llmops doctor --no-color``
  works as ``llmops --no-color doctor`` does (kubectl's global flags).
"""

from __future__ import annotations

import re
from typing import Any

from typer.core import TyperArgument, TyperOption

from llmops_cli.cli.session import get_session

_EXAMPLES = re.compile(r"^(?P<indent>[ \t]*)Examples:[ \t]*\n(?:[ \t]*\n)?(?!\s*\x08)", re.MULTILINE)


def examples_verbatim(text: str | None) -> str | None:
    """Mark the lines after an ``Examples:`` heading as one paragraph Click prints as written."""
    if not text:
        return text
    return _EXAMPLES.sub(lambda m: f"{m['indent']}Examples:\n\n{m['indent']}\b\n", text)


class PlainArgument(TyperArgument):
    """An argument written ``NAME`` (required) or ``[NAME]`` in usage lines; Typer writes ``{name}``."""

    def make_metavar(self, ctx: Any, *, usage: bool = False) -> str:
        var = self.metavar or (self.name or "").upper()
        if self.nargs != 1:
            var += "..."
        return f"[{var}]" if usage and not self.required else var


def _option_metavar(param: Any) -> str:
    choices = getattr(param.type, "choices", None)
    if choices:
        return "|".join(str(getattr(c, "value", c)) for c in choices)
    kind = type(param.type).__name__
    if "Path" in kind:
        dirs, files = getattr(param.type, "dir_okay", True), getattr(param.type, "file_okay", True)
        return "DIR" if dirs and not files else "FILE" if files and not dirs else "PATH"
    if kind in ("IntParamType", "FloatParamType", "IntRange", "FloatRange"):
        return "N"
    longest = max(param.opts, key=len).lstrip("-")
    return longest.rsplit("-", 1)[-1].upper()


def _set_config(ctx: Any, _param: Any, value: str | None) -> None:
    if value is not None:
        get_session(ctx).apply_root_options(config_path=value)


def _add_verbosity(ctx: Any, _param: Any, value: int) -> None:
    if value:
        get_session(ctx).apply_root_options(verbosity=value)


def _set_quiet(ctx: Any, _param: Any, value: bool) -> None:
    if value:
        get_session(ctx).apply_root_options(quiet=True)


def _set_no_color(ctx: Any, _param: Any, value: bool) -> None:
    if value:
        get_session(ctx).apply_root_options(no_color=True)


def _root_options() -> list[Any]:
    def hidden(decls: list[str], callback: Any, **kind: Any) -> Any:
        return TyperOption(param_decls=decls, callback=callback, hidden=True, expose_value=False, **kind)

    return [
        hidden(["--config", "-c", "root_config"], _set_config, type=str),
        hidden(["--verbose", "-v", "root_verbose"], _add_verbosity, count=True),
        hidden(["--quiet", "-q", "root_quiet"], _set_quiet, is_flag=True),
        hidden(["--no-color", "root_no_color"], _set_no_color, is_flag=True),
    ]


def finish(command: Any) -> Any:
    """Apply the conventions above to ``command`` and everything under it; return it."""
    command.help = examples_verbatim(command.help)
    taken = {opt for p in command.params for opt in getattr(p, "opts", ())}
    for param in command.params:
        if isinstance(param, TyperArgument) and not isinstance(param, PlainArgument):
            param.__class__ = PlainArgument  # the same object, with the usage line written our way
        elif isinstance(param, TyperOption) and param.metavar is None and not (param.is_flag or param.count):
            param.metavar = _option_metavar(param)
    command.params.extend(p for p in _root_options() if not taken.intersection(p.opts))
    for sub in (getattr(command, "commands", None) or {}).values():
        finish(sub)
    return command
