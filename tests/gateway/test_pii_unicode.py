"""Detectors see what the model sees: every type, written with Unicode look-alikes and invisible characters, is
found and redacted over exactly the span of the original text it occupies; look-alikes of personal data are
left alone. Values come from ``pii_values`` (valid for their type); hypothesis draws the seeds, the disguise
and the surrounding text, so these are properties over classes of input, not lists of examples."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from llmops_cli.gateway.policy import pii, textview
from llmops_cli.gateway.testing import pii_values as pv

KINDS = sorted(pv.GENERATORS)
# Text around a value: prose, a log line, JSON, code. Each ends (or starts) with a character that cannot continue
# any value, as real text around personal data does.
BEFORE = ["Contact: ", "see ", "", "\n", '{"v": "', "value=", "(", "2024-05-01T10:00:00Z INFO user ", "- "]
AFTER = [" today.", "", "\n", '"}', ")", ", thanks", "; next", " ok"]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _covering(text: str, start: int, end: int, kind: str) -> bool:
    return any(f.kind == kind and f.start == start and f.end == end for f in pii.find(text))


def _disguised(rng: random.Random, value: str) -> str:
    d = pv.disguise(rng, value)
    if d == value:  # at least one disguise: an invisible character after the first one
        d = value[0] + rng.choice(pv.INVISIBLE) + value[1:]
    return d


@SETTINGS
@given(
    kind=st.sampled_from(KINDS),
    seed=st.integers(0, 2**32),
    before=st.sampled_from(BEFORE),
    after=st.sampled_from(AFTER),
)
def test_every_type_is_found_whole(kind: str, seed: int, before: str, after: str) -> None:
    value = pv.GENERATORS[kind](random.Random(seed))
    text = before + value + after
    assert _covering(text, len(before), len(before) + len(value), kind), (value, pii.find(text))


@SETTINGS
@given(
    kind=st.sampled_from(KINDS),
    seed=st.integers(0, 2**32),
    before=st.sampled_from(BEFORE),
    after=st.sampled_from(AFTER),
)
def test_disguised_values_are_redacted_over_their_original_span(kind: str, seed: int, before: str, after: str) -> None:
    rng = random.Random(seed)
    value = _disguised(rng, pv.GENERATORS[kind](rng))
    text = before + value + after
    assert _covering(text, len(before), len(before) + len(value), kind), (ascii(value), pii.find(text))
    assert pii.redact(text, pii.find(text)) == f"{before}[REDACTED:{kind.upper()}]{after}"


@settings(max_examples=400, deadline=None)
@given(seed=st.integers(0, 2**32), before=st.sampled_from(["at ", "logged ", "", "\n", '"n": "', "v"]))
def test_lookalikes_are_left_alone(seed: int, before: str) -> None:
    """Dates, log timestamps, ZIP+4, coordinates, epochs, ISBNs, numeric ids, never-issued SSNs: nothing."""
    rng = random.Random(seed)
    shape, text = pv.lookalike(rng)
    if before == "v" and shape in ("hex digest", "uuid"):
        before = ""
    full = f"{before}{text} by worker 7"
    assert pii.find(full) == [], (shape, full)
    disguised = f"{before}{pv.disguise(rng, text)} by worker 7"
    assert pii.find(disguised) == [], (shape, ascii(disguised))


@SETTINGS
@given(seed=st.integers(0, 2**32), sep=st.sampled_from([" ", "  ", ", ", " | ", "\t", "\u00a0", "/"]))
def test_card_then_expiry_and_cvv_is_a_card(seed: int, sep: str) -> None:
    rng = random.Random(seed)
    card = pv.card(rng)
    mm, yy, cvv = rng.randint(1, 12), rng.randint(24, 35), rng.randint(0, 9999 if card[:2] in ("34", "37") else 999)
    tail = rng.choice([f"{mm:02d}/{yy}", f"{mm:02d}{yy}", f"{mm:02d} {yy}", f"{mm:02d}-{yy}"]) + sep + f"{cvv:03d}"
    value = _disguised(rng, card) if rng.random() < 0.5 else card
    text = f"card {value}{sep}{tail} thanks"
    found = pii.find(text)
    assert any(f.kind == "credit_card" and f.start == 5 and f.end == 5 + len(value) for f in found), (
        ascii(text),
        found,
    )
    assert all(f.kind == "credit_card" for f in found), (ascii(text), found)


@SETTINGS
@given(seed=st.integers(0, 2**32), after=st.sampled_from([": connection refused", ":", "]:443", ": ", "%eth0 up"]))
def test_ipv6_followed_by_a_colon(seed: int, after: str) -> None:
    rng = random.Random(seed)
    value = pv.ip_address(rng)
    assume(":" in value)
    if after == "]:443":
        text = f"dial [{value}]:443"
        start = 6
    else:
        text = f"peer {value}{after}"
        start = 5
    assert _covering(text, start, start + len(value), "ip_address"), (text, pii.find(text))


@SETTINGS
@given(seed=st.integers(0, 2**32), ident=st.sampled_from(["aws_", "AWS_KEY_", "my", "key-", "token_", "x_"]))
def test_keys_inside_identifiers(seed: int, ident: str) -> None:
    """A key glued to an identifier (``aws_AKIA…``, ``mysk_live_…``) is still a key; only the key is redacted."""
    rng = random.Random(seed)
    value = rng.choice(
        [
            rng.choice(["AKIA", "ASIA"]) + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)),
            rng.choice(["sk_live_", "rk_live_", "sk_test_"])
            + "".join(rng.choice("abcXYZ0123456789") for _ in range(32)),
            "ghp_" + "".join(rng.choice("abcXYZ0123456789") for _ in range(36)),
            "glpat-" + "".join(rng.choice("abcXYZ0123456789") for _ in range(20)),
        ]
    )
    if ident == "my" and value[0].islower():
        ident = "my_"  # lower case glued to lower case is one word
    text = f"export {ident}{value} done"
    start = 7 + len(ident)
    assert _covering(text, start, start + len(value), "secret"), (text, pii.find(text))


@SETTINGS
@given(
    seed=st.integers(0, 2**32),
    shape=st.sampled_from(
        [
            "aws_secret_access_key = {v}",
            "AWS_SECRET_ACCESS_KEY={v}",
            '"SecretAccessKey": "{v}"',
            "aws_secret_access_key: '{v}'",
            "secret_access_key => {v}",
            "export AWS_SECRET_KEY={v}",
        ]
    ),
)
def test_aws_secret_access_key_by_its_context(seed: int, shape: str) -> None:
    rng = random.Random(seed)
    key = pv.aws_secret_key(rng)
    text = shape.format(v=key)
    start = text.index(key)
    assert _covering(text, start, start + len(key), "secret"), (text, pii.find(text))
    # without the context, 40 base64 characters are a hash or an id, not a key
    assert pii.find(f"digest {key} ok") == [] or "/" in key or "+" in key


@SETTINGS
@given(seed=st.integers(0, 2**32))
def test_phone_with_one_digit_groups_is_redacted_whole(seed: int) -> None:
    """``+33 1 …``, ``+81 3-…``, ``+61 2 …``: the country and area codes go with the rest."""
    import phonenumbers

    rng = random.Random(seed)
    region = rng.choice(["FR", "JP", "AU"])
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.FIXED_LINE)
    assert example is not None
    value = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    assert any(len(g) == 1 for g in value.replace("-", " ").split())
    text = f"call {value} now"
    assert pii.redact(text, pii.find(text)) == "call [REDACTED:PHONE] now"


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("peer 2001:db8::1: timeout", "peer [REDACTED:IP_ADDRESS]: timeout"),
        ("mapped ::ffff:192.0.2.128 here", "mapped [REDACTED:IP_ADDRESS] here"),
        ("export aws_AKIAIOSFODNN7EXAMPLE", "export aws_[REDACTED:SECRET]"),
        ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe [REDACTED:SECRET]"),
        ("aws ASIAIOSFODNN7EXAMPLE", "aws [REDACTED:SECRET]"),
        ("mail alice\uff20example.com", "mail [REDACTED:EMAIL]"),
        ("mail alice\ufe6bexample.com", "mail [REDACTED:EMAIL]"),
        ("ssn 123\uff0d45\uff0d6789", "ssn [REDACTED:US_SSN]"),
        ("card 4111\u00a01111\u00a01111\u00a01111", "card [REDACTED:CREDIT_CARD]"),
        ("card 4111\u20091111\u20091111\u20091111", "card [REDACTED:CREDIT_CARD]"),
        ("card 4111\u200b1111\u200b1111\u200b1111", "card [REDACTED:CREDIT_CARD]"),
        ("tel +1\u00a0415\u00a0555\u00a00132", "tel [REDACTED:PHONE]"),
        ("ip 10\uff0e0\uff0e0\uff0e1", "ip [REDACTED:IP_ADDRESS]"),
        ("iban DE89\u00a03704\u00a00044\u00a00532\u00a00130\u00a000", "iban [REDACTED:IBAN]"),
        ("key sk\u00ad-proj-abcdefghijklmnopqrstuvwxyz123456", "key [REDACTED:SECRET]"),
    ],
)
def test_reported_shapes(text: str, want: str) -> None:
    """The shapes named in the attacker's review, as a smoke check beside the properties above."""
    assert pii.redact(text, pii.find(text)) == want


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(KINDS), seed=st.integers(0, 2**32))
def test_a_request_with_many_fields_is_redacted_through_the_view(kind: str, seed: int) -> None:
    """The request check first asks, over all fields at once, whether any detector could match: on the view."""
    from .conftest import compiled

    rng = random.Random(seed)
    value = _disguised(rng, pv.GENERATORS[kind](rng))
    body = {
        "model": "m",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": f"x {value} y"}],
    }
    decisions = compiled().check_request("chat", body, None)
    assert body["messages"][1]["content"] == f"x [REDACTED:{kind.upper()}] y"
    assert f"pii.input.{kind}" in [d.rule for d in decisions]


