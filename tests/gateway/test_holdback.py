from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from llmops_cli.gateway.policy.engine import Decision
from llmops_cli.gateway.stream import HoldBack

from .conftest import compiled

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


def test_window_bounds_buffer_and_releases_clean_text() -> None:
    out, _ = run("a" * 500, [7])
    assert "".join(out) == "a" * 500
    assert all(len(o) <= 64 + 7 for o in out)
    assert out[-1] == "a" * len(out[-1]) and len(out[-1]) <= 64


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
    from llmops_cli.gateway.asgi import Ctx
    from llmops_cli.gateway.streaming import StreamingMixin

    ctx = Ctx("r", "/v1/chat/completions", 0.0)
    usage = {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
    chunk = {"id": "c", "object": "chat.completion.chunk", "usage": usage}
    out = StreamingMixin._filter_chunk(StreamingMixin(), chunk, {}, compiled(), ctx, "content", True)
    assert out is not None and out.startswith(b"data: {") and out.endswith(b"\n\n")
    assert (ctx.prompt_tokens, ctx.completion_tokens) == (3, 5)
    # Not asked for: dropped, still counted.
    ctx2 = Ctx("r", "/v1/chat/completions", 0.0)
    assert StreamingMixin._filter_chunk(StreamingMixin(), dict(chunk), {}, compiled(), ctx2, "content", False) is None
    assert ctx2.completion_tokens == 5


def test_malformed_delta_is_not_a_crash() -> None:
    from llmops_cli.gateway.asgi import Ctx
    from llmops_cli.gateway.streaming import StreamingMixin

    ctx = Ctx("r", "/v1/chat/completions", 0.0)
    chunk = {"choices": [{"index": "x", "delta": "not an object", "finish_reason": None}, 7]}
    assert StreamingMixin._filter_chunk(StreamingMixin(), chunk, {}, compiled(), ctx, "content", False) is None
