"""Personal-data detectors with validators: e-mail, phone, credit card (Luhn), IBAN (ISO 7064 mod 97-10),
US SSN, IPv4/IPv6 (parsed by ``ipaddress``) and secrets that look like API keys.

Each detector is a regex plus an optional validator; detectors run in priority order and a later one never
claims characters an earlier one matched (a card number is not also a phone number).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from llmops_cli.gateway.policy.prefilter import Prefilter

PLACEHOLDER = "[REDACTED:{kind}]"


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)  # any Unicode decimal digit, as `\d` matches them
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_ok(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


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
    n = sum(c.isdigit() for c in text)
    return 7 <= n <= 15


@dataclass(frozen=True)
class Detector:
    """``regex`` finds candidates, ``validate`` confirms them. ``pre`` is a cheaper necessary condition: every
    candidate that validates contains a match of it. All ``pre`` patterns are checked in one pass
    (:mod:`.prefilter`) and a detector runs only where its own hit; ``tests/gateway/test_pii.py`` checks that
    this never changes a result."""

    kind: str
    regex: re.Pattern[str]
    pre: str
    validate: Callable[[str], bool] | None = None


DETECTORS: tuple[Detector, ...] = (
    Detector(
        "secret",
        re.compile(
            r"(?<![A-Za-z0-9_-])(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}"
            r"|github_pat_[A-Za-z0-9_]{22,}|xox[abposr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}"
            r"|llmops-[A-Za-z0-9_-]{40,}|hf_[A-Za-z0-9]{30,}|glpat-[A-Za-z0-9_-]{20}"
            r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
            r"|-----BEGIN [A-Z ]*PRIVATE KEY-----)"
        ),
        pre=r"sk-|AKIA|gh[pousr]_|github_pat_|xox[abposr]-|AIza|llmops-|hf_|glpat-|eyJ|-----BEGIN ",
    ),
    Detector(
        "email",
        re.compile(r"[A-Za-z0-9._%+-]++@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
        pre=r"@",
    ),
    Detector(
        "iban",
        re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![A-Za-z0-9])", re.I),
        validate=iban_ok,
        pre=r"(?i)[a-z]{2}\d\d",
    ),
    Detector(
        "credit_card",
        re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])"),
        validate=_card_ok,
        pre=r"\d(?:[ -]?\d){12}",
    ),
    Detector(
        "us_ssn",
        re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])"),
        pre=r"\d\d\d-\d\d-\d\d\d\d",
    ),
    Detector(
        "ip_address",
        re.compile(
            r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])"
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
    ),
)
KINDS = tuple(d.kind for d in DETECTORS)
PREFILTER = Prefilter([d.pre for d in DETECTORS])


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int


def find(text: str, kinds: Iterable[str] | None = None) -> list[Finding]:
    """All non-overlapping findings in ``text``, sorted by position."""
    hits = PREFILTER.hits(text)
    if not hits:
        return []
    wanted = KINDS if kinds is None else kinds if isinstance(kinds, dict | set | frozenset) else set(kinds)
    claimed: list[tuple[int, int]] = []
    found: list[Finding] = []
    for i in hits:
        det = DETECTORS[i]
        if det.kind not in wanted:
            continue
        for m in det.regex.finditer(text):
            s, e = m.span()
            if any(s < ce and cs < e for cs, ce in claimed):
                continue
            if det.validate is not None and not det.validate(m.group()):
                continue
            claimed.append((s, e))
            found.append(Finding(det.kind, s, e))
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
