"""Personal-data detectors with validators: e-mail, phone (libphonenumber), credit card (Luhn), IBAN (ISO 7064
mod 97-10), US SSN, IPv4/IPv6 (as ``ipaddress`` reads them) and secrets that look like API keys or PEM private keys.

The detectors read a normalised view of the text (:mod:`.textview`: NFKC, invisible characters removed, Unicode
dashes read as ``-``), so what a model's tokenizer reads as an e-mail address is one to the detectors too. A
finding is mapped back to the span of the original text it came from, invisible characters inside it included,
and that span is redacted. Check digits are :mod:`.checksums`'. Case is not
folded: the detectors that care about case (API key prefixes) are case-sensitive by their formats, the rest
ignore it already.

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

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import NamedTuple

from llmops_cli.gateway.policy import phones, textview
from llmops_cli.gateway.policy.checksums import iban_ok, luhn_ok
from llmops_cli.gateway.policy.prefilter import Prefilter

PLACEHOLDER = "[REDACTED:{kind}]"


def _card_ok(text: str) -> bool:
    digits = _ascii_digits(text.replace(" ", "").replace("-", ""))  # the pattern's only separators
    # Issuer prefixes (ISO/IEC 7812 major industry identifiers 3-6 and Mastercard's 2221-2720): a Luhn-valid
    # run that starts otherwise (a millisecond epoch, an order number) is not a payment card.
    return (
        13 <= len(digits) <= 19
        and (digits[0] in "3456" or (digits[0] == "2" and 2221 <= int(digits[:4]) <= 2720))
        and luhn_ok(digits)
    )


# How card numbers are written: unseparated, 4-4-4-4(-3), or 4-6-5 / 4-6-4 (Amex, Diners).
_CARD_LAYOUT = re.compile(r"\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{3})?|\d{4}([ -])\d{6}\2\d{4,5}")


def _card_part_ok(text: str) -> bool:
    """A card number passes Luhn and is laid out like one (a run of 19 digits that mixes separators and passes
    Luhn by chance is a card followed by its expiry date)."""
    return _CARD_LAYOUT.fullmatch(text) is not None and _card_ok(text)


# IPv4 as ``ipaddress`` reads it: four ASCII decimal octets of at most three digits, no leading zero, at most 255.
_V4_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_V4 = re.compile(rf"{_V4_OCTET}(?:\.{_V4_OCTET}){{3}}")


def _v4_ok(text: str) -> bool:
    return _V4.fullmatch(text) is not None


_HEX_DIGITS = frozenset("0123456789ABCDEFabcdef")


def _v6_ok(text: str) -> bool:
    """``ipaddress.IPv6Address`` read the way it reads a string without ``/`` or ``%``, without its exceptions."""
    parts = text.split(":")
    if len(parts) < 3:
        return False
    if "." in parts[-1]:  # an IPv4 tail: two hextets
        if not _v4_ok(parts[-1]):
            return False
        parts[-1:] = ["0", "0"]
    if len(parts) > 9:
        return False
    skip = -1  # where `::` skips a run of zeroes (an empty part between the ends)
    for i in range(1, len(parts) - 1):
        if not parts[i]:
            if skip >= 0:
                return False
            skip = i
    if skip >= 0:
        hi, lo = skip, len(parts) - skip - 1  # parts before and after the `::`
        if not parts[0]:
            hi -= 1
            if hi:
                return False
        if not parts[-1]:
            lo -= 1
            if lo:
                return False
        if hi + lo > 7:
            return False
        parts = parts[:hi] + parts[len(parts) - lo :]
    elif len(parts) != 8:
        return False
    return all(p and len(p) <= 4 and _HEX_DIGITS.issuperset(p) for p in parts)


def _ip_ok(text: str) -> bool:
    """Whether ``ipaddress`` accepts ``text``, read here the way it reads it without its exceptions: IPv4 as ASCII
    decimal octets of at most three digits, no leading zero, at most 255; IPv6 as hextets of at most four ASCII hex
    digits, eight of them or fewer with one `::`, the last two possibly an IPv4 address
    (``tests/gateway/test_pii_fast_patterns.py`` checks it against ``ipaddress``)."""
    if ":" not in text:
        return _v4_ok(text)
    # IPv6: without `::` exactly eight groups, or six and an IPv4 tail (most colon-separated numbers are times).
    if "::" not in text and text.count(":") != (6 if "." in text else 7):
        return False
    return _v6_ok(text)


# Phone numbers: the pattern finds candidates (digit groups with an optional `+country` and `(area)`), and
# libphonenumber (the `phonenumbers` package) decides, on candidates only. International numbers (`+…` or
# `00…`) must be valid numbers of their country. National ones must be valid in the North American plan (ten
# digits, an optional leading `1`) or, with their trunk prefix `0` or their area code in parentheses, in one of
# _NATIONAL_CC; one-digit groups pass only after a country code (`+33 1 …`) or as NANP's leading `1`. A run of
# digits without separators or `+` is a phone number only as a valid NANP number (`0…` runs are ids, amounts
# and padded counters far more often). Dates in the candidate (`2024-01-15 10`, `15.01.2024`), a last group
# of one digit (an ISBN's check digit) and digit groups right before it (a timestamp, a card's expiry and
# CVV) rule it out. No rule reads words around the candidate: a streamed reply is redacted with what is held,
# and the words before a number may have left already.
_NATIONAL_CC = (44, 49, 33, 91, 61, 81, 55, 972)  # GB, DE, FR, IN, AU, JP, BR, IL (and NANP: 1)
_DIGIT_RUN = re.compile(r"\d+")
_DATE_IN = re.compile(
    r"(?<!\d)(?:(?:19|20)\d\d([ ./-])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])([ ./-])(?:0?[1-9]|[12]\d|3[01])\2(?:19|20)\d\d)(?!\d)"
)


def _ascii_digits(s: str) -> str:
    return s if s.isascii() else "".join(str(unicodedata.digit(c)) for c in s)


@lru_cache(maxsize=4096)
def _valid_international(digits: str) -> bool:
    return phones.valid_international(digits)


@lru_cache(maxsize=4096)
def _valid_national(digits: str, parens: bool, bare: bool) -> bool:
    valid = phones.valid_number

    nanp = digits[1:] if len(digits) == 11 and digits[0] == "1" else digits
    if len(nanp) == 10 and nanp[0] not in "01" and valid(1, nanp):
        return True
    if bare:
        return False
    if digits[0] == "0":
        return any(valid(cc, digits[1:]) for cc in _NATIONAL_CC)
    return parens and any(valid(cc, digits) for cc in _NATIONAL_CC)


def _phone_ok(text: str, s: int, e: int) -> bool:
    # The cheap refusals first: fewer than 7 characters, a last group of one digit (the candidate ends in a
    # digit), the rest of a longer run of digit groups (a timestamp, a card's expiry and CVV).
    if e - s < 7 or not text[e - 2].isdecimal():
        return False
    if s > 1 and text[s - 1] in " .-" and text[s - 2].isdecimal():
        return False
    cand = text[s:e]
    groups = _DIGIT_RUN.findall(cand)
    digits = "".join(groups)
    if not 7 <= len(digits) <= 15:
        return False
    # A date is three digit groups, one of them a year (19xx, 20xx).
    if len(groups) > 2 and ("19" in cand or "20" in cand) and _DATE_IN.search(cand) is not None:
        return False
    digits = _ascii_digits(digits)
    if cand[0] == "+":
        return _valid_international(digits)
    if digits.startswith("00"):  # the international call prefix
        return _valid_international(digits[2:])
    if len(groups[0]) == 1 and digits[0] != "1":
        return False
    if len(groups) == 1:
        return _valid_national(digits, False, True)
    if 1 in map(len, groups[1:]):
        return False
    return _valid_national(digits, "(" in cand, False)


def _whole(check: Callable[[str], bool]) -> Callable[[str, int, int], bool]:
    """A validator of the candidate alone, as one of ``(text, start, end)``."""
    return lambda text, s, e: check(text[s:e])


def _aws_secret_ok(text: str, s: int, e: int) -> bool:
    v = text[s:e]
    return any(c.isdigit() for c in v) and any(c.isupper() for c in v) and any(c.islower() for c in v)


@dataclass(frozen=True)
class Detector:
    """``regex`` finds candidates, ``validate`` confirms them. ``pre`` is a cheaper necessary condition: every finding,
    with the character on each side of it (two before it for phone numbers), contains a match of it. All ``pre``
    patterns are checked in one pass (:mod:`.prefilter`) and a detector runs only where its own hit;
    ``tests/gateway/test_pii.py`` checks that this never changes a result. ``tail`` is the right context the pattern's
    trailing look-ahead demands: a shorter candidate (same start, ending at an earlier word boundary) must satisfy it at
    its end; None: the detector tries no shorter candidates. ``retry_invalid``: whether a candidate that fails
    ``validate`` is retried (shorter, later starts) as well as one that overlaps an earlier finding; a checksum that
    fails says nothing about a shorter number, but a digit count that is too high does (it is one longer number).
    ``validate_retry`` replaces ``validate`` for those retried candidates (a part of a longer number needs more evidence
    than a number on its own). Validators get ``(text, start, end)``: some read the words before a candidate. ``group``:
    the finding is this named group of the match, not all of it (the words that make a string a key are not redacted);
    such a detector tries no shorter candidates. ``matches``: ``regex.finditer(text, pos)`` computed a faster way (the
    same matches in the same order; ``tests/gateway/test_pii_fast_patterns.py`` checks it)."""

    kind: str
    regex: re.Pattern[str]
    pre: str
    validate: Callable[[str, int, int], bool] | None = None
    tail: re.Pattern[str] | None = None
    retry_invalid: bool = True
    validate_retry: Callable[[str, int, int], bool] | None = None
    group: str | None = None
    matches: Callable[[str, int], Iterator[re.Match[str]]] | None = None


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

# Prefilters (see Detector.pre) that hold for every finding, not only for the longest match: a shorter candidate
# keeps its start's look-behind and satisfies ``tail`` at its end; a later start is a match of the full pattern.
# Boundaries are written as classes (RE2 has no look-arounds): ``(?:^|[^…])`` for a look-behind, ``(?:[^…]|$)``
# for a look-ahead. RE2's \w is ASCII-only, so its ``[^\w…]`` admits more than Python's: still necessary.
# A card: laid out as one (``_CARD_LAYOUT``), first digit an issuer's (2-6, or a non-ASCII digit, which
# ``_card_ok`` reads by its value), no ASCII letter on either side.
_CARD_PRE = (
    r"(?:^|[^\dA-Za-z+-]|(?:^|\D)-)(?:[2-6]|[^\x00-\x7f])"
    r"(?:\d{12,18}|\d{3}[ -]\d{4}[ -]\d{4}[ -]\d{4}(?:[ -]\d{3})?|\d{3}[ -]\d{6}[ -]\d{4,5})"
    r"(?:[^\dA-Za-z-]|-(?:\D|$)|$)"
)
# An IP address that ``ipaddress`` accepts: IPv4 between the pattern's boundaries; IPv6 with `::`, or all eight
# groups, or six and an IPv4 tail (without `::` an address has exactly eight groups).
_V4_PRE = r"(?:\d{1,3}\.){3}\d{1,3}"
_IP_PRE = (
    rf"(?:^|[^\w.]){_V4_PRE}(?:[^\w.]|\.(?:\W|$)|$)|::"
    rf"|(?:[0-9A-Fa-f]{{1,4}}:){{7}}[0-9A-Fa-f]{{1,4}}|(?:[0-9A-Fa-f]{{1,4}}:){{6}}{_V4_PRE}"
)

# A phone number, by the ways ``_phone_ok`` accepts one: seven digits or more after a `+` (international) or a `(`
# (national, area code in parentheses), at most two of ` .()-` between neighbours, or from a `0` (a trunk prefix,
# or `00`); else ten or eleven digits, a valid NANP number: the first digit 2-9 (ten digits) or a `1` and then 2-9
# (eleven), and not a date: a first group `20dd` goes on otherwise than as `-mm-dd` with a month and a day and one
# separator (``_DATE_IN``; a timestamp `2024-05-01 10` is ten digits). A number that starts with a digit has one
# of ` .-` or nothing between digits (the pattern's own form). Digits that are not ASCII may be any (their values
# are read later); a group of one digit after the first is none (``_phone_ok`` refuses it). Every form starts where
# a candidate may (not after a word character or `+`, nor after a digit and one of ` .-`, nor after a word
# character and one of `.-`), and the ten or eleven
# digits end before a character that is not a word character. Each counted run of digits starts at such a
# boundary and its separators are what the pattern allows, no more: RE2's automaton for the set stays small
# (2 ms for 200 kB of digits and separators; the looser `[ .()-]{0,2}` everywhere took 230 ms).
_PD = r"[ .()-]{0,2}\d"  # the next digit of a number after `+` or `(`
_SD = r"[ .-]?\d"  # the next digit of one that starts with a digit (its separators are single: ``regex``)
_NA = r"[^\x00-\x7f]"  # a digit that is not ASCII, whatever its value
_PHONE_START = r"(?:^|[^\w+ .-]|(?:^|[^\d]) |(?:^|[^\w])[.-])"
_PHONE_END = r"(?:[^\w-]|-(?:[^A-Za-z_]|$)|$)"
_NOT_MONTH = rf"(?:00|1[3-9]|[2-9]\d|{_NA}\d|\d{_NA})"  # two digits that are not `0?[1-9]|1[0-2]`
_NOT_DAY = rf"(?:00|3[2-9]|[4-9]\d|{_NA}\d|\d{_NA})"  # two digits that are not `0?[1-9]|[12]\d|3[01]`
_PHONE_PRE = (
    rf"\+\d(?:{_PD}){{6}}|{_PHONE_START}\(\d(?:{_PD}){{6}}|{_PHONE_START}(?:0|{_NA})(?:{_SD}){{6}}"
    # ten digits, the first 2-9 and not a date's year `20dd`
    rf"|{_PHONE_START}(?:(?:[3-9]|{_NA})(?:{_SD}){{9}}|2(?:[1-9]|{_NA})(?:{_SD}){{8}}"
    # ... or a year `20dd`: a first group of 2, 3 or 5+ digits; a month that is none, or two separators; a day
    # that is none
    rf"|20[ .-]\d(?:{_SD}){{7}}|20\d[ .-]\d(?:{_SD}){{6}}|20\d\d\d(?:{_SD}){{5}}"
    rf"|20\d\d[ .-](?:\d\d\d(?:{_SD}){{3}}|{_NOT_MONTH}(?:{_SD}){{4}})"
    rf"|20\d\d(?: \d\d[.-]|\.\d\d[ -]|-\d\d[ .])\d(?:{_SD}){{3}}"
    rf"|20\d\d(?: \d\d |\.\d\d\.|-\d\d-)(?:\d\d\d{_SD}|{_NOT_DAY}(?:{_SD}){{2}})"
    # eleven digits: `1`, then 2-9
    rf"|(?:1|{_NA})[ .-]?(?:[2-9]|{_NA})(?:{_SD}){{9}}){_PHONE_END}"
)

# An e-mail address: the local part starts where its run starts (look-behind), so no run is scanned twice.
_EMAIL_LOCAL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.%+-")
_EMAIL = re.compile(r"(?<![A-Za-z0-9_.%+-])[A-Za-z0-9_.%+-]++@[A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)*\.[A-Za-z]{2,}")


def _email_matches(text: str, pos: int) -> Iterator[re.Match[str]]:
    """``_EMAIL.finditer(text, pos)``, tried only where one can start: every match holds exactly one `@` (no part of
    it may hold another) and starts where the run of local-part characters before that `@` starts (the look-behind),
    so each `@` (found by ``str.find`` at C speed) names the one start to try. ``re`` would try the pattern at every
    character (its look-behind first leaves it no character to skip to)."""
    find, match, local = text.find, _EMAIL.match, _EMAIL_LOCAL
    start = pos  # where the search goes on: no match starts before it
    at = find("@", pos)
    while at >= 0:
        s = at
        while s > start and text[s - 1] in local:
            s -= 1
        m = match(text, s)
        if m is None:
            at = find("@", at + 1)
        else:
            yield m
            start = m.end()
            at = find("@", start)


DETECTORS: tuple[Detector, ...] = (
    Detector(
        "secret",
        # Each format starts with its prefix, then checks the characters before it: every alternative starts with
        # a literal, so `re` tries the pattern only at the characters that start one (a fast skip over the rest).
        re.compile(
            # Formats whose body may hold `_` or `-` start only where a token starts (else every `sk-` inside one
            # long run would be a start: quadratic).
            r"sk-(?<![A-Za-z0-9_-]sk-)(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"
            r"|github_pat_(?<![A-Za-z0-9_-]github_pat_)[A-Za-z0-9_]{22,}"
            r"|xox(?<![A-Za-z0-9_-]xox)[abposr]-[A-Za-z0-9-]{10,}"
            r"|llmops-(?<![A-Za-z0-9_-]llmops-)[A-Za-z0-9_-]{40,}"
            r"|eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
            r"|-----BEGIN (?<![A-Za-z0-9_-]-----BEGIN )" + PEM.removeprefix("-----BEGIN ") +
            # Bounded or `_`-free bodies may be glued to an identifier: `aws_AKIA…`, `MY_sk_live_…`, `tok-ghp_…`.
            r"|gh(?<![A-Za-z0-9]gh)[pousr]_[A-Za-z0-9]{36,}|hf_(?<![A-Za-z0-9]hf_)[A-Za-z0-9]{30,}"
            r"|glpat-(?<![A-Za-z0-9]glpat-)[A-Za-z0-9_-]{20}|AIza(?<![A-Za-z0-9]AIza)[0-9A-Za-z_-]{35}"
            r"|sk_(?<![A-Za-z0-9]sk_)(?:live|test)_[A-Za-z0-9]{24,99}(?![A-Za-z0-9])"
            r"|rk_(?<![A-Za-z0-9]rk_)(?:live|test)_[A-Za-z0-9]{24,99}(?![A-Za-z0-9])"
            # AWS access key ids, long-term (AKIA) and temporary (ASIA): after any lower-case identifier too.
            r"|A(?<![A-Z0-9]A)(?:KIA|SIA)[0-9A-Z]{16}(?![0-9A-Z])"
        ),
        pre=r"sk-|AKIA|ASIA|gh[pousr]_|github_pat_|xox[abposr]-|AIza|llmops-|hf_|glpat-|eyJ|-----BEGIN |[sr]k_live_"
        r"|[sr]k_test_",
    ),
    Detector(
        "secret",
        # An AWS secret access key has no prefix: 40 base64 characters named by the words before them.
        re.compile(
            r"(?i:\b(?:aws_?)?secret_?(?:access_?)?key|\baws_?secret)[\"']?[ \t]*+(?:=>|[:=])?[ \t]*+[\"']?"
            r"(?P<v>(?-i:[A-Za-z0-9/+]{40}))(?![A-Za-z0-9/+=])"
        ),
        pre=r"(?i)secret_?(?:access_?)?key|aws_?secret",
        validate=_aws_secret_ok,
        retry_invalid=False,
        group="v",
    ),
    Detector(
        "email",
        _EMAIL,
        pre=r"[A-Za-z0-9_.%+-]@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2}",
        matches=_email_matches,
    ),
    Detector(
        "iban",
        re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![A-Za-z0-9])", re.I),
        validate=_whole(iban_ok),
        pre=r"(?i)(?:^|[^a-z0-9])[a-z]{2}\d{2}(?: ?[a-z0-9]{4}){2,7}(?: ?[a-z0-9]{1,4})?(?:[^a-z0-9]|$)",
        tail=re.compile(r"(?![A-Za-z0-9])", re.I),
    ),
    Detector(
        "credit_card",
        # A digit first, then the look-behind over it and the character before (`re` skips to digits fast). No
        # ASCII letter touches it: a Luhn-valid run inside a hex digest or an identifier is not a card. A dash
        # beside it is punctuation (`card—4111…—was`: the view reads an em dash as `-`) unless a digit is on its
        # other side (then it is part of a longer dashed number).
        re.compile(r"\d(?<![\dA-Za-z+]\d)(?<!\d-\d)(?:[ -]?\d){12,18}(?![\dA-Za-z]|-\d)"),
        validate=_whole(_card_part_ok),  # laid out like a card: `4111 1111 1111 1111 12 27` is a card and more
        pre=_CARD_PRE,
        tail=re.compile(r"(?![\dA-Za-z]|-\d)"),
    ),
    Detector(
        "us_ssn",
        # AAA-GG-SSSS, or with spaces; never-issued areas, groups and serials excluded; not part of a longer
        # dashed number (a dash beside it with a digit on its other side), but a dash before a word is punctuation
        re.compile(r"\d(?<!\d\d)(?<!\d-\d)\d\d(?<!000|666)(?<!9\d\d)([- ])(?!00)\d{2}\1(?!0000)\d{4}(?!\d|-\d)"),
        pre=r"(?:^|[^\d-]|(?:^|\D)-)(?:[0-8]|[^\x00-\x7f])\d\d[- ]\d\d[- ]\d{4}(?:[^\d-]|-(?:\D|$)|$)",
    ),
    Detector(
        "ip_address",
        re.compile(
            # Every address starts with an ASCII hex digit or a colon, not after a word character: that class first
            # (`re` skips to them fast), then the look-behind over it and the character before; a colon starts the
            # forms that start with `::`, a hex digit the others once a colon or dot follows within four characters.
            r"[0-9A-Fa-f:](?<!\w[0-9A-Fa-f:])(?:(?<=:)(?<!::)(?:"
            # IPv6 with an IPv4 tail (`::ffff:192.0.2.1`); IPv6 from `::`
            r"(?:[0-9A-Fa-f]{0,4}:){1,6}(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\w)"
            r"|:(?:[0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{1,4}(?!\w|:[0-9A-Fa-f:]|\.\d))"
            r"|(?<!:)(?=[0-9A-Fa-f]{0,3}[:.])(?:"
            # IPv4 may end a sentence (`… 10.0.0.1.`) but not continue as a longer dotted number (`1.2.3.4.5`)
            r"(?<=[0-9])(?<!\.[0-9])[0-9]{0,2}\.(?:\d{1,3}\.){2}\d{1,3}(?!\w|\.\w)"
            r"|(?<!:[0-9A-Fa-f])(?:"
            # IPv6 with an IPv4 tail (`64:ff9b::1.2.3.4`)
            r"[0-9A-Fa-f]{0,3}:(?:[0-9A-Fa-f]{0,4}:){1,6}(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\w)"
            # IPv6; a colon may follow (`fe80::1: timeout`) unless more of an address does
            r"|[0-9A-Fa-f]{0,3}:(?:[0-9A-Fa-f]{1,4}:){0,6}(?::|(?::[0-9A-Fa-f]{1,4}){1,7}|[0-9A-Fa-f]{1,4})"
            r"(?!\w|:[0-9A-Fa-f:]|\.\d))))"
        ),
        validate=_whole(_ip_ok),
        pre=_IP_PRE,
    ),
    Detector(
        "phone",
        # Groups of 1-5 digits, possessive (each digit run is read one way: linear, no backtracking).
        re.compile(
            # The first character (`+`, `(` or a digit) first, as a class `re` skips to fast, then the look-behinds
            # (not inside a word, nor glued to one by `.` or `-`: `d08d-0281-6423` in a UUID is no phone) and the
            # rest of the form that character starts; it ends before neither a word character nor `-` and a letter
            # (`06343102-8938-c509` starts a UUID).
            r"[+(\d](?<![\w+][+(\d])(?<![A-Za-z_][.-][+(\d])(?:(?<=\+)\d{1,3}+[ .-]?+(?:\(\d{1,5}+\)[ .-]?+)?+\d{1,5}+"
            r"|(?<=\()\d{1,5}+\)[ .-]?+\d{1,5}+|(?<=\d)\d{0,4}+)(?:[ .-]?+\d{1,5}+){1,6}+(?!\w|-[A-Za-z_])"
        ),
        validate=_phone_ok,
        pre=_PHONE_PRE,
        tail=re.compile(r"(?!\w|-[A-Za-z_])"),
        retry_invalid=False,  # more than 15 digits is not a phone number followed by more digits
    ),
)
KINDS = tuple(d.kind for d in DETECTORS)
PREFILTER = Prefilter([d.pre for d in DETECTORS])


class Finding(NamedTuple):
    """A detector's finding: ``text[start:end]`` is of ``kind``. A named tuple (made a few times per message, at
    half the cost of a frozen dataclass)."""

    kind: str
    start: int
    end: int


_START = itemgetter(1)

# Retries (shorter candidates, later starts) a detector may spend per character of text, on top of a fixed
# allowance: ordinary text never comes close, adversarial digit soup stays linear (then longest matches only).
RETRY_BUDGET_PER_CHAR = 1 / 16
_RETRY_BUDGET_MIN = 64
# Where a shorter candidate may end: after a word character, before a non-word character.
_WORD_END = re.compile(r"(?<=\w)(?!\w)")


def _shorter(det: Detector, text: str, s: int, hi: int, budget: int) -> tuple[int, int]:
    """``(end, budget left)`` of the longest shorter candidate from ``s`` ending at a word end by ``hi`` (its
    ``tail`` holds there, the pattern matches it whole, it validates); end -1: none within the budget."""
    assert det.tail is not None
    recheck = det.validate_retry or det.validate
    for p in reversed([w.start() for w in _WORD_END.finditer(text, s + 1, hi)]):
        budget -= 1
        if det.tail.match(text, p) and det.regex.fullmatch(text, s, p) and (recheck is None or recheck(text, s, p)):
            return p, budget
        if budget <= 0:
            break
    return -1, budget


def _scan(det: Detector, text: str, cs: list[int], ce: list[int]) -> list[tuple[int, int]]:
    """One detector's findings, left to right, avoiding the claimed spans ``cs[i]..ce[i]`` (sorted, disjoint).

    The pattern's matches are read with one ``finditer`` while each is taken or dropped whole (the next search
    starts where it ended); a claimed span or a retry moves the search elsewhere and starts a new one."""
    validate, tail, group = det.validate, det.tail, det.group
    finditer = det.matches or det.regex.finditer
    recheck = det.validate_retry or validate
    budget = _RETRY_BUDGET_MIN + int(len(text) * RETRY_BUDGET_PER_CHAR)
    nclaims = len(cs)
    spans: list[tuple[int, int]] = []
    pos = 0
    retry_to = 0  # candidates starting before this lie inside a failed one: retries
    while True:
        for m in finditer(text, pos):
            s, e = m.span(group) if group else m.span()
            limit = e  # a candidate from s must end by here (the start of a claimed span it would overlap)
            if nclaims:
                j = bisect_right(ce, s)
                if j < nclaims and cs[j] < e:
                    if cs[j] <= s:  # starts inside a claimed span: go on after it
                        if e <= ce[j] and not group:  # (where this search goes on anyway: nothing starts between)
                            continue
                        pos = ce[j]
                        break
                    limit = cs[j]
            check = recheck if s < retry_to else validate
            whole = False  # taken or dropped whole: the next search starts at its end
            if limit == e:
                if check is None or check(text, s, e):
                    spans.append((s, e))
                    whole = True
                elif not det.retry_invalid:
                    whole = True
            if whole or budget <= 0:  # (spent: the longest match only, as a plain finditer would)
                if not group or e == m.end():
                    continue
                pos = e  # a group that ends before its match: search again from the group's end
                break
            if e > retry_to:
                retry_to = e
            end = -1
            if tail is not None:
                end, budget = _shorter(det, text, s, min(limit, e - 1), budget)
            if end > 0:
                spans.append((s, end))
                pos = end
            else:
                budget -= 1
                pos = s + 1  # later starts inside the failed candidate (the pattern's look-behinds decide which)
            break
        else:
            return spans


def find(text: str, kinds: Iterable[str] | None = None) -> list[Finding]:
    """All non-overlapping findings in ``text``, sorted by position: found in its :func:`view`, given as spans
    of ``text`` (the characters that became the finding's first and last ones, and all between them)."""
    v, back = textview.fold_back(text)
    found = _find(v, kinds)
    if back is None or not found:
        return found
    spans = back([(f.start, f.end) for f in found])
    return [Finding(f.kind, s, e) for f, (s, e) in zip(found, spans, strict=True)]


def could_match(text: str) -> bool:
    """Whether any detector could find something in ``text`` (one prefilter pass over its view)."""
    return bool(PREFILTER.hits(textview.view(text)[0]))


def _find(text: str, kinds: Iterable[str] | None) -> list[Finding]:
    hits = PREFILTER.hits(text)
    if not hits:
        return []
    wanted = KINDS if kinds is None else kinds if isinstance(kinds, dict | set | frozenset) else set(kinds)
    cs: list[int] = []
    ce: list[int] = []
    found: list[Finding] = []
    last = hits[-1]
    for i in hits:
        det = DETECTORS[i]
        if det.kind not in wanted:
            continue
        spans = _scan(det, text, cs, ce)
        if not spans:
            continue
        kind = det.kind
        found.extend([Finding(kind, s, e) for s, e in spans])
        if i == last:  # (no detector reads the claims after the last one)
            break
        if not cs:
            cs = [a for a, _ in spans]
            ce = [b for _, b in spans]
        elif len(spans) <= 8:  # a few: each inserted where it starts (claims are disjoint, so starts differ)
            for a, b in spans:
                j = bisect_right(cs, a)
                cs.insert(j, a)
                ce.insert(j, b)
        else:
            merged = sorted([*zip(cs, ce, strict=True), *spans])
            cs = [a for a, _ in merged]
            ce = [b for _, b in merged]
    found.sort(key=_START)
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
