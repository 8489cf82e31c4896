"""Blocked patterns, matched after Unicode normalisation so look-alikes and invisible characters do not
slip past: NFKC (full-width and compatibility forms fold to ASCII), case folding, zero-width and soft-hyphen
characters removed, runs of whitespace collapsed (to one newline where they contain one, else one space; the
blocked-pattern matcher also treats newlines as spaces, the injection heuristics use line starts).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from llmops_cli.gateway.policy.model import BlockedPattern

_INVISIBLE = dict.fromkeys(
    map(ord, "\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u180e\u034f")
)
_NL = re.compile(r"\s*\n\s*")
_WS = re.compile(r"[^\S\n]+")


def normalise(text: str) -> str:
    if text.isascii():
        s = text.lower()
        # printable ASCII has no whitespace but the plain space: only double spaces need collapsing
        if s.isprintable() and "  " not in s:
            return s
    else:
        s = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).casefold()
    if "\n" in s:
        s = _NL.sub("\n", s)
    return _WS.sub(" ", s)


class BlockedMatcher:
    """One compiled alternation over all blocked patterns (literals escaped, regexes as given)."""

    def __init__(self, patterns: Sequence[BlockedPattern]) -> None:
        self.ids = [p.id for p in patterns]
        parts = [
            f"(?P<p{i}>{p.pattern if p.regex else re.escape(normalise(p.pattern))})" for i, p in enumerate(patterns)
        ]
        self._re = re.compile("|".join(parts)) if parts else None

    def search(self, normalised: str) -> str | None:
        """The id of the first blocked pattern found, or None."""
        if self._re is None:
            return None
        m = self._re.search(normalised.replace("\n", " "))
        if m is None:
            return None
        return self.ids[int((m.lastgroup or "p0")[1:])]
