from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from llmops_cli.gateway.holdback import HOLD_MAX, HoldBack
from llmops_cli.gateway.policy.engine import Decision
from llmops_cli.gateway.testing import pii_values as pv

from .conftest import compiled


def _b64(n: int, seed: int, alphabet: str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(n))


URL_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
# Longer than the default window of 64 characters.
JWT = f"eyJhbGciOiJIUzI1NiJ9.eyJ{_b64(600, 1, URL_SAFE)}.{_b64(43, 2, URL_SAFE)}"
PEM_BODY = "\n".join(_b64(64, i) for i in range(8)) + "\nZz0="
PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----"
PEM_CUT_OFF = f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}"  # no END line
# Armor headers first: the live search once read `Version` as base64 and stopped at its colon, releasing the body.
PGP = (
    f'-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\nComment: "work" key\n\n{PEM_BODY}'
    "\n-----END PGP PRIVATE KEY BLOCK-----"
)
SK = "sk-proj-" + _b64(120, 3, URL_SAFE)
GITHUB = "github_pat_" + _b64(82, 4, URL_SAFE.replace("-", ""))

SECRETS = [
    "jane.doe@example.com",
    "4111 1111 1111 1111",
    "DE89 3704 0044 0532 0130 00",
    "123-45-6789",
    "+1 415 555 0100",
    "sk-proj-abcdefghijklmnopqrstuvwxyz0123",
]

MORE = [
    *SECRETS,
    "(030) 1234567",
    "192.168.10.4",
    "2001:db8::8a2e:370:7334",
    "fe80::1",
    "GB82WEST12345698765432",
    "AKIAIOSFODNN7EXAMPLE",
    "-----BEGIN RSA PRIVATE KEY-----",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "٤١١١ ١١١١ ١١١١ ١١١١",  # Arabic-Indic digits: `\d` in the detectors
    JWT[:250] + JWT[-44:],
    SK,
    PEM,
    PGP,
    "2001:db8::ff00:42:8329 4111111111111111",  # an IPv6 address next to digits that may be a card
    "4111 1111 1111 1111 123",  # a card then a CVV
    "123-45-6789 4111 1111 1111 1111",
    "+49 30 1234567 10.0.0.1",
    "192.168.0.10.",
]


def run(text: str, cuts: list[int]) -> tuple[list[str], list[Decision]]:
    decisions: list[Decision] = []
    hb = HoldBack(compiled(), decisions)
    out: list[str] = []
    pos = 0
    i = 0
    while pos < len(text):
        n = cuts[i % len(cuts)]
        out.append(hb.push(text[pos : pos + n]))
        pos += n
        i += 1
    out.append(hb.flush())
    return out, decisions


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(MORE),
    st.text(alphabet="abc xyz.,", max_size=120),
    st.text(alphabet="abc xyz.,", max_size=120),
    st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=30),
)
def test_split_personal_data_never_leaves(secret: str, before: str, after: str, cuts: list[int]) -> None:
    text = f"{before} {secret} {after}"
    out, decisions = run(text, cuts)
    sent = "".join(out)
    # No prefix of the sent stream contains the secret, and every byte of it is gone.
    assert secret not in sent
    assert "[REDACTED:" in sent
    assert any(d.rule.startswith("pii.output.") for d in decisions)
    # The non-personal text survives in order.
    assert sent.startswith(before.split(" ")[0]) or not before


def test_a_long_word_is_held_until_it_ends() -> None:
    """A word may still become a token or an e-mail address: it is held while it grows, however long (no
    window cut through it), and leaves whole once it ends."""
    out, _ = run("a" * 500 + " b", [7])
    assert "".join(out) == "a" * 500 + " b"
    assert all(o == "" for o in out[:-2]) and out[-2] == "a" * 500 + " " and out[-1] == "b"


