"""Personal-data detectors with validators: e-mail, phone, credit card (Luhn), IBAN (ISO 7064 mod 97-10),
US SSN, IPv4/IPv6 (parsed by ``ipaddress``) and secrets that look like API keys or PEM private keys.

Each detector is a regex plus an optional validator; detectors run in priority order and a later one never
claims characters an earlier one matched (a card number is not also a phone number). A candidate is not only
the regex's longest match: when that fails its validator or overlaps an earlier finding, shorter candidates
from the same start (ending where the pattern's own right context allows, e.g. a card before a CVV) and later
starts inside it are tried too (an SSN then a card: both are found).

Every pattern runs in linear time on adversarial input: unbounded runs only start where the run starts
(look-behinds) and are possessive, the rest are bounded, and the retries share a budget linear in the text
(:data:`RETRY_BUDGET_PER_CHAR`); once it is spent, a detector falls back to its longest matches only.
"""

from __future__ import annotations

import ipaddress
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from llmops_cli.gateway.policy.prefilter import Prefilter

PLACEHOLDER = "[REDACTED:{kind}]"


# The Luhn sum of a doubled digit, as a digit (2 × 7 = 14 → 1 + 4 = 5).
_LUHN_DOUBLE = str.maketrans("0123456789", "0246813579")


def luhn_ok(digits: str) -> bool:
    if not digits.isascii():  # any Unicode decimal digit, as `\d` matches them
        digits = "".join([str(int(ch)) for ch in digits])
    total = sum(map(int, digits[-1::-2])) + sum(map(int, digits[-2::-2].translate(_LUHN_DOUBLE)))
    return total % 10 == 0


def _card_ok(text: str) -> bool:
    digits = text.replace(" ", "").replace("-", "")  # the pattern's only separators
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


# How card numbers are written: unseparated, 4-4-4-4(-3), or 4-6-5 / 4-6-4 (Amex, Diners).
_CARD_LAYOUT = re.compile(r"\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{3})?|\d{4}([ -])\d{6}\2\d{4,5}")


def _card_part_ok(text: str) -> bool:
    """A card number found inside a longer run of digits must also be laid out like one."""
    return _CARD_LAYOUT.fullmatch(text) is not None and _card_ok(text)


# Lengths per country (ISO 13616 registry); unknown countries fall back to 15..34.
_IBAN_LEN = {
    "AD": 24,
    "AE": 23,
    "AL": 28,
    "AT": 20,
    "AZ": 28,
    "BA": 20,
    "BE": 16,
    "BG": 22,
    "BH": 22,
    "BR": 29,
    "CH": 21,
    "CR": 22,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DK": 18,
    "DO": 28,
    "EE": 20,
    "ES": 24,
    "FI": 18,
    "FO": 18,
    "FR": 27,
    "GB": 22,
    "GE": 22,
    "GI": 23,
    "GL": 18,
    "GR": 27,
    "GT": 28,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IL": 23,
    "IS": 26,
    "IT": 27,
    "JO": 30,
    "KW": 30,
    "KZ": 20,
    "LB": 28,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "MC": 27,
    "MD": 24,
    "ME": 22,
    "MK": 19,
    "MR": 27,
    "MT": 31,
    "MU": 30,
    "NL": 18,
    "NO": 15,
    "PK": 24,
    "PL": 28,
    "PS": 29,
    "PT": 25,
    "QA": 29,
    "RO": 24,
    "RS": 22,
    "SA": 24,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
    "TN": 24,
    "TR": 26,
    "UA": 29,
    "VG": 24,
    "XK": 20,
}


def iban_ok(text: str) -> bool:
    s = re.sub(r"\s", "", text).upper()
    want = _IBAN_LEN.get(s[:2])
    if (want is not None and len(s) != want) or not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    num = "".join(str(int(c, 36)) for c in moved)
    return int(num) % 97 == 1


