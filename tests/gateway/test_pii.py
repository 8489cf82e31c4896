from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmops_cli.gateway.policy import checksums, pii, textview


def kinds(text: str) -> list[str]:
    return [f.kind for f in pii.find(text)]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("write to jane.doe+x@mail.example.co.uk today", "email"),
        ("card 4111 1111 1111 1111 exp", "credit_card"),
        ("card 4111-1111-1111-1111", "credit_card"),
        ("amex 378282246310005", "credit_card"),
        ("card ٤١١١ ١١١١ ١١١١ ١١١١", "credit_card"),  # Arabic-Indic digits
        ("IBAN DE89 3704 0044 0532 0130 00 please", "iban"),
        ("iban GB82WEST12345698765432", "iban"),
        ("ssn 123-45-6789", "us_ssn"),
        ("host 192.168.10.4 is down", "ip_address"),
        ("v6 2001:db8::8a2e:370:7334 here", "ip_address"),
        ("call +1 415 555 0100 now", "phone"),
        ("call (030) 1234567", "phone"),
        ("key sk-proj-abcdefghijklmnopqrstuvwxyz123456", "secret"),
        ("aws AKIAIOSFODNN7EXAMPLE", "secret"),
        ("token ghp_" + "a" * 36, "secret"),
    ],
)
def test_detects(text: str, kind: str) -> None:
    assert kind in kinds(text)


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # Luhn fails
        "IBAN DE89 3704 0044 0532 0130 01",  # checksum fails
        "version 1.2.3.4.5 and 999.1.1.1",  # not IPv4
        "at 10:30:00 sharp",  # a time, not IPv6
        "the year 2024 had 365 days",
        "plain text without data",
    ],
)
def test_rejects_lookalikes(text: str) -> None:
    assert kinds(text) == []


def test_never_issued_ssn_is_not_an_ssn() -> None:
    assert "us_ssn" not in kinds("ssn 000-12-3456")


def test_luhn_and_iban_checksums() -> None:
    assert checksums.luhn_ok("79927398713")
    assert not checksums.luhn_ok("79927398710")
    assert checksums.iban_ok("GB82 WEST 1234 5698 7654 32")
    assert not checksums.iban_ok("GB82 WEST 1234 5698 7654 33")
    assert not checksums.iban_ok("DE89370400440532013")  # wrong length for DE


def test_redact_replaces_every_finding() -> None:
    text = "mail a@b.io card 4111111111111111 ip 10.0.0.1"
    out = pii.redact(text, pii.find(text))
    assert out == "mail [REDACTED:EMAIL] card [REDACTED:CREDIT_CARD] ip [REDACTED:IP_ADDRESS]"


def test_card_is_not_also_a_phone() -> None:
    assert kinds("4111 1111 1111 1111") == ["credit_card"]


def redacted(text: str) -> str:
    return pii.redact(text, pii.find(text))


# ------------------------------------------- a candidate that fails or overlaps: shorter ones and later starts
@pytest.mark.parametrize(
    ("text", "want"),
    [
        # A card then a CVV: the 19-digit longest match fails Luhn, the 16-digit card before the CVV is found.
        ("card 4111 1111 1111 1111 123 ok", "card [REDACTED:CREDIT_CARD] 123 ok"),
        ("pay 4111111111111111 123", "pay [REDACTED:CREDIT_CARD] 123"),
        ("amex 3782 822463 10005 1234", "amex [REDACTED:CREDIT_CARD] 1234"),
        # An SSN then a card: both, the whole card (the longest match from the SSN failed Luhn).
        ("ssn 123-45-6789 4111 1111 1111 1111", "ssn [REDACTED:US_SSN] [REDACTED:CREDIT_CARD]"),
        # A phone number then an IPv4 address or an SSN (found first): the phone number ends before them.
        ("call +49 30 1234567 10.0.0.1 ok", "call [REDACTED:PHONE] [REDACTED:IP_ADDRESS] ok"),
        ("call 415 736 4521 123-45-6789", "call [REDACTED:PHONE] [REDACTED:US_SSN]"),
        ("call 415 736 4521 2001:db8::1", "call [REDACTED:PHONE] [REDACTED:IP_ADDRESS]"),
        # Unchanged: a number too long to be a phone number is not one followed by more digits.
        ("ref 1234 5678 9012 3456 7890", "ref 1234 5678 9012 3456 7890"),
        ("card 4111 1111 1111 1112 1234", "card 4111 1111 1111 1112 1234"),
    ],
)
def test_shorter_and_later_candidates(text: str, want: str) -> None:
    assert redacted(text) == want