# Characters that the view drops, folds one for one, or folds into several (½ → 1⁄2, ﬁ → fi, ⑴ → (1)).
_VIEW_ALPHABET = "0123456789 -.:@+()ab\u200b\u00ad\u2060\ufeff\uff10\uff11\uff20\u2013\u3002\u00a0\u00bd\ufb01\u2474"


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.one_of(st.text(_VIEW_ALPHABET, max_size=6), st.sampled_from(["4111 1111 1111 1111", "a@b.io", "10.0.0.1"])),
        max_size=8,
    ).map("".join)
)
def test_find_maps_findings_back_through_the_view(text: str) -> None:
    """``find`` maps each finding in the view back to the original text as ``view``'s ``ends`` say, whichever way
    the view was made (invisible characters dropped, characters folded into several)."""
    from bisect import bisect_left, bisect_right

    v, ends = textview.view(text)
    found = pii._find(v, None)
    want = (
        found
        if ends is None
        else [pii.Finding(f.kind, bisect_right(ends, f.start), bisect_left(ends, f.end) + 1) for f in found]
    )
    assert pii.find(text) == want, text


# ---------------------------------------------------------------- fold_back: the fast view and its way back
# Characters of every kind the view treats differently: ASCII, invisible (dropped), look-alike punctuation and
# spaces, full-width forms (one for one), characters NFKC expands (ligatures, circled and squared forms) and
# characters around them (combining marks, Hangul fillers), and any code point.
_FOLD_ALPHABET = st.one_of(
    st.sampled_from(list("0123456789 -.:@+()abcXYZ\n")),
    st.sampled_from(pv.INVISIBLE + pv.SPACES + pv.DASHES + pv.ATS),
    st.sampled_from(["０", "９", "ａ", "\ufb01", "\u2460", "\u3392", "\u0301", "\u3164", "\uffa0", "\u115f", "é"]),
    st.characters(exclude_categories=["Cs"]),
)