def _ip_ok(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _phone_ok(text: str) -> bool:
    n = len(text) - sum(map(text.count, " .-()+"))  # digits: what is left of a match besides its separators
    return 7 <= n <= 15


@dataclass(frozen=True)
class Detector:
    """``regex`` finds candidates, ``validate`` confirms them. ``pre`` is a cheaper necessary condition: every
    candidate that validates contains a match of it. All ``pre`` patterns are checked in one pass
    (:mod:`.prefilter`) and a detector runs only where its own hit; ``tests/gateway/test_pii.py`` checks that
    this never changes a result. ``tail`` is the right context the pattern's trailing look-ahead demands: a
    shorter candidate (same start, ending at an earlier word boundary) must satisfy it at its end; None: the
    detector tries no shorter candidates. ``retry_invalid``: whether a candidate that fails ``validate`` is
    retried (shorter, later starts) as well as one that overlaps an earlier finding; a checksum that fails
    says nothing about a shorter number, but a digit count that is too high does (it is one longer number).
    ``validate_retry`` replaces ``validate`` for those retried candidates (a part of a longer number needs more
    evidence than a number on its own)."""

    kind: str
    regex: re.Pattern[str]
    pre: str
    validate: Callable[[str], bool] | None = None
    tail: re.Pattern[str] | None = None
    retry_invalid: bool = True
    validate_retry: Callable[[str], bool] | None = None


# JSON text (tool-call arguments) is scanned masked (see ``jsontext.JsonEscapes``): the escapes of characters that
# must stay escaped become private-use placeholders, U+E000 + the character's code, and an unescaped `"` (where
# a JSON string starts or ends) becomes JSON_DELIM. To every pattern but the key block's they are punctuation, as
# the characters they stand for are; the key block reads the line-break and tab ones as whitespace and the
# backslash one as a backslash (a JSON `\\n` is a literal `\n` in the value). JSON_OPAQUE stands for an escape
# restored from a saved list: no pattern may match it, nor JSON_DELIM (a finding never leaves its string).
JSON_ESCAPED = 0xE000  # + the code of `"`, `\` or a control character
JSON_TAB, JSON_LF, JSON_CR = "\ue009", "\ue00a", "\ue00d"
JSON_QUOTE, JSON_BACKSLASH = "\ue022", "\ue05c"
JSON_DELIM = "\ue020"
JSON_OPAQUE = "\ue07f"
JSON_RESERVED = (0xE000, 0xE07F)  # a literal character in this range is itself saved as opaque

# PEM private keys: the whole block. With an END line: everything up to it (base64, whitespace or literal
# `\n` escapes, RFC 1421 / OpenPGP armor headers). Without one: the header and the lines after it that are a
# single base64 token (or an armor header), and long tokens on the header's line (a key pasted on one line).
# The body never contains `-----`, so each BEGIN scans only up to the next one: linear.
_PEM_LABEL = r"[A-Z ]*PRIVATE KEY(?: BLOCK)?"
_BS = rf"[\\{JSON_BACKSLASH}]"  # a backslash, or an escaped one in JSON text
_PEM_ARMOR = (
    r"(?:Proc-Type|DEK-Info|Version|Comment|Charset|Hash):"
    rf"(?:[^\r\n\\{JSON_LF}{JSON_CR}{JSON_BACKSLASH}{JSON_DELIM}{JSON_OPAQUE}-]++|-(?!----))*+"
)
_PEM_SPACE = rf"\s{JSON_TAB}{JSON_LF}{JSON_CR}"  # (in a character class) whitespace
_PEM_HSPACE = rf"(?:[^\S\r\n]|{JSON_TAB})"  # whitespace but a line break
_PEM_EOL = rf"(?:\r?\n|(?:{_BS}r)?{_BS}n|{JSON_CR}?{JSON_LF})"
# Where a base64 line ends: a line break, the end of the text, or a quote (the end of a string in code or JSON).
_PEM_LINE_END = rf"(?:[\r\n\"'{JSON_LF}{JSON_CR}{JSON_QUOTE}{JSON_DELIM}]|{_BS}[rn]|\Z)"
PEM = (
    rf"-----BEGIN {_PEM_LABEL}-----"
    rf"(?:(?:[{_PEM_SPACE}]++|{_BS}[rn]|{_PEM_ARMOR}|[A-Za-z0-9+/=]++)*+-----END {_PEM_LABEL}-----"
    rf"|(?:(?:{_PEM_HSPACE}*+{_PEM_EOL})++{_PEM_HSPACE}*+"
    rf"(?:{_PEM_ARMOR}|[A-Za-z0-9+/=]++(?={_PEM_HSPACE}*+{_PEM_LINE_END}))"
    rf"|{_PEM_HSPACE}++[A-Za-z0-9+/=]{{16,}}+)*+)"
)

DETECTORS: tuple[Detector, ...] = (
    Detector(
        "secret",
        re.compile(
            r"(?<![A-Za-z0-9_-])(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}"
            r"|github_pat_[A-Za-z0-9_]{22,}|xox[abposr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}"
            r"|llmops-[A-Za-z0-9_-]{40,}|hf_[A-Za-z0-9]{30,}|glpat-[A-Za-z0-9_-]{20}"
            r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
            r"|" + PEM + ")"
        ),
        pre=r"sk-|AKIA|gh[pousr]_|github_pat_|xox[abposr]-|AIza|llmops-|hf_|glpat-|eyJ|-----BEGIN ",
    ),
    Detector(
        "email",
        # The local part starts where its run starts (look-behind), so no run is scanned twice.
        re.compile(r"(?<![A-Za-z0-9_.%+-])[A-Za-z0-9_.%+-]++@[A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)*\.[A-Za-z]{2,}"),
        pre=r"@",
    ),
    Detector(
        "iban",
        re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![A-Za-z0-9])", re.I),
        validate=iban_ok,
        pre=r"(?i)[a-z]{2}\d\d",
        tail=re.compile(r"(?![A-Za-z0-9])", re.I),
    ),
    Detector(
        "credit_card",
        re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])"),
        validate=_card_ok,
        pre=r"\d(?:[ -]?\d){12}",
        tail=re.compile(r"(?![\d-])"),
        validate_retry=_card_part_ok,
    ),
    Detector(
        "us_ssn",
        re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])"),
        pre=r"\d\d\d-\d\d-\d\d\d\d",
    ),
    Detector(
        "ip_address",
        re.compile(
            # IPv4 may end a sentence (`… 10.0.0.1.`) but not continue as a longer dotted number (`1.2.3.4.5`)
            r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\w)"
            r"|(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){1,7}(?::|(?::[0-9A-Fa-f]{1,4}){1,7}|[0-9A-Fa-f]{1,4})(?![\w:])"
            r"|(?<![\w:])::(?:[0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{1,4}(?![\w:])"
        ),
        validate=_ip_ok,
        # IPv4: four dotted numbers; IPv6: a valid address has two colons at most four hex digits apart
        pre=r"\d\.\d{1,3}\.\d{1,3}\.\d|:[0-9A-Fa-f]{0,4}:",
    ),
    Detector(
        "phone",
        re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,5}(?:[ .-]?\d{2,5}){1,4}(?![\w])"),
        validate=_phone_ok,
        # seven digits (the validator's minimum), at most two of ` .()-` between neighbours
        pre=r"\d(?:[ .()-]{0,2}\d){6}",
        tail=re.compile(r"(?!\w)"),
        retry_invalid=False,  # more than 15 digits is not a phone number followed by more digits
    ),
)
KINDS = tuple(d.kind for d in DETECTORS)
PREFILTER = Prefilter([d.pre for d in DETECTORS])


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int