def test_a_card_inside_a_longer_number_must_look_like_one() -> None:
    """18 digits that pass Luhn inside a failed IBAN are not a card: laid out 4-4-4-4-2."""
    assert kinds("IBAN DE89 3704 0044 0532 0130 01") == []
    assert checksums.luhn_ok("370400440532013001")


def test_retries_are_budgeted() -> None:
    """Digit soup costs at most a fixed number of retries per character, then longest matches only."""
    soup = " ".join(f"{i * 7919 % 10000:04d}" for i in range(20000))
    calls = 0
    card = next(d for d in pii.DETECTORS if d.kind == "credit_card")
    real = card.validate_retry

    def counting(t: str, s: int, e: int) -> bool:
        nonlocal calls
        calls += 1
        return real(t, s, e) if real else False

    object.__setattr__(card, "validate_retry", counting)
    try:
        pii.find(soup)
    finally:
        object.__setattr__(card, "validate_retry", real)
    assert 0 < calls <= 64 + len(soup) * pii.RETRY_BUDGET_PER_CHAR


# ------------------------------------------------------------------------------------ IPv4 ending a sentence
@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("The server is 192.168.0.10.", "The server is [REDACTED:IP_ADDRESS]."),
        ("IPs: 10.0.0.1, 10.0.0.2.", "IPs: [REDACTED:IP_ADDRESS], [REDACTED:IP_ADDRESS]."),
        ("Is it 10.0.0.1...", "Is it [REDACTED:IP_ADDRESS]..."),
        ("host 10.0.0.1:8080", "host [REDACTED:IP_ADDRESS]:8080"),
        # A longer dotted number is still not an address, at any of its dots.
        ("version 1.2.3.4.5.", "version 1.2.3.4.5."),
        ("version 1.2.3.4.5 and 999.1.1.1.", "version 1.2.3.4.5 and 999.1.1.1."),
        ("zone 4.3.2.1.in-addr.arpa", "zone 4.3.2.1.in-addr.arpa"),
    ],
)
def test_ipv4_at_the_end_of_a_sentence(text: str, want: str) -> None:
    assert redacted(text) == want


# ------------------------------------------------------------------------------------------ PEM private keys
BODY = (
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw\n"
    "7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFc\n"
    "Zz0="
)
PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{BODY}\n-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (f"key:\n{PEM}\nThanks!", "key:\n[REDACTED:SECRET]\nThanks!"),
        (PEM.replace("\n", "\r\n"), "[REDACTED:SECRET]"),
        (PEM.replace("\n", " "), "[REDACTED:SECRET]"),  # pasted on one line
        (PEM.replace("\n", "\\n") + '"', '[REDACTED:SECRET]"'),  # literal \n escapes (a JSON string in code)
        (PEM.replace("RSA PRIVATE KEY", "PRIVATE KEY"), "[REDACTED:SECRET]"),
        (
            PEM.replace("RSA PRIVATE KEY", "PGP PRIVATE KEY BLOCK").replace("\n", "\nVersion: GnuPG v2\n\n", 1),
            "[REDACTED:SECRET]",
        ),
        (
            PEM.replace("\n", "\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,3F17F5316E2BAC89\n\n", 1),
            "[REDACTED:SECRET]",
        ),
        (f"{PEM}\n{PEM}", "[REDACTED:SECRET]\n[REDACTED:SECRET]"),
        # No END line: the header and the base64 lines after it, not the prose that follows.
        (f"-----BEGIN PRIVATE KEY-----\n{BODY}\n\nThat is all, thanks", "[REDACTED:SECRET]\n\nThat is all, thanks"),
        (f"-----BEGIN PRIVATE KEY-----\n{BODY}", "[REDACTED:SECRET]"),  # cut off
        ("-----BEGIN PRIVATE KEY----- MIIEvQIBADANBgkqhkiG9w0BAQEFAASC x", "[REDACTED:SECRET] x"),
        # No END line, in a string in code: literal `\n` escapes are line breaks, the quote ends the last line.
        (
            'key = "-----BEGIN PRIVATE KEY-----\\n' + BODY.replace("\n", "\\n") + '"',
            'key = "[REDACTED:SECRET]"',
        ),
        ("k = '-----BEGIN PRIVATE KEY-----\n" + BODY + "'\nok", "k = '[REDACTED:SECRET]'\nok"),
        ("It starts -----BEGIN PRIVATE KEY-----, then base64.", "It starts [REDACTED:SECRET], then base64."),
    ],
)
def test_pem_block_is_redacted_whole(text: str, want: str) -> None:
    assert redacted(text) == want


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80), st.text(max_size=80))
def test_email_found_anywhere(prefix: str, suffix: str) -> None:
    text = f"{prefix} someone@example.org {suffix}"
    out = pii.redact(text, pii.find(text))
    assert "someone@example.org" not in out


