"""The normalised view the personal-data detectors read: NFKC (full-width digits, ``＠``, ``﹫``, ``－`` and
no-break or thin spaces fold to ASCII), invisible characters removed (zero-width characters, soft hyphens, bidi
controls: ``patterns.IGNORABLE_RANGES``) and Unicode dashes read as ``-``, so what a model's tokenizer reads as an
e-mail address is one to the detectors too, combining marks (strikethrough, underline, keycaps, accents
drawn on the character before them) read as nothing, and digit signs NFKC keeps (`❶`, `➀`) or expands (`⑴`)
read as their digit; and the way back from a span of the view to the span of the text it
came from (:func:`text_spans`), invisible characters inside it included."""

from __future__ import annotations

import functools
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from functools import partial
from itertools import accumulate
from typing import Any

from llmops_cli.gateway.policy.patterns import (
    ASTRAL,
    IGNORABLE_RANGES,
    INVISIBLE,
    LATIN_TABLE,
    MARK_CATEGORIES,
    astral_marks,
    char_class,
    mark_ranges,
    normalise,
)

# Read as ASCII though NFKC keeps them: Unicode hyphens, dashes and the minus sign (U+2011 and U+FE58 reach these
# through NFKC), the Ogham space mark, ideographic full stops, the ratio sign, and Latin look-alike letters.
_LOOKALIKE = {
    **dict.fromkeys([0x2010, 0x2012, 0x2013, 0x2014, 0x2015, 0x2043, 0x2212], "-"),
    0x1680: " ",
    0x3002: ".",
    0x2236: ":",
    **LATIN_TABLE,
}
_TABLE: dict[int, Any] = {**INVISIBLE, **_LOOKALIKE}


@functools.cache
def digit_signs() -> dict[int, str]:
    """Characters that are a digit sign (Unicode ``Numeric_Type=Digit``, category No) but that NFKC does not fold
    to that digit: circled (`⓵`, `❶`, `➀`, `➊`), parenthesized (`⑴`, NFKC `(1)`) and full-stop (`⒈`, `1.`)
    digits, other scripts' digit signs. A model reads `❹❶❶❶` as 4111; so does the view. Built on first use."""
    out: dict[int, str] = {}
    chars = "".join(map(chr, range(0x80, 0x20000)))
    for c, d in zip(chars, map(unicodedata.digit, chars, [None] * len(chars)), strict=True):
        if d is not None and unicodedata.category(c) == "No" and unicodedata.normalize("NFKC", c) != str(d):
            out[ord(c)] = str(d)
    return out


@functools.cache
def _odd_bmp() -> re.Pattern[str]:
    """The characters of the Basic Multilingual Plane that need the view even in NFKC-normalised text: invisible
    ones, look-alike punctuation, combining marks, digit signs. Built on first use (see ``mark_ranges``)."""
    signs = [(c, c) for c in digit_signs()]
    ranges = sorted([*IGNORABLE_RANGES, *mark_ranges(), *((c, c) for c in _LOOKALIKE), *signs])
    return re.compile(f"[{char_class([r for r in ranges if r[1] < 0x10000])}]")


@functools.cache
def _odd_astral() -> frozenset[int]:
    """Invisible characters and digit signs beyond the BMP (marks: ``astral_marks``)."""
    ignorable = (c for lo, hi in IGNORABLE_RANGES if lo >= 0x10000 for c in range(lo, hi + 1))
    return frozenset([*ignorable, *(c for c in digit_signs() if c >= 0x10000)])


def _plain(text: str) -> bool:
    """Whether non-ASCII ``text`` is its own view: NFKC-normalised, no character the view drops or replaces.
    Code points beyond the BMP (emoji) are looked at one by one: ``re`` would search a class of their ranges
    range by range."""
    if not unicodedata.is_normalized("NFKC", text) or _odd_bmp().search(text) is not None:
        return False
    if ASTRAL.search(text) is None:
        return True
    return not astral_marks(text) and _odd_astral().isdisjoint(map(ord, ASTRAL.findall(text)))


class _Fold(dict[str, str]):
    """Character → what the detectors read for it (NFKC, then look-alikes and invisibles; combining marks,
    drawn on the character before them, read as nothing), filled on demand."""

    def __missing__(self, ch: str) -> str:
        if len(self) > 65_536:  # every code point an attacker sends costs an entry: keep it bounded
            self.clear()
        sign = digit_signs().get(ord(ch))
        out = sign if sign is not None else unicodedata.normalize("NFKC", ch).translate(_TABLE)
        if not out.isascii():
            out = "".join(c for c in out if unicodedata.category(c) not in MARK_CATEGORIES)
        self[ch] = out
        return out