# Retries (shorter candidates, later starts) a detector may spend per character of text, on top of a fixed
# allowance: ordinary text never comes close, adversarial digit soup stays linear (then longest matches only).
RETRY_BUDGET_PER_CHAR = 1 / 16
_RETRY_BUDGET_MIN = 64
# Where a shorter candidate may end: after a word character, before a non-word character.
_WORD_END = re.compile(r"(?<=\w)(?!\w)")


def _scan(det: Detector, text: str, cs: list[int], ce: list[int]) -> list[tuple[int, int]]:
    """One detector's findings, left to right, avoiding the claimed spans ``cs[i]..ce[i]`` (sorted, disjoint)."""
    rx, validate, tail = det.regex, det.validate, det.tail
    recheck = det.validate_retry or validate
    budget = _RETRY_BUDGET_MIN + int(len(text) * RETRY_BUDGET_PER_CHAR)
    nclaims = len(cs)
    spans: list[tuple[int, int]] = []
    pos = 0
    retry_to = 0  # candidates starting before this lie inside a failed one: retries
    while True:
        m = rx.search(text, pos)
        if m is None:
            return spans
        s, e = m.span()
        limit = e  # a candidate from s must end by here (the start of a claimed span it would overlap)
        if nclaims:
            j = bisect_right(ce, s)
            if j < nclaims and cs[j] < e:
                if cs[j] <= s:  # starts inside a claimed span: go on after it
                    pos = ce[j]
                    continue
                limit = cs[j]
        check = recheck if s < retry_to else validate
        if limit == e:
            if check is None or check(text[s:e]):
                spans.append((s, e))
                pos = e
                continue
            if not det.retry_invalid:
                pos = e
                continue
        if budget <= 0:  # spent: the longest match only, as a plain finditer would
            pos = e
            continue
        if e > retry_to:
            retry_to = e
        end = -1
        if tail is not None:  # shorter candidates from s, longest first
            hi = limit if limit < e else e - 1
            for p in reversed([w.start() for w in _WORD_END.finditer(text, s + 1, hi)]):
                budget -= 1
                if tail.match(text, p) and rx.fullmatch(text, s, p) and (recheck is None or recheck(text[s:p])):
                    end = p
                    break
                if budget <= 0:
                    break
        if end > 0:
            spans.append((s, end))
            pos = end
        else:
            budget -= 1
            pos = s + 1  # later starts inside the failed candidate (the pattern's look-behinds decide which)


