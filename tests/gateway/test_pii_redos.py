"""Every detector, and the hold-back window's live search, runs in linear time on adversarial input.

Each shape is about 200 KB. A quadratic pattern needs minutes on these (the former e-mail detector took 1.5 s
on 40 KB of `a…a@`, so about 40 s here); linear ones take milliseconds, so the bound of 2 s is generous.
"""

from __future__ import annotations

import random
import time

import pytest

from llmops_cli.gateway.holdback import _LIVE, HoldBack
from llmops_cli.gateway.policy import pii

from .conftest import compiled

N = 200_000
BOUND_S = 2.0


def _soup(alphabet: str, seed: int = 1) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(N))


def _rep(unit: str) -> str:
    return unit * (N // len(unit))


SHAPES = {
    # e-mail: long local-part runs, long domains, many @
    "local run": _rep("a") + "@",
    "local run, dots": _rep("a.") + "@",
    "domain dots": "a@" + _rep("a."),
    "domain labels": "a@" + _rep("ab-"),
    "at signs": _rep("a@"),
    "local and domain": _rep("a.a@"),
    # digit soups: cards, phones, SSNs, IPv4
    "digits spaced": _rep("1 "),
    "digits dashed": _rep("1-"),
    "digits dotted": _rep("1."),
    "digit groups": _rep("12 "),
    "long groups": _rep("12345 "),
    "random digits": _soup("0123456789 -"),
    "random numbers": _soup("0123456789 .-()+"),
    "ssn-like": _rep("123-45-"),
    "phone-like": _rep("+1 (1) "),
    "parens": _rep("(12) "),
    # IPv4 / IPv6: hex-colon soups
    "colons": _rep("1:"),
    "hex colons": _rep("ab:"),
    "hex colon spaces": _rep("1: "),
    "double colons": _rep("::1"),
    "random hex colons": _soup("0123456789abcdef:."),
    "dotted quads": _rep("1.2.3.4."),
    # IBAN
    "iban groups": _rep("DE89 "),
    "iban run": _rep("DE89"),
    # secrets: tokens, JWTs, PEM
    "sk prefixes": _rep("sk-"),
    "sk run": "sk-" + _rep("a"),
    "jwt starts": _rep("eyJ"),
    "jwt parts": _rep("eyJaaaaaaaa."),
    "jwt run": "eyJ" + _rep("a") + ".",
    "pem begins": _rep("-----BEGIN "),
    "pem headers": _rep("-----BEGIN RSA PRIVATE KEY-----"),
    "pem headers spaced": _rep("-----BEGIN RSA PRIVATE KEY----- "),
    "pem label": "-----BEGIN " + _rep("A "),
    "pem body, no end": "-----BEGIN RSA PRIVATE KEY-----\n" + _rep("AAAA\n"),
    "pem body tokens": "-----BEGIN RSA PRIVATE KEY----- " + _rep("AAAA "),
    "pem ends": _rep("-----END RSA PRIVATE KEY-----"),
    "pem armor": "-----BEGIN RSA PRIVATE KEY-----\n" + _rep("Proc-Type: "),
    "pem dashes": "-----BEGIN RSA PRIVATE KEY-----\n" + _rep("A-"),
    "random mix": _soup("a1.@-: \n_+()=/eyJ"),
}


def _timed(fn: object, *args: object) -> float:
    t0 = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - t0


@pytest.mark.parametrize("shape", SHAPES)
def test_find_is_linear(shape: str) -> None:
    text = SHAPES[shape]
    assert _timed(pii.find, text) < BOUND_S, shape


@pytest.mark.parametrize("shape", SHAPES)
def test_live_search_is_linear(shape: str) -> None:
    text = SHAPES[shape]
    assert _timed(_LIVE.search, text) < BOUND_S, shape
    assert _timed(_LIVE.search, text + " x") < BOUND_S, shape  # ends in a different run


@pytest.mark.parametrize("shape", ["local run", "digits spaced", "random mix", "pem body, no end", "jwt run"])
def test_holdback_is_linear(shape: str) -> None:
    """Streamed in 64-character reads: each read costs at most the bounded held text."""
    text = SHAPES[shape][:50_000]
    hb = HoldBack(compiled(), [])

    def stream() -> None:
        for i in range(0, len(text), 64):
            hb.push(text[i : i + 64])
        hb.flush()

    assert _timed(stream) < BOUND_S, shape


def test_digit_soup_megabyte() -> None:
    """1 MB of numbers: the retries of shorter and later candidates stay within their budget."""
    rng = random.Random(2)
    soup = " ".join(str(rng.randint(0, 9999)) for _ in range(250_000))[:1_000_000]
    assert _timed(pii.find, soup) < 3 * BOUND_S