def test_long_jwt_in_small_reads_is_redacted() -> None:
    """A token longer than `holdback_chars` (64), 4 characters per read: none of it leaves raw."""
    jwt = (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5"
        "MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    )
    out, decisions = run(f"Your token is {jwt} keep it safe.", [4])
    assert "".join(out) == "Your token is [REDACTED:SECRET] keep it safe."
    assert [d.rule for d in decisions] == ["pii.output.secret"]


def test_pem_block_streamed_is_redacted_whole() -> None:
    out, _ = run(f"key:\n{PEM}\nThanks!", [3])
    assert "".join(out) == "key:\n[REDACTED:SECRET]\nThanks!"


def test_ipv6_next_to_a_card_guess() -> None:
    """A card guess over the end of an IPv6 address (its digits may still continue) does not let the address go."""
    out, _ = run("Host 2001:db8::ff00:42:8329 4111111111111111 ok", [33, 10, 4])
    assert "".join(out) == "Host [REDACTED:IP_ADDRESS] [REDACTED:CREDIT_CARD] ok"


def test_overlong_run_is_released_redacted_as_a_whole() -> None:
    """Past the hard bound the held run leaves as one placeholder, and the rest of the run is dropped as it
    arrives: fail closed, never raw."""
    token = JWT[:20] + _b64(3 * HOLD_MAX, 5, URL_SAFE)
    out, decisions = run(f"token: {token} done.", [7])
    sent = "".join(out)
    assert sent == "token: [REDACTED:OVERLONG] done."
    assert "pii.output.overlong" in [d.rule for d in decisions]
    assert max(len(o) for o in out) < 64  # and it is not held until the end

    big_pem = PEM.replace(PEM_BODY, "\n".join(_b64(64, i) for i in range(100)))
    out, _ = run(f"Here: {big_pem}\nThanks!", [5])
    assert "".join(out) == "Here: [REDACTED:OVERLONG]\nThanks!"


def test_overlong_run_under_a_log_only_policy_leaves_as_is() -> None:
    kinds = ("email", "phone", "credit_card", "iban", "us_ssn", "ip_address", "secret")
    text = "\n".join(
        [
            "version: 1",
            "auth: {required: false}",
            "content:",
            "  pii:",
            "    output: {" + ", ".join(f"{k}: log" for k in kinds) + "}",
        ]
    )
    hb = HoldBack(compiled(text), [])
    long = "a" * (2 * HOLD_MAX)
    sent = "".join(hb.push(long[i : i + 100]) for i in range(0, len(long), 100)) + hb.flush()
    assert sent == long


def test_prose_is_not_held() -> None:
    """First-token latency: each read releases everything up to its last word (which may still grow)."""
    words = "The ingestion queue stalled after a configuration push and alerts fired within two minutes.".split(" ")
    hb = HoldBack(compiled(), [])
    for i, w in enumerate(words):
        out = hb.push(w if i == 0 else " " + w)
        assert out == ("" if i == 0 else words[i - 1] + " ")
    assert hb.flush() == words[-1]


def test_no_output_rules_means_no_holdback() -> None:
    text = "\n".join(
        [
            "version: 1",
            "auth: {required: false}",
            "content:",
            "  pii:",
            "    output: "
            "{email: off, phone: off, credit_card: off, iban: off, us_ssn: off, ip_address: off,"
            " secret: off}",
        ]
    )
    hb = HoldBack(compiled(text), [])
    assert hb.push("a@b.io") == "a@b.io"


_WORDS = st.sampled_from(["the", "team", "at", "09:12", "call", "me", "on", "IBAN", "card", "2024.", "x-1", "ok,"])
_PIECES = st.lists(st.one_of(_WORDS, st.sampled_from(MORE)), max_size=14)


@settings(max_examples=400, deadline=None)
@given(_PIECES, st.sampled_from(["\n", ", ", "; "]), st.lists(st.integers(1, 12), min_size=1, max_size=20))
def test_stream_equals_redacting_the_whole_text(pieces: list[str], sep: str, cuts: list[int]) -> None:
    """Whatever the chunking, the client gets exactly what redacting the complete text at once gives.

    The separators end every run a detector could span. Joined by plain spaces, digit groups can chain into
    one run longer than the window (`+1 415 555 0100 4111 1111 …`); there the stream still redacts, but may
    cut the run differently from a whole-text scan: the guarantee is for entities up to `holdback_chars`."""
    from llmops_cli.gateway.policy import pii

    text = sep.join(pieces)
    out, _ = run(text, cuts)
    assert "".join(out) == pii.redact(text, pii.find(text))


def test_prose_leaves_word_by_word() -> None:
    """Only a word that could still grow into personal data is held, not a fixed window."""
    decisions: list[Decision] = []
    hb = HoldBack(compiled(), decisions)
    assert hb.push("The incident ") == "The incident "
    assert hb.push("began at 09") == "began at "  # `09` may become a phone number or a card
    assert hb.push(":12 when") == "09:12 "
    assert hb.push(" the pager went off.") == "when the pager went "
    assert hb.push(" Mail ops.lead@exa") == "off. Mail "
    assert hb.push("mple.com now") == "[REDACTED:EMAIL] "
    assert hb.flush() == "now"


def test_usage_only_chunk_stays_an_sse_event() -> None:
    """A provider's final usage chunk without `choices` is passed on framed as an SSE event, not raw JSON."""
    from llmops_cli.gateway.asgi import RequestRecord
    from llmops_cli.gateway.streamrelay import filter_chunk

    ctx = RequestRecord("r", "/v1/chat/completions", 0.0)
    usage = {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
    chunk = {"id": "c", "object": "chat.completion.chunk", "usage": usage}
    out = filter_chunk(chunk, {}, compiled(), ctx, "content", True)
    assert out is not None and out.startswith(b"data: {") and out.endswith(b"\n\n")
    assert (ctx.prompt_tokens, ctx.completion_tokens) == (3, 5)
    # Not asked for: dropped, still counted.
    ctx2 = RequestRecord("r", "/v1/chat/completions", 0.0)
    assert filter_chunk(dict(chunk), {}, compiled(), ctx2, "content", False) is None
    assert ctx2.completion_tokens == 5


def test_malformed_delta_is_not_a_crash() -> None:
    from llmops_cli.gateway.asgi import RequestRecord
    from llmops_cli.gateway.streamrelay import filter_chunk

    ctx = RequestRecord("r", "/v1/chat/completions", 0.0)
    chunk = {"choices": [{"index": "x", "delta": "not an object", "finish_reason": None}, 7]}
    assert filter_chunk(chunk, {}, compiled(), ctx, "content", False) is None


# ------------------------------------------------ split anywhere: no raw run of 6 characters of personal data
# (text, the parts of it that are personal data, what separates it from the surrounding prose)
LEAKY = [
    (JWT, [JWT], " "),
    (SK, [SK], " "),
    (GITHUB, [GITHUB], " "),
    ("llmops-" + _b64(60, 6, URL_SAFE), None, " "),
    (PEM, [PEM_BODY], "\n"),
    (PEM_CUT_OFF, [PEM_BODY], "\n\n"),
    (PGP, [PEM_BODY], "\n"),
    (PEM.replace("\n", " "), [PEM_BODY.replace("\n", " ")], " "),
    ("2001:db8::ff00:42:8329 4111111111111111", ["2001:db8::ff00:42:8329", "4111111111111111"], " "),
    ("fe80::1ff:fe23:4567:890a 4111 1111 1111 1111", ["fe80::1ff:fe23:4567:890a", "4111 1111 1111 1111"], " "),
    ("4111 1111 1111 1111 123", ["4111 1111 1111 1111"], " "),
    ("123-45-6789 4111 1111 1111 1111", None, " "),
    ("+49 30 1234567 10.0.0.1", None, " "),
    ("192.168.0.10.", ["192.168.0.10"], " "),
    ("jane.doe." + "x" * 70 + "@example.com", None, " "),
    ("DE89 3704 0044 0532 0130 00", None, " "),
    ("+1 (415) 555-0100", None, " "),
    ("٤١١١ ١١١١ ١١١١ ١١١١", None, " "),
]
_PROSE = st.text(alphabet="qvwz ,;!?", max_size=80)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(LEAKY),
    _PROSE,
    _PROSE,
    st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=40),
)
def test_split_personal_data_never_leaks_a_byte(
    entity: tuple[str, list[str] | None, str], before: str, after: str, cuts: list[int]
) -> None:
    text, cores, sep = entity
    full = f"{before}{sep}{text}{sep}{after}"
    out, _ = run(full, cuts)
    sent = "".join(out)
    for core in cores or [text]:
        for i in range(len(core) - 5):
            piece = core[i : i + 6]
            assert piece not in sent or piece in before + after, (piece, sent)