# ---------------------------------------------------------------- prefilter: skipping never changes a result
class _EveryDetector:
    """A prefilter that lets every detector run: `find` then is the plain definition."""

    def hits(self, text: str) -> list[int]:
        return list(range(len(pii.DETECTORS)))


def reference_find(text: str) -> list[pii.Finding]:
    """`find` without the prefilter: every detector's full pattern over the whole text."""
    old, pii.PREFILTER = pii.PREFILTER, _EveryDetector()  # type: ignore[assignment]
    try:
        return pii.find(text)
    finally:
        pii.PREFILTER = old


SAMPLES = [
    "jane.doe+x@mail.example.co.uk",
    "4111 1111 1111 1111",
    "378282246310005",
    "DE89 3704 0044 0532 0130 00",
    "GB82WEST12345698765432",
    "123-45-6789",
    "192.168.10.4",
    "2001:db8::8a2e:370:7334",
    "::1",
    "fe80::1",
    "+1 415 555 0100",
    "(030) 1234567",
    "sk-proj-abcdefghijklmnopqrstuvwxyz123456",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_" + "a" * 36,
    "10:30:00",
    "09:12",
    "1.2.3.4.5",
    "٣٣٣-٤٤-٥٥٥٥",
    "ſK12 3456 7890 1234",
    "-----BEGIN RSA PRIVATE KEY-----",
    "eyJhbGciOiJI.eyJzdWIiOiIx.SflKxwRJSMeK",
    # shorter candidates and later starts
    "4111 1111 1111 1111 123",
    "4111111111111111 12",
    "123-45-6789 4111 1111 1111 1111",
    "+49 30 1234567 10.0.0.1",
    "415 736 4521 123-45-6789",
    "DE89 3704 0044 0532 0130 01",
    "192.168.0.10.",
    PEM,
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\nAQEFAASC",
]
_ALPHABET = "0123456789 .-()+:@_/abcefxzABKS\n\t٣ſK"
texts = st.lists(st.one_of(st.text(_ALPHABET, max_size=12), st.sampled_from(SAMPLES)), max_size=8).map("".join)


