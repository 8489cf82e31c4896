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