# ---------------------------------------------------------------- the bounded live search finds the same run
_PIECES = st.sampled_from(
    [
        "word ",
        "DE89 3704 0044 0532 0130 00",
        "GB82 WEST 1234 5698 7654 32",
        "4111 1111 1111 1111",
        "+1 (212) 736-4521",
        "alice.smith@example.com",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
        "2001:db8::ff00:42:8329",
        "192.168.0.10.",
        "-----BEGIN PRIVATE KEY-----\nMIIEvQ==\n",
        "-----END PRIVATE KEY-----",
        "sk-" + "a" * 30,
        " ",
        "\n",
        ". ",
        "x" * 70,
        "1 2 3 ",
        "a.",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=12).map("".join), st.integers(0, 40))
def test_bounded_live_search_equals_full_search(text: str, cut: int) -> None:
    from llmops_cli.gateway.holdback import _LIVE, _live_from

    p = text[: max(0, len(text) - cut)]
    full = _LIVE.search(p)
    bounded = _LIVE.search(p, _live_from(p))
    assert (full and (full.lastgroup, full.start(full.lastgroup or 0))) == (
        bounded and (bounded.lastgroup, bounded.start(bounded.lastgroup or 0))
    )


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(pv.GENERATORS)),
    st.integers(0, 2**32),
    st.sampled_from(["\n", ", ", "; ", " and "]),
    st.lists(st.integers(1, 9), min_size=1, max_size=20),
)
def test_disguised_values_streamed_equal_the_whole_text(kind: str, seed: int, sep: str, cuts: list[int]) -> None:
    """Values written with Unicode look-alikes and invisible characters (which the detectors read through):
    whatever the chunking, the client gets what redacting the whole text gives, and none of the value leaks."""
    from llmops_cli.gateway.policy import pii

    rng = random.Random(seed)
    value = pv.disguise(rng, pv.GENERATORS[kind](rng), rate=0.5)
    text = f"Hello{sep}{value}{sep}bye"
    out, _ = run(text, cuts)
    assert "".join(out) == pii.redact(text, pii.find(text)) == f"Hello{sep}[REDACTED:{kind.upper()}]{sep}bye"


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(pv.GENERATORS)),
    st.integers(0, 2**32),
    st.lists(st.characters(categories=["Mn", "Me"]), min_size=1, max_size=3).map("".join),
    st.lists(st.integers(1, 9), min_size=1, max_size=20),
)
def test_values_drawn_over_with_marks_streamed_equal_the_whole_text(
    kind: str, seed: int, mark: str, cuts: list[int]
) -> None:
    """Strikethrough, underline, keycap and accent marks on each character of a value (the marks arrive in a
    chunk of their own, or split from their character): the value is held and redacted whole."""
    from llmops_cli.gateway.policy import pii

    rng = random.Random(seed)
    plain = pv.GENERATORS[kind](rng)
    value = "".join(c + mark for c in plain[:-1]) + plain[-1]
    text = f"Hello {value} bye"
    out, _ = run(text, cuts)
    assert "".join(out) == pii.redact(text, pii.find(text)) == f"Hello [REDACTED:{kind.upper()}] bye"


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["credit_card", "us_ssn"]),
    st.integers(0, 2**32),
    st.sampled_from(["-", "\u2013", "\u2014", "\u2212"]),
    st.lists(st.integers(1, 9), min_size=1, max_size=20),
)
def test_values_glued_by_dashes_streamed_equal_the_whole_text(kind: str, seed: int, dash: str, cuts: list[int]) -> None:
    """`Your card—4111 1111 1111 1111—was declined`, in any chunking: redacted whole."""
    from llmops_cli.gateway.policy import pii

    value = pv.GENERATORS[kind](random.Random(seed))
    text = f"Your number{dash}{value}{dash}was declined"
    out, _ = run(text, cuts)
    want = f"Your number{dash}[REDACTED:{kind.upper()}]{dash}was declined"
    assert "".join(out) == pii.redact(text, pii.find(text)) == want


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["credit_card", "us_ssn", "phone", "email", "secret"]),
    st.integers(0, 2**32),
    st.lists(st.integers(1, 9), min_size=1, max_size=20),
)
def test_values_in_digit_signs_and_latin_look_alikes_streamed_equal_the_whole_text(
    kind: str, seed: int, cuts: list[int]
) -> None:
    """Digits as circled or dingbat signs (`❹❶❶❶`) and Latin letters as Cyrillic look-alikes (`аlice`), in any
    chunking: held and redacted whole."""
    from llmops_cli.gateway.policy import pii

    rng = random.Random(seed)
    signs = {str(d): c for d, c in enumerate("⓿❶❷❸❹❺❻❼❽❾")}
    looks = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "A": "А", "K": "К", "I": "І"}
    value = "".join(signs.get(c) or looks.get(c) or c for c in pv.GENERATORS[kind](rng))
    text = f"Hello {value} bye"
    out, _ = run(text, cuts)
    assert "".join(out) == pii.redact(text, pii.find(text)) == f"Hello [REDACTED:{kind.upper()}] bye"
