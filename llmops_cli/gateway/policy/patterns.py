"""Blocked patterns, matched after Unicode normalisation so look-alikes and invisible characters do not
slip past: NFKC (full-width and compatibility forms fold to ASCII), case folding, invisible characters removed
(zero-width, soft hyphen, bidi controls, variation selectors, tags: see ``IGNORABLE_RANGES``), combining marks
on Latin letters and digits removed, Cyrillic, Greek and Armenian look-alikes in a Latin word read as Latin,
runs of whitespace collapsed (to one newline where they contain a line break: a line feed, a carriage return,
a Unicode line separator, ...; else one space; the blocked-pattern matcher also treats newlines as spaces, the
injection heuristics use line starts).
"""

from __future__ import annotations

import functools
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
INVISIBLE = dict.fromkeys(c for lo, hi in IGNORABLE_RANGES for c in range(lo, hi + 1))
# Line breaks: a chat template hands a carriage return or a Unicode line separator to the model as one, so the
# heuristics that read line starts see a newline for each (`x<CR>system: …` starts a line).
LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_NL = re.compile(rf"\s*[{LINE_BREAKS}]\s*")
_WS = re.compile(r"[^\S\n]+")

# Cyrillic, Greek and Armenian letters that are Latin ones to the eye (Unicode's confusables, UTS #39
# confusables.txt: `0430 ; 0061` CYRILLIC SMALL LETTER A → LATIN SMALL LETTER A, …): `alice@exаmple.com`, `АKIA…`.
# Checked against confusable-homoglyphs 3.3.1's confusables.json (built from confusables.txt): every pair is there
# but χ → x and Ԛ → Q (absent from it); І, Ӏ, Ι → I and ӏ → l are there with the skeletons l and i (I, l and i
# are confusable with each other; here each reads as the Latin letter it is drawn like).
LATIN_LOOKALIKES = {
    "a": "аα", "c": "с", "d": "ԁ", "e": "е", "h": "һ", "i": "іι", "j": "ј", "l": "ӏ", "o": "оοօ", "p": "рρ",
    "q": "ԛ", "s": "ѕ", "u": "ս", "v": "ν", "w": "ԝ", "x": "хχ", "y": "у", "A": "АΑ", "B": "ВΒ", "C": "С",
    "E": "ЕΕ", "H": "НΗ", "I": "ІΙӀ", "J": "Ј", "K": "КΚ", "M": "МΜ", "N": "Ν", "O": "ОΟ", "P": "РΡ",
    "Q": "Ԛ", "S": "Ѕ", "T": "ТΤ", "W": "Ԝ", "X": "ХΧ", "Y": "ҮΥ", "Z": "Ζ",
}  # fmt: skip
LATIN_TABLE = {ord(c): latin for latin, cs in LATIN_LOOKALIKES.items() for c in cs}
_LATIN_LOOKALIKE = re.compile("[" + "".join(map(re.escape, map(chr, LATIN_TABLE))) + "]")
_ASCII_LETTER = re.compile("[A-Za-z]")
# A whole run of letters with an ASCII letter and another one in it: each lookahead scans the run once, from its
# start only (the look-behind), and the possessive run is not backtracked into: linear.
_MIXED_RUN = re.compile(r"(?<![^\W\d_])(?=[^\W\d_]*?[A-Za-z])(?=[^\W\d_]*?[^\x00-\x7f])[^\W\d_]++")


def _latin_word(m: re.Match[str]) -> str:
    return m.group().translate(LATIN_TABLE)


def _fold_mixed_words(s: str) -> str:
    """Words that mix Latin letters with Cyrillic, Greek or Armenian look-alikes of Latin ones (`Prоject` with a
    Cyrillic `о`) read as Latin. A word of one script keeps its letters: Russian and Greek text, and patterns
    written in them (regular expressions included), match as written."""
    if _LATIN_LOOKALIKE.search(s) is None or _ASCII_LETTER.search(s) is None:
        return s
    return _MIXED_RUN.sub(_latin_word, s)


# Nonspacing and enclosing marks (categories Mn, Me) are drawn on the character before them: strikethrough
# (U+0336), underline (U+0332), a keycap (U+20E3), accents, "Zalgo" stacks. On a Latin letter or a digit they
# leave the word a model reads (`P̶r̶o̶j̶e̶c̶t̶`, `Blúebird`), so matching drops them there (after NFKD, which
# takes `ú` apart); on other scripts' letters they stay (Japanese dakuten, Cyrillic breves are letters of their
# own). The detectors' view drops every mark (``textview``).
MARK_CATEGORIES = ("Mn", "Me")


