"""When a human-written documentation field counts as given: not blank, and not a placeholder."""

from __future__ import annotations

from typing import Any

# Written in templates and left behind: a field that says one of these says nothing.
PLACEHOLDERS = frozenset(
    {"", "tbd", "tbc", "todo", "to do", "-", "--", "—", "–", "?", "...", "…", "n/a", "na", "none", "null", "xxx"}
)


def present(value: Any) -> bool:
    """Whether a documentation field says something: blanks and placeholders ("TBD", "-") count as missing;
    a list or mapping counts when any item does."""
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip().lower() not in PLACEHOLDERS
    if isinstance(value, list):
        return any(present(v) for v in value)
    if isinstance(value, dict):
        return any(present(v) for v in value.values())
    return True
