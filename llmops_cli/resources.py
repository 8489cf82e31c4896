"""Packaged data: ``templates/`` and ``policies/`` ship inside the wheel under ``llmops_cli/_data``.

In a source checkout (tests, editable installs) they are read from the repository root instead.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PKG = Path(__file__).resolve().parent


@cache
def data_dir(name: str) -> Path:
    """Return the directory of a packaged data folder (``templates`` or ``policies``)."""
    packaged = _PKG / "_data" / name
    if packaged.is_dir():
        return packaged
    source = _PKG.parent / name
    if source.is_dir():
        return source
    raise FileNotFoundError(f"llmops data folder {name!r} is missing from this installation")


def templates_dir() -> Path:
    return data_dir("templates")


def policies_dir() -> Path:
    return data_dir("policies")


def is_source_checkout(directory: Path) -> bool:
    """Whether ``directory`` is a checkout of llmops's own repository, whose ``policies/`` ship in the wheel."""
    pyproject = directory / "pyproject.toml"
    if not (directory / "llmops_cli").is_dir() or not pyproject.is_file():
        return False
    import tomllib

    try:
        return bool(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["name"] == "llmops")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return False


def shipped_policy_root(path: str | Path) -> Path | None:
    """The ``policies/`` folder llmops ships that ``path`` lies in (the installed copy, or the tracked one of a
    source checkout), else None. Keys written there would be every user's keys, or would ship in a wheel."""
    target = Path(path).expanduser().resolve()
    roots = [policies_dir().resolve()]
    roots += [parent / "policies" for parent in target.parents if is_source_checkout(parent)]
    return next((root for root in roots if target.is_relative_to(root)), None)