def _all_spans(n: int) -> list[tuple[int, int]]:
    return [(s, e) for s in range(n) for e in range(s + 1, n + 1)]


@settings(max_examples=400, deadline=None)
@given(text=st.text(_FOLD_ALPHABET, max_size=24))
def test_fold_back_reads_what_the_per_character_view_reads(text: str) -> None:
    """``fold_back`` (one translate, one split over the dropped characters) gives the view ``fold_parts`` builds
    one character at a time, and maps every span of it back to the span ``text_spans`` maps it to."""
    v, parts = textview.fold_parts(text)
    fast, back = textview.fold_back(text)
    assert fast == v, ascii(text)
    spans = _all_spans(len(v))
    want = spans if parts is None else textview.text_spans(v, parts, spans)
    assert (spans if back is None else back(spans)) == want, ascii(text)


@pytest.mark.parametrize(
    "text", ["a\0b \u200b4111 1111 1111 1111", "\ufb01le 4\u200b111 1111 1111 1111", "\u2460\u200b"]
)
def test_fold_back_where_its_marks_cannot_be_used(text: str) -> None:
    """A NUL in the text (the mark of a dropped character) or a character NFKC expands: the per-character way."""
    v, parts = textview.fold_parts(text)
    fast, back = textview.fold_back(text)
    assert fast == v and parts is not None and back is not None
    spans = _all_spans(len(v))
    assert back(spans) == textview.text_spans(v, parts, spans)