@pytest.fixture(params=["re2", "re"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    from llmops_cli.gateway.policy.prefilter import Prefilter

    pf = Prefilter([d.pre for d in pii.DETECTORS], use_re2=request.param == "re2")
    monkeypatch.setattr(pii, "PREFILTER", pf)
    return str(request.param)


def test_prefilter_uses_re2_when_installed() -> None:
    assert pii.PREFILTER.engine == "re2"  # google-re2 is a dependency wherever a wheel exists


@pytest.mark.parametrize("sample", SAMPLES)
def test_prefilter_agrees_on_each_sample(engine: str, sample: str) -> None:
    for text in (sample, f"x {sample} y", f"{sample}{sample}"):
        assert pii.find(text) == reference_find(text)


@settings(max_examples=300, deadline=None)
@given(text=texts)
def test_prefilter_never_changes_findings(text: str) -> None:
    for use_re2 in (True, False):
        from llmops_cli.gateway.policy.prefilter import Prefilter

        pf = Prefilter([d.pre for d in pii.DETECTORS], use_re2=use_re2)
        old, pii.PREFILTER = pii.PREFILTER, pf
        try:
            assert pii.find(text) == reference_find(text), pf.engine
        finally:
            pii.PREFILTER = old


_GLUE = ["", " ", "\n", ", ", ': "', '"', "=", "-", ".", ":", "(", ")", "+", "T", "x", "_", "/", "\t"]


@st.composite
def labelled_documents(draw: st.DrawFn) -> str:
    """Texts like the benchmark's corpus: valid values of every type and their look-alikes, plain or disguised
    (Unicode look-alikes, invisible characters), glued by punctuation or nothing (values touching each other)."""
    import random

    from llmops_cli.gateway.testing import pii_values as pv

    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    out = []
    for _ in range(draw(st.integers(1, 6))):
        value = pv.GENERATORS[rng.choice(sorted(pv.GENERATORS))](rng) if rng.random() < 0.6 else pv.lookalike(rng)[1]
        if rng.random() < 0.4:
            value = pv.disguise(rng, value)
        out += [rng.choice(_GLUE), value]
    return textview.view("".join(out))[0]


@settings(max_examples=300, deadline=None)
@given(text=labelled_documents())
def test_prefilter_never_changes_findings_on_labelled_documents(text: str) -> None:
    """Each detector's prefilter holds for all it finds, on documents made of real values and their look-alikes
    (the prefilters read boundaries and layouts, so values touching each other are where they could go wrong)."""
    want = reference_find(text)
    for use_re2 in (True, False):
        from llmops_cli.gateway.policy.prefilter import Prefilter

        pf = Prefilter([d.pre for d in pii.DETECTORS], use_re2=use_re2)
        old, pii.PREFILTER = pii.PREFILTER, pf
        try:
            assert pii.find(text) == want, pf.engine
        finally:
            pii.PREFILTER = old


# Phone numbers and what only looks like one, as the phone prefilter tells them apart: `+`, `(`, `0`, `00` and
# NANP forms, groups of every length joined by every separator, after and before every kind of character, and
# years `20dd` going on as dates, as timestamps and as numbers that are none.
_PHONE_DIGITS = st.text("0123456789٣", min_size=1, max_size=5)
_PHONE_SEPS = st.sampled_from(["", " ", "-", ".", " (", ") ", "(", ")", "--", " - "])
_YEARS = st.builds(
    lambda y, s1, m, s2, d: f"20{y}{s1}{m}{s2}{d}",
    st.from_regex(r"[0-9]{2}", fullmatch=True),
    st.sampled_from([" ", "-", ".", "/"]),
    st.from_regex(r"[0-9٣]{1,3}", fullmatch=True),
    st.sampled_from([" ", "-", ".", "/"]),
    st.from_regex(r"[0-9٣]{1,3}", fullmatch=True),
)
# NANP numbers: area code and exchange 2-9 first (most are valid), in every layout the pattern reads.
_NANP = st.builds(
    lambda a, s1, b, s2, c: f"{a}{s1}{b}{s2}{c}",
    st.from_regex(r"[2-9][0-9]{2}", fullmatch=True),
    st.sampled_from(["", " ", "-", ".", ") "]),
    st.from_regex(r"[2-9][0-9]{2}", fullmatch=True),
    st.sampled_from(["", " ", "-", "."]),
    st.from_regex(r"[0-9]{4}", fullmatch=True),
)
_PHONES = st.builds(
    lambda lead, first, rest, tail: lead + first + "".join(s + g for s, g in rest) + tail,
    st.sampled_from(["", "", "+", "+1 ", "(", "0", "00", "1 ", "1-", "2"]),
    st.one_of(_PHONE_DIGITS, _YEARS, _NANP),
    st.lists(st.tuples(_PHONE_SEPS, _PHONE_DIGITS), max_size=3),
    st.sampled_from(["", "", " 12", ":30", "x", "-1", ".5"]),
)
_AROUND = st.sampled_from(["", " ", "\n", "x", "1", "+", "-", "1-", "1 ", ". ", "(", ":", "٣"])


@settings(max_examples=500, deadline=None)
@given(parts=st.lists(st.tuples(_AROUND, _PHONES), min_size=1, max_size=3), end=_AROUND)
def test_phone_prefilter_never_changes_findings(parts: list[tuple[str, str]], end: str) -> None:
    text = "".join(a + p for a, p in parts) + end
    want = reference_find(text)
    for use_re2 in (True, False):
        from llmops_cli.gateway.policy.prefilter import Prefilter

        pf = Prefilter([d.pre for d in pii.DETECTORS], use_re2=use_re2)
        old, pii.PREFILTER = pii.PREFILTER, pf
        try:
            assert pii.find(text) == want, (pf.engine, text)
        finally:
            pii.PREFILTER = old


def _years_and_area_codes() -> list[str]:
    """Every month and a spread of days after a year `20dd`, with equal and unequal separators (dates, timestamps
    and NANP numbers that start like one), and NANP numbers of every area code 2xx."""
    out = [f"call {a} 736 4521 now" for a in range(200, 300)]
    for mm in range(100):
        for dd in ("00", "01", "15", "29", "31", "32", "45", "99", "123"):
            for s1, s2 in ((" ", " "), ("-", "-"), (".", "."), ("-", " "), (" ", "-"), (".", "-")):
                out.append(f"at 2024{s1}{mm:02d}{s2}{dd} 10 ok")
    return out


def test_phone_prefilter_on_every_month_day_and_area_code() -> None:
    texts = _years_and_area_codes()
    want = [reference_find(t) for t in texts]
    assert sum(any(f.kind == "phone" for f in w) for w in want) > 100  # many of them are phone numbers
    for use_re2 in (True, False):
        from llmops_cli.gateway.policy.prefilter import Prefilter

        pf = Prefilter([d.pre for d in pii.DETECTORS], use_re2=use_re2)
        old, pii.PREFILTER = pii.PREFILTER, pf
        try:
            assert [pii.find(t) for t in texts] == want, pf.engine
        finally:
            pii.PREFILTER = old
