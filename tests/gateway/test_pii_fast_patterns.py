"""The detectors' patterns are written for the speed of Python's `re`, not to be read: each must match exactly what
its readable form below matches — the same leftmost match from every position, and the same full matches of every
slice (what ``_scan`` asks of shorter candidates). The readable forms are the patterns as they were before they
were rewritten to start with a character class (which lets `re` skip positions that cannot start a match) and to
check their look-behinds after that first character.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmops_cli.gateway.policy import checksums, pii

READABLE = {
    "secret": (
        r"(?<![A-Za-z0-9_-])(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|github_pat_[A-Za-z0-9_]{22,}"
        r"|xox[abposr]-[A-Za-z0-9-]{10,}|llmops-[A-Za-z0-9_-]{40,}"
        r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
        r"|" + pii.PEM + ")"
        r"|(?<![A-Za-z0-9])(?:gh[pousr]_[A-Za-z0-9]{36,}|hf_[A-Za-z0-9]{30,}|glpat-[A-Za-z0-9_-]{20}"
        r"|AIza[0-9A-Za-z_-]{35}|[sr]k_(?:live|test)_[A-Za-z0-9]{24,99}(?![A-Za-z0-9]))"
        r"|(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Z])"
    ),
    "credit_card": r"(?<![\dA-Za-z+])(?<!\d-)\d(?:[ -]?\d){12,18}(?![\dA-Za-z]|-\d)",
    "us_ssn": r"(?<!\d)(?<!\d-)(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?!\d|-\d)",
    "ip_address": (
        r"(?=[0-9A-Fa-f]{0,4}[:.])(?:"
        r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\w)"
        r"|(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\w)"
        r"|(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){1,7}(?::|(?::[0-9A-Fa-f]{1,4}){1,7}|[0-9A-Fa-f]{1,4})"
        r"(?!\w|:[0-9A-Fa-f:]|\.\d)"
        r"|(?<![\w:])::(?:[0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{1,4}(?!\w|:[0-9A-Fa-f:]|\.\d))"
    ),
    "phone": r"(?<![\w+])(?<![A-Za-z_][.-])(?:\+\d{1,3}+[ .-]?+)?+(?:\(\d{1,5}+\)[ .-]?+)?+\d{1,5}+(?:[ .-]?+\d{1,5}+){1,6}+(?!\w|-[A-Za-z_])",
}
FAST = {d.kind: d.regex for d in pii.DETECTORS if d.kind in READABLE and d.group is None}

# Per pattern: the characters its matches and their surroundings are made of, plus look-alikes (Unicode digits
# and letters that `\d` and `\w` read, characters next to the classes' ranges).
_EDGE = "٣٤Ⅻ_é+-.:/ \n"
ALPHABETS = {
    "secret": "skproj-antgithub_pxoxbrlmpseyJ.AIzaKSIhfGl0123456789=+/ " + "-----BEGIN RSA PRIVATE KEY END\n",
    "credit_card": "0123456789 -+xZ" + _EDGE,
    "us_ssn": "0123456789690 -" + _EDGE,
    "ip_address": "0123456789abcdefABCDEF:.g" + _EDGE,
    "phone": "0123456789 .-()+xZ" + _EDGE,
}
SEEDS = {
    "secret": ["sk-" + "a" * 24, "sk-proj-" + "b" * 20, "ghp_" + "c" * 36, "AKIA" + "A1" * 8, "rk_live_" + "d" * 24,
               "eyJabcdefgh.eyJabcdefgh.abcdefgh", "xoxb-1234567890", "glpat-" + "e" * 20, "AIza" + "f" * 35,
               "hf_" + "g" * 30, "llmops-" + "h" * 40, "github_pat_" + "i" * 22,
               "-----BEGIN RSA PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END RSA PRIVATE KEY-----"],
    "credit_card": ["4111 1111 1111 1111", "378282246310005", "4111-1111-1111-1111-123", "5500 000000 00004"],
    "us_ssn": ["123-45-6789", "666-12-3456", "900-12-3456", "123 45 6789", "000-12-3456", "123-00-4567"],
    "ip_address": ["192.168.0.1", "::1", "fe80::1", "2001:db8::8a2e:370:7334", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8",
                   "64:ff9b::1.2.3.4", "1.2.3.4.5", "10:00:12", "abcd:ef01::", "1٣.2.3.4"],
    "phone": ["+1 415 555 0100", "(030) 1234567", "+33 1 23 45 67 89", "0044 20 7946 0958", "1234567",
              "+49 (30) 123-456", "12 34 56 78 90 12 34 56"],
}  # fmt: skip


def _texts(kind: str) -> st.SearchStrategy[str]:
    pieces = st.one_of(st.text(ALPHABETS[kind], max_size=10), st.sampled_from(SEEDS[kind]))
    return st.lists(pieces, max_size=6).map("".join)


def _agree(kind: str, text: str) -> None:
    slow, fast = re.compile(READABLE[kind]), FAST[kind]
    for pos in range(len(text) + 1):
        a, b = slow.search(text, pos), fast.search(text, pos)
        assert (a and a.span()) == (b and b.span()), (kind, text, pos)
        if a is None:
            break  # no match from here on, nor from any later position
    if len(text) <= 40:
        for s in range(len(text)):
            for e in range(s + 1, len(text) + 1):
                a, b = slow.fullmatch(text, s, e), fast.fullmatch(text, s, e)
                assert (a is None) == (b is None), (kind, text, s, e)


@pytest.mark.parametrize("kind", sorted(READABLE))
def test_every_readable_pattern_has_a_fast_twin(kind: str) -> None:
    assert kind in FAST and FAST[kind].pattern != READABLE[kind]


@pytest.mark.parametrize("kind", sorted(READABLE))
@pytest.mark.parametrize("i", range(len(max(SEEDS.values(), key=len))))
def test_fast_patterns_agree_on_each_seed(kind: str, i: int) -> None:
    seeds = SEEDS[kind]
    seed = seeds[i % len(seeds)]
    for text in (seed, f"x{seed}", f" {seed} ", f"{seed}{seed}", f"{seed}.", f"_{seed}:", f"+{seed}-"):
        _agree(kind, text)


@pytest.mark.parametrize("kind", sorted(READABLE))
@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_fast_patterns_match_what_the_readable_ones_match(kind: str, data: st.DataObject) -> None:
    _agree(kind, data.draw(_texts(kind)))


# ------------------------------------------------------------------ validators: the fast forms against the readable
def _readable_ip_ok(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _readable_iban_ok(text: str) -> bool:
    s = re.sub(r"\s", "", text).upper()
    want = checksums.IBAN_LENGTHS.get(s[:2])
    if (want is not None and len(s) != want) or not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    try:
        num = "".join(str(int(c, 36)) for c in moved)
    except ValueError:  # not an IBAN's characters (the pattern never hands those over)
        return False
    return int(num) % 97 == 1


def _readable_phone_ok(text: str, s: int, e: int) -> bool:
    cand = text[s:e]
    groups = pii._DIGIT_RUN.findall(cand)
    digits = pii._ascii_digits("".join(groups))
    if not 7 <= len(digits) <= 15 or len(groups[-1]) < 2 or pii._DATE_IN.search(cand) is not None:
        return False
    if s > 1 and text[s - 1] in " .-" and text[s - 2].isdecimal():
        return False
    if cand[0] == "+":
        return pii._valid_international(digits)
    if digits.startswith("00"):
        return pii._valid_international(digits[2:])
    if any(len(g) == 1 for g in groups[1:]) or (len(groups[0]) == 1 and digits[0] != "1"):
        return False
    return pii._valid_national(digits, "(" in cand, len(groups) == 1)


_IP_TEXT = st.text("0123456789abcdefABCDEF:.٣", min_size=1, max_size=45)
_V4 = st.lists(st.one_of(st.integers(0, 300).map(str), st.from_regex(r"0[0-9]{1,2}|[0-9]{4}", fullmatch=True),
                         st.sampled_from(["٣", "1٣", "", " 1"])), min_size=1, max_size=5).map(".".join)  # fmt: skip


# IPv6-shaped: groups (hex of 0-5 characters, some not hex) joined by `:` or `::`, perhaps an IPv4-ish tail.
_V6 = st.builds(
    lambda groups, seps, tail: "".join(g + s for g, s in zip(groups, seps, strict=False)) + tail,
    st.lists(st.one_of(st.from_regex(r"[0-9A-Fa-f]{0,5}", fullmatch=True), st.sampled_from(["g", "٣", "0"])),
             min_size=1, max_size=10),
    st.lists(st.sampled_from([":", ":", ":", "::", ":::"]), min_size=1, max_size=10),
    st.one_of(st.just(""), _V4, st.sampled_from(["1.2.3.4", "::", ":", "ffff"])),
)  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(st.one_of(_IP_TEXT, _V4, _V6, st.sampled_from(SEEDS["ip_address"])))
def test_ip_validator_accepts_what_ipaddress_accepts(text: str) -> None:
    assert pii._ip_ok(text) == _readable_ip_ok(text), text


@settings(max_examples=600, deadline=None)
@given(st.one_of(st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcz ſK٣\t", max_size=40),
                 st.builds(lambda cc, rest: cc + rest, st.sampled_from(sorted(checksums.IBAN_LENGTHS)),
                           st.text("0123456789 ", min_size=10, max_size=32))))  # fmt: skip
def test_iban_validator_agrees_with_its_readable_form(text: str) -> None:
    assert checksums.iban_ok(text) == _readable_iban_ok(text), text


@settings(max_examples=400, deadline=None)
@given(_texts("phone"))
def test_phone_validator_agrees_with_its_readable_form_on_every_candidate(text: str) -> None:
    rx = FAST["phone"]
    for m in rx.finditer(text):
        for p in [m.end()] + [w.start() for w in pii._WORD_END.finditer(text, m.start() + 1, m.end())]:
            if rx.fullmatch(text, m.start(), p):
                assert pii._phone_ok(text, m.start(), p) == _readable_phone_ok(text, m.start(), p), (text, p)


# ------------------------------------------------------------------ _scan: one finditer against a search per step
def _stepwise_scan(det: pii.Detector, text: str, cs: list[int], ce: list[int]) -> list[tuple[int, int]]:
    """``_scan`` as its definition reads: one search per step, from where the last step left off."""
    from bisect import bisect_right

    rx, validate, tail = det.regex, det.validate, det.tail
    recheck = det.validate_retry or validate
    budget = pii._RETRY_BUDGET_MIN + int(len(text) * pii.RETRY_BUDGET_PER_CHAR)
    spans: list[tuple[int, int]] = []
    pos = retry_to = 0
    while (m := rx.search(text, pos)) is not None:
        s, e = m.span(det.group) if det.group else m.span()
        limit = e
        j = bisect_right(ce, s)
        if j < len(cs) and cs[j] < e:
            if cs[j] <= s:
                pos = ce[j]
                continue
            limit = cs[j]
        check = recheck if s < retry_to else validate
        if limit == e and (check is None or check(text, s, e)):
            spans.append((s, e))
            pos = e
            continue
        if (limit == e and not det.retry_invalid) or budget <= 0:
            pos = e
            continue
        retry_to = max(retry_to, e)
        end = -1
        if tail is not None:
            end, budget = pii._shorter(det, text, s, min(limit, e - 1), budget)
        if end > 0:
            spans.append((s, end))
            pos = end
        else:
            budget -= 1
            pos = s + 1
    return spans


# A detector whose finding (its group) ends before its match does: the next search starts at the group's end.
_GROUPED = pii.Detector("test", re.compile(r"(?P<v>\d\d)\d?"), pre="", group="v")


@settings(max_examples=300, deadline=None)
@given(text=st.text("0123456789 -.:+()@abcdefAKISk_", max_size=60), cuts=st.lists(st.integers(0, 60), max_size=6))
def test_scan_reads_one_finditer_as_the_stepwise_search_reads_the_text(text: str, cuts: list[int]) -> None:
    bounds = sorted({min(c, len(text)) for c in cuts})
    claims = [(a, b) for a, b in zip(bounds[::2], bounds[1::2], strict=False) if a < b]
    cs, ce = [a for a, _ in claims], [b for _, b in claims]
    for det in (*pii.DETECTORS, _GROUPED):
        assert pii._scan(det, text, cs, ce) == _stepwise_scan(det, text, cs, ce), (det.kind, text, claims)


def test_ip_validator_on_ipv6_forms() -> None:
    """Each way an IPv6 address may be written (and each way it may not), against ``ipaddress``."""
    import random

    rng = random.Random(6)
    texts = [
        "::", ":::", "::1", "1::", "1::2", ":1::2", "1::2:", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7",
        "1:2:3:4:5:6:7::", "::1:2:3:4:5:6:7", "1:2:3:4::5:6:7:8", "1::2::3", "::ffff:1.2.3.4", "::ffff:1.2.3.04",
        "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "1:2:3:4:5::1.2.3.4", "::1.2.3.4", "1.2.3.4::", "12345::",
        "fe80::1:", ":fe80::1", "fe80:::1", "::ffff:256.1.1.1", "a:b:c:d:e:f:a:b", "A:B:C:D:E:F:0:0", "g::1",
    ]  # fmt: skip
    for _ in range(3000):
        n = rng.randint(1, 9)
        groups = [rng.choice(["", "0", "1", "ffff", "FfF0", "12345", "abc"]) for _ in range(n)]
        text = ":".join(groups)
        if rng.random() < 0.3:
            text += rng.choice([":1.2.3.4", ":255.255.255.255", ":1.2.3", "::1.2.3.4", ":01.2.3.4"])
        texts.append(text)
    for text in texts:
        assert pii._ip_ok(text) == _readable_ip_ok(text), text


_EMAIL_PIECES = ["a.b", "@", "x-y.io", " ", "%+_", "ex.com", "é", ".", "@@", "Z9", "-", "co"]


@settings(max_examples=400)
@given(
    text=st.text("ab.Z9_%+-@@ é\u0130x.co", max_size=80)
    | st.builds("".join, st.lists(st.sampled_from(_EMAIL_PIECES), max_size=12)),
    where=st.floats(0, 1),
)
def test_email_matches_are_the_patterns_finditer_from_any_position(text: str, where: float) -> None:
    # The detector finds e-mail candidates from the `@`s (pii._email_matches): the same matches, in the same order,
    # as re's own search from the same position (also one inside an address), which tries every character.
    pos = round(where * len(text))
    fast = [m.span() for m in pii._email_matches(text, pos)]
    assert fast == [m.span() for m in pii._EMAIL.finditer(text, pos)]