def find(text: str, kinds: Iterable[str] | None = None) -> list[Finding]:
    """All non-overlapping findings in ``text``, sorted by position."""
    hits = PREFILTER.hits(text)
    if not hits:
        return []
    wanted = KINDS if kinds is None else kinds if isinstance(kinds, dict | set | frozenset) else set(kinds)
    cs: list[int] = []
    ce: list[int] = []
    found: list[Finding] = []
    for i in hits:
        det = DETECTORS[i]
        if det.kind not in wanted:
            continue
        spans = _scan(det, text, cs, ce)
        if not spans:
            continue
        kind = det.kind
        found.extend([Finding(kind, s, e) for s, e in spans])
        if cs:
            merged = sorted([*zip(cs, ce, strict=True), *spans])
            cs = [a for a, _ in merged]
            ce = [b for _, b in merged]
        else:
            cs = [a for a, _ in spans]
            ce = [b for _, b in spans]
    found.sort(key=lambda f: f.start)
    return found


def redact(text: str, findings: Iterable[Finding]) -> str:
    out: list[str] = []
    pos = 0
    for f in findings:
        out.append(text[pos : f.start])
        out.append(PLACEHOLDER.format(kind=f.kind.upper()))
        pos = f.end
    out.append(text[pos:])
    return "".join(out)


# The private-key pieces the streaming hold-back window (``gateway.holdback``) builds its live-run pattern
# from, so both always agree on what a key block looks like.
PEM_LABEL, PEM_SPACE, PEM_ARMOR, BACKSLASH = _PEM_LABEL, _PEM_SPACE, _PEM_ARMOR, _BS
