"""Blocked patterns, matched after Unicode normalisation so look-alikes and invisible characters do not
slip past: NFKC (full-width and compatibility forms fold to ASCII), case folding, invisible characters removed
(zero-width, soft hyphen, bidi controls, variation selectors, tags: see ``IGNORABLE_RANGES``), runs of
whitespace collapsed (to one newline where they contain one, else one space; the blocked-pattern matcher also
treats newlines as spaces, the injection heuristics use line starts).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from llmops_cli.gateway.policy.model import BlockedPattern

# Removed before matching: Unicode's Default_Ignorable_Code_Point set (zero-width characters, soft hyphen,
# bidi controls and isolates, variation selectors, Mongolian free variation selectors, Hangul fillers, tag
# characters, the combining grapheme joiner, ...) plus every other format character (category Cf, e.g. the
# Arabic letter mark), so none of them can split a blocked phrase or an injection keyword.
IGNORABLE_RANGES = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
_INVISIBLE = dict.fromkeys(c for lo, hi in IGNORABLE_RANGES for c in range(lo, hi + 1))
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
    """Blocked patterns as few compiled regexes as their semantics allow: literals (escaped) and plain regexes
    share one alternation, so the usual policy costs one ``search`` per request; a regex that cannot join it
    without changing meaning (capturing groups: backreferences and group numbers would shift; global inline
    flags that do not fold into a scoped group) is compiled and searched on its own.

    Construction compiles everything that will be searched, so a pattern that fails here is the policy's fault
    (:class:`BlockedMatcher.PatternError` names it); the loader builds a matcher to validate a policy.
    """

    class PatternError(ValueError):
        """Blocked pattern number ``index`` does not compile."""

        def __init__(self, index: int, error: Exception) -> None:
            super().__init__(str(error))
            self.index = index
            self.error = error

    # Leading global flags, e.g. ``(?i)`` or ``(?s)(?i)``: rewritten to one scoped group, ``(?is:...)``.
    _FLAGS = re.compile(r"(?:\(\?[aimsux]+\))+")

    def __init__(self, patterns: Sequence[BlockedPattern]) -> None:
        self.ids = [p.id for p in patterns]
        joined: list[tuple[int, str]] = []
        alone: list[tuple[str, re.Pattern[str]]] = []
        for i, p in enumerate(patterns):
            if not p.regex:
                # the text searched has its newlines turned into spaces: so does the literal
                joined.append((i, re.escape(normalise(p.pattern).replace("\n", " "))))
                continue
            try:
                compiled = re.compile(p.pattern)
            except (re.error, RecursionError, OverflowError, ValueError, MemoryError) as e:
                raise BlockedMatcher.PatternError(i, e) from e
            group = self._joinable(p.pattern, compiled)
            if group is None:
                alone.append((p.id, compiled))
            else:
                joined.append((i, group))
        self._re: re.Pattern[str] | None = None
        if joined:
            try:
                self._re = re.compile("|".join(f"(?P<p{i}>{g})" for i, g in joined))
            except (re.error, RecursionError, OverflowError, MemoryError):  # pragma: no cover - defensive
                # Every part compiles alone: never trade a working policy for the fast path.
                alone.extend((self.ids[i], re.compile(g)) for i, g in joined)
        self._alone = alone

    @classmethod
    def _joinable(cls, pattern: str, compiled: re.Pattern[str]) -> str | None:
        """``pattern`` as a group that means the same inside the shared alternation, or None."""
        if compiled.groups:
            return None
        m = cls._FLAGS.match(pattern)
        if m is None:
            group = f"(?:{pattern})"
        else:
            flags = "".join(dict.fromkeys(c for c in m.group() if c.isalpha()))
            group = f"(?{flags}:{pattern[m.end() :]})"
        try:
            if re.compile(group).groups:
                return None
        except (re.error, RecursionError, OverflowError, ValueError, MemoryError):
            return None
        return group

    @property
    def shared_ids(self) -> list[str]:
        """The ids of the patterns searched together, in the one shared alternation (literals included)."""
        if self._re is None:
            return []
        return [self.ids[int(name[1:])] for name in self._re.groupindex]

    @property
    def alone_ids(self) -> list[str]:
        """The ids of the patterns searched one by one: those with groups of their own, or whose meaning would
        change inside the shared alternation (e.g. a trailing ``#`` comment in verbose mode)."""
        return [pid for pid, _ in self._alone]

    def search(self, normalised: str) -> str | None:
        """The id of the first blocked pattern found, or None."""
        if self._re is None and not self._alone:
            return None
        text = normalised.replace("\n", " ")
        if self._re is not None:
            m = self._re.search(text)
            if m is not None:
                return self.ids[int((m.lastgroup or "p0")[1:])]
        for pid, rx in self._alone:
            if rx.search(text) is not None:
                return pid
        return None