_FOLD = _Fold()


class _MarkTable(dict[int, str]):
    """``str.translate``'s table for :func:`fold_back`: code point → what the detectors read for it, and
    ``"\\0"`` for one they read as nothing (so that the translation keeps a place for each dropped character).
    Filled on demand and bounded, as _Fold is."""

    def __missing__(self, code: int) -> str:
        if len(self) > 65_536:
            self.clear()
        out = self[code] = _FOLD[chr(code)] or "\0"
        return out


_MARK_TABLE = _MarkTable()


def fold_back(text: str) -> tuple[str, Callable[[list[tuple[int, int]]], list[tuple[int, int]]] | None]:
    """``(view, back)``: the view of ``text`` (as :func:`fold_parts` makes it) and ``back``, which maps spans of the
    view to the spans of ``text`` they came from (as :func:`text_spans` does); ``back`` is None where offsets
    are unchanged. Where no character becomes several (the usual case: invisible characters dropped, the rest
    one for one) that is one ``str.translate`` pass and one ``str.split``: no work per character in Python."""
    if text.isascii():
        return text, None
    if _plain(text):
        return text, None
    if "\0" not in text:
        marked = text.translate(_MARK_TABLE)  # each dropped character is a NUL here, the rest their folds
        if len(marked) == len(text):  # then every other character became one character
            pieces = marked.split("\0")
            if len(pieces) == 1:
                return marked, None
            gaps = list(accumulate(map(len, pieces[:-1])))  # the view offset of each dropped character's successor
            return "".join(pieces), partial(_spans_after_drops, gaps)
    parts = list(map(_FOLD.__getitem__, text))
    v = "".join(parts)
    return v, partial(text_spans, v, parts)


def _spans_after_drops(gaps: list[int], spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [(s + bisect_right(gaps, s), e + bisect_left(gaps, e)) for s, e in spans]


def fold_parts(text: str) -> tuple[str, list[str] | None]:
    """``(view, parts)``: ``parts[i]`` is what ``text[i]`` became; None where the view is ``text`` itself."""
    if text.isascii():
        return text, None
    if _plain(text):
        return text, None
    parts = list(map(_FOLD.__getitem__, text))
    return "".join(parts), parts


def view(text: str) -> tuple[str, list[int] | None]:
    """``(view, ends)``: what the detectors read, and where each character of ``text`` ends in it
    (``ends[i]`` is the view offset after ``text[i]``); ``ends`` is None where offsets are unchanged. ASCII text
    and NFKC-normalised text without invisible characters or look-alike punctuation are their own view, at the
    cost of one check."""
    v, parts = fold_parts(text)
    if parts is None or (len(v) == len(text) and "" not in parts):  # every character became one character
        return v, None
    return v, list(accumulate(map(len, parts)))


def _dropped(parts: list[str], v: str) -> list[int] | None:
    """Where the view ``v`` (``"".join(parts)``) lost characters, if nothing else changed length: the view offset
    of each dropped character's successor, one entry per dropped character (ascending); None where some
    character became several."""
    k = parts.count("")
    if len(v) != len(parts) - k:  # the kept characters are one each only where the lengths add up
        return None
    gaps: list[int] = []
    i = -1
    for _ in range(k):
        i = parts.index("", i + 1)
        gaps.append(i - len(gaps))
    return gaps


def fold(ch: str) -> str:
    """What the detectors read for one character (``""`` for an invisible one)."""
    return ch if ch.isascii() else _FOLD[ch]


def text_spans(v: str, parts: list[str], spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans of the text that spans of its view ``v`` came from (``v, parts = fold_parts(text)``): from the
    character that became a span's first one to the one that became its last, and all between them."""
    gaps = _dropped(parts, v)
    if gaps is not None:  # the usual case: invisible characters dropped, the rest one for one
        if not gaps:
            return spans
        # (the bisections below over ``ends``, with the ends of the kept characters counted by arithmetic)
        return [(s + bisect_right(gaps, s), e + bisect_left(gaps, e)) for s, e in spans]
    ends = list(accumulate(map(len, parts)))
    return [(bisect_right(ends, s), bisect_left(ends, e) + 1) for s, e in spans]


def warm() -> None:
    """Build the Unicode tables the views build on first use (combining marks, accented letters, digit signs:
    about 60 ms), so that no request waits for them."""
    normalise("\u00e9\u0301\U0001d167")
    view("\u00e9\u0301\u2776")
