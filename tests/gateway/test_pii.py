from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmops_cli.gateway.policy import pii


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
    assert pii.luhn_ok("79927398713")
    assert not pii.luhn_ok("79927398710")
    assert pii.iban_ok("GB82 WEST 1234 5698 7654 32")
    assert not pii.iban_ok("GB82 WEST 1234 5698 7654 33")
    assert not pii.iban_ok("DE89370400440532013")  # wrong length for DE


def test_redact_replaces_every_finding() -> None:
    text = "mail a@b.io card 4111111111111111 ip 10.0.0.1"
    out = pii.redact(text, pii.find(text))
    assert out == "mail [REDACTED:EMAIL] card [REDACTED:CREDIT_CARD] ip [REDACTED:IP_ADDRESS]"


def test_card_is_not_also_a_phone() -> None:
    assert kinds("4111 1111 1111 1111") == ["credit_card"]


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