@SETTINGS
@given(
    seed=st.integers(0, 2**32),
    left=st.text("abcdefABCDEFxyz", min_size=0, max_size=3),
    right=st.text("abcdefABCDEFxyz", min_size=0, max_size=3),
)
def test_a_card_number_touching_a_letter_is_part_of_an_identifier_not_a_card(seed: int, left: str, right: str) -> None:
    """A Luhn-valid run inside a hex digest or an identifier (`ff5412241194495 9aea`, `id4111…x`) is not a card:
    Hypothesis found `a862308b3ff54122411944959aea…` redacted as one. Between non-letters it still is."""
    assume(left or right)
    rng = random.Random(seed)
    card = pv.card(rng).replace(" ", "").replace("-", "")
    text = f"digest {left}{card}{right} ok"
    assert [f for f in pii.find(text) if f.kind == "credit_card"] == [], text
    plain = f"digest {card} ok"
    assert [(f.kind, f.start) for f in pii.find(plain)] == [("credit_card", 7)], plain


@SETTINGS
@given(seed=st.integers(0, 2**32), sep=st.sampled_from(["-", "."]))
def test_digits_glued_to_a_word_by_a_hyphen_or_dot_are_no_phone(seed: int, sep: str) -> None:
    """`737c77ec-d08d-0281-6423-f1cf…` (a UUID): the digit groups after `d08d-` are part of the token, not a phone
    number (Hypothesis found it redacted)."""
    rng = random.Random(seed)
    word = rng.choice(["d08d", "id", "build", "x", "ab_c"])
    number = f"0{rng.randint(100, 999)}{sep}{rng.randint(1000, 9999)}"
    assert [f for f in pii.find(f"ref {word}{sep}{number} ok") if f.kind == "phone"] == []
    # ... and on its right: a UUID's first groups, `06343102-8938-c509-…`
    first = f"{rng.randint(0, 99999999):08d}-{rng.randint(0, 9999):04d}"
    assert [f for f in pii.find(f"at {first}-{word}-2f36 ok") if f.kind == "phone"] == []