@functools.cache
def mark_ranges() -> tuple[tuple[int, int], ...]:
    """Unicode's nonspacing and enclosing marks (Python's ``unicodedata``) as code point ranges. Built on first
    use (about 25 ms: one category look-up for each code point of the planes that have marks; plane 14's
    variation selectors are in ``IGNORABLE_RANGES``), not at import: ``render`` imports the policy too."""
    chars = "".join(map(chr, range(0x300, 0x20000)))
    out: list[tuple[int, int]] = []
    for c, cat in zip(chars, map(unicodedata.category, chars), strict=True):
        if cat in MARK_CATEGORIES:
            code = ord(c)
            if out and out[-1][1] == code - 1:
                out[-1] = (out[-1][0], code)
            else:
                out.append((code, code))
    return tuple(out)


def char_class(ranges: Sequence[tuple[int, int]]) -> str:
    """The inside of a regex character class for ``ranges``."""
    esc = re.escape
    return "".join(esc(chr(lo)) if lo == hi else f"{esc(chr(lo))}-{esc(chr(hi))}" for lo, hi in ranges)


# Code points beyond the Basic Multilingual Plane. A class with ranges there is searched range by range (100x
# slower than one of BMP ranges, which ``re`` reads from a bitmap): text with such code points (emoji) has them
# looked at one by one instead (``astral_marks``).
ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def astral_marks(text: str) -> bool:
    """Whether ``text`` has a combining mark beyond the Basic Multilingual Plane."""
    category = unicodedata.category
    return any(category(c) in MARK_CATEGORIES for c in ASTRAL.findall(text))


@functools.cache
def _latin_marks() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """(a letter NFKD takes apart into an ASCII letter and marks, such as `ú`; a BMP mark; a run of BMP marks
    after an ASCII character; a run of marks of any plane after one)."""
    ranges = mark_ranges()
    bmp = char_class([r for r in ranges if r[1] < 0x10000])
    astral = char_class([r for r in ranges if r[0] >= 0x10000])
    marks = frozenset(c for lo, hi in ranges for c in range(lo, hi + 1))
    accented = []
    for code in range(0xC0, 0x10000):
        d = unicodedata.normalize("NFKD", chr(code))
        if len(d) > 1 and d[0].isascii() and all(ord(c) in marks for c in d[1:]):
            accented.append((code, code))
    return (
        re.compile(f"[{char_class(accented)}]"),
        re.compile(f"[{bmp}]"),
        re.compile(f"(?<=[\\x00-\\x7f])[{bmp}]+"),
        re.compile(f"(?<=[\\x00-\\x7f])(?:[{bmp}]|[{astral}])+"),
    )


def _fold_latin_marks(s: str) -> str:
    """``s`` (NFKC) without the marks on its ASCII letters and digits, composed ones (`ú`) included."""
    accented, mark, after_bmp, after_any = _latin_marks()
    astral = ASTRAL.search(s) is not None and astral_marks(s)
    if accented.search(s) is None and not astral and (mark.search(s) is None or after_bmp.search(s) is None):
        return s
    d = unicodedata.normalize("NFKD", s)
    return unicodedata.normalize("NFKC", (after_any if astral else after_bmp).sub("", d))


def readable(text: str) -> str:
    """``text`` as a model reads it, in every script: NFKC, invisible characters removed, marks drawn on Latin
    letters and digits removed, a Latin word's Cyrillic, Greek or Armenian look-alikes read as Latin; case and
    whitespace kept. What the injection classifier reads (the detectors' view reads every look-alike as Latin and
    drops every mark, which would garble Russian or Hindi)."""
    if text.isascii():
        return text
    return _fold_mixed_words(_fold_latin_marks(unicodedata.normalize("NFKC", text).translate(INVISIBLE)))


def normalise(text: str) -> str:
    if text.isascii():
        s = text.lower()
        # printable ASCII has no whitespace but the plain space: only double spaces need collapsing
        if s.isprintable() and "  " not in s:
            return s
    else:
        s = readable(text).casefold()
    if "\n" in s or not s.isprintable():  # (every line break but `\n` is unprintable)
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