# ---------------------------------------------------------------- combining marks
# A nonspacing or enclosing mark (Unicode categories Mn, Me) is drawn on the character before it: strikethrough
# (U+0336), underline (U+0332), a keycap (U+20E3), accents and "Zalgo" stacks leave `4̶1̶1̶1̶…` or `a̲l̲i̲c̲e̲@…`
# readable as what it was to a model and a person, and split it for a detector that reads the code points.
marks = st.lists(st.characters(categories=["Mn", "Me"]), min_size=1, max_size=3).map("".join)


@SETTINGS
@given(
    kind=st.sampled_from(KINDS),
    seed=st.integers(0, 2**32),
    stacks=st.lists(marks, min_size=1, max_size=8),
    before=st.sampled_from(BEFORE),
    after=st.sampled_from(AFTER),
)
def test_values_drawn_over_with_combining_marks_are_found_whole(
    kind: str, seed: int, stacks: list[str], before: str, after: str
) -> None:
    rng = random.Random(seed)
    plain = pv.GENERATORS[kind](rng)
    chars = list(plain)
    for stack in stacks:  # after any character but the last (a mark after it is outside the value's span)
        i = rng.randrange(len(chars) - 1)
        chars[i] += stack
    if rng.random() < 0.5:  # a mark on every character, as text generators write strikethrough
        chars = [c + stacks[0] for c in chars[:-1]] + chars[-1:]
    value = "".join(chars)
    text = before + value + after
    assert _covering(text, len(before), len(before) + len(value), kind), (ascii(value), pii.find(text))
    assert pii.redact(text, pii.find(text)) == f"{before}[REDACTED:{kind.upper()}]{after}"


def test_every_combining_mark_is_invisible_to_the_detectors() -> None:
    import sys
    import unicodedata

    kept = [
        hex(c)
        for c in range(sys.maxunicode + 1)
        if unicodedata.category(chr(c)) in ("Mn", "Me") and textview.view(f"4{chr(c)}1")[0] != "41"
    ]
    assert kept == []


# ---------------------------------------------------------------- dashes glued to a value
# Replies write dashes glued to words ("Your card—4111 1111 1111 1111—was declined"); the view reads an em or en
# dash as `-`, and a card or SSN with a `-` on either side was taken for part of a longer dashed number. A
# dash after a word (or before one) is punctuation; only a dash between digits joins them.
DASHES_GLUED = ["-", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015", "\u2212", "\ufe63", "\uff0d"]


@SETTINGS
@given(
    kind=st.sampled_from(["credit_card", "us_ssn"]),
    seed=st.integers(0, 2**32),
    left=st.sampled_from(["card", "SSN", "number", "x", ":", "("]),
    right=st.sampled_from(["was", "ok", ".", ")", ""]),
    dash=st.sampled_from(DASHES_GLUED),
    both=st.booleans(),
)
def test_a_value_glued_to_words_by_dashes_is_found(
    kind: str, seed: int, left: str, right: str, dash: str, both: bool
) -> None:
    rng = random.Random(seed)
    value = pv.GENERATORS[kind](rng)
    before = f"Your {left}{dash}"
    after = f"{dash}{right} today" if both else f" {right}"
    text = before + value + after
    assert _covering(text, len(before), len(before) + len(value), kind), (ascii(text), pii.find(text))


@SETTINGS
@given(kind=st.sampled_from(["credit_card", "us_ssn"]), seed=st.integers(0, 2**32), n=st.integers(10000, 99999))
def test_a_value_inside_a_longer_dashed_number_is_none(kind: str, seed: int, n: int) -> None:
    """The other side of the rule: digits and a dash before or after it make it part of a longer number (five
    digits: a card may end in a group of three, `4111-1111-1111-1111-123`)."""
    value = pv.GENERATORS[kind](random.Random(seed))
    for text in (f"ref {n}-{value} ok", f"ref {value}-{n} ok"):
        assert [f for f in pii.find(text) if f.kind == kind] == [], text


# ---------------------------------------------------------------- digits written as other digit signs
# Circled, negative-circled, parenthesized and full-stop digits (`❹❶❶❶ ❶❶❶❶ …`, `⑷⑴⑴⑴`) read as digits to a model;
# NFKC folds some to `1`, others to `(1)` or `1.`, and the dingbat ones not at all.
def _digit_signs() -> dict[str, list[str]]:
    import sys
    import unicodedata

    out: dict[str, list[str]] = {str(d): [] for d in range(10)}
    for c in range(0x80, sys.maxunicode + 1):
        d = unicodedata.digit(chr(c), None)
        if d is not None and unicodedata.category(chr(c)) == "No":
            out[str(d)].append(chr(c))
    return out


DIGIT_SIGNS = _digit_signs()


def _found_whole_in_other_letters(
    kind: str, seed: int, rate: float, before: str, after: str, others: dict[str, Sequence[str]]
) -> None:
    """A generated value of ``kind``, each character that ``others`` has swapped (at ``rate``) for one of its
    look-alikes there, between ``before`` and ``after``: found, and covered whole."""
    rng = random.Random(seed)
    plain = pv.GENERATORS[kind](rng)
    value = "".join(rng.choice(others[c]) if c in others and rng.random() < rate else c for c in plain)
    text = before + value + after
    assert _covering(text, len(before), len(before) + len(value), kind), (ascii(value), pii.find(text))


@SETTINGS
@given(
    kind=st.sampled_from(["credit_card", "us_ssn", "phone", "iban"]),
    seed=st.integers(0, 2**32),
    rate=st.sampled_from([0.3, 1.0]),
    before=st.sampled_from(BEFORE),
    after=st.sampled_from(AFTER),
)
def test_values_written_with_other_digit_signs_are_found_whole(
    kind: str, seed: int, rate: float, before: str, after: str
) -> None:
    _found_whole_in_other_letters(kind, seed, rate, before, after, {d: s for d, s in DIGIT_SIGNS.items() if s})


# ---------------------------------------------------------------- Latin letters written as Cyrillic or Greek ones
# Unicode's confusables (UTS #39, confusables.txt: `0430 ; 0061` CYRILLIC SMALL LETTER A → LATIN SMALL LETTER A, …):
# `alice@exаmple.com` with a Cyrillic `а`, `АKIA…` with a Cyrillic `А`, read as the address and the key they
# spell, to a person and to a model. Drawn independently of the gateway's own table.
CONFUSABLE = {
    "a": "\u0430\u03b1", "c": "\u0441", "e": "\u0435", "i": "\u0456\u03b9", "j": "\u0458", "o": "\u043e\u03bf",
    "p": "\u0440\u03c1", "s": "\u0455", "x": "\u0445\u03c7", "y": "\u0443", "A": "\u0410\u0391", "B": "\u0412\u0392",
    "C": "\u0421", "E": "\u0415\u0395", "H": "\u041d\u0397", "I": "\u0406\u0399", "J": "\u0408", "K": "\u041a\u039a",
    "M": "\u041c\u039c", "N": "\u039d", "O": "\u041e\u039f", "P": "\u0420\u03a1", "S": "\u0405", "T": "\u0422\u03a4",
    "X": "\u0425\u03a7", "Y": "\u03a5", "Z": "\u0396",
}  # fmt: skip


@SETTINGS
@given(
    kind=st.sampled_from(["email", "secret", "iban"]),
    seed=st.integers(0, 2**32),
    rate=st.sampled_from([0.2, 1.0]),
    before=st.sampled_from(BEFORE),
    after=st.sampled_from(AFTER),
)
def test_values_spelled_with_cyrillic_or_greek_look_alikes_are_found_whole(
    kind: str, seed: int, rate: float, before: str, after: str
) -> None:
    _found_whole_in_other_letters(kind, seed, rate, before, after, CONFUSABLE)
