"""The stream relay's short path for plain chunks (``replyfields.plain_chat_choice``: one choice, a delta of text
and a role, strings already checked) gives what the generic walk gives, byte for byte: the property runs
generated streams (plain chunks, and chunks that differ from plain in one key or value: an unchecked id or model,
another object, usage, a second choice, finish, tool calls, an unknown key, a custom role, logprobs, personal data
split across chunks, in the content and in the reasoning) through ``filter_chunk`` twice, once with the short
path and once with it turned off, under policies that redact, only log and deny, and compares every payload,
the completion text, the decisions, a refusal and what the windows still hold at the end.

Events of a chunk that only differs from an earlier plain one in its text are not even parsed
(``plainchunk.PlainText``): a second property sends generated streams as raw bytes (chunks encoded compactly, with
ASCII escapes or with spaces; texts that need escapes; raw texts that are no JSON string body, such as one that
closes the string and repeats the key) through the whole relay, with and without each short path, and compares
the bytes that leave and what the request records."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from collections.abc import AsyncIterator
from typing import Any
from unittest import mock

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmops_cli.gateway import streamrelay
from llmops_cli.gateway.asgi import RequestRecord
from llmops_cli.gateway.failures import Failures
from llmops_cli.gateway.metrics import Metrics
from llmops_cli.gateway.plainchunk import PlainText
from llmops_cli.gateway.policy.engine import CompiledPolicy, Denied
from llmops_cli.gateway.policy.replyfields import ReplyShapeError, plain_chat_choice
from llmops_cli.gateway.priority import LowPriority
from llmops_cli.gateway.streamrelay import StreamRelay, filter_chunk

from .conftest import output_pii_policies

EMAIL = "zorblax@example.com"
POLICIES = output_pii_policies()
# Pieces of text, personal data among them, that chunks split anywhere.
_PIECES = ["The ", "mail ", "zorb", "lax@exa", "mple.com", " ok.", "", "+1 415 ", "555 2671", " é", "\u200b", "4111 "]
_TEXT = st.sampled_from(_PIECES)
_ID = st.sampled_from(["chatcmpl-1", "chatcmpl-1", "chatcmpl-1", f"id {EMAIL}", None, 7])
_MODEL = st.sampled_from(["m-1", "m-1", "m-1", f"m {EMAIL}", None])


def _plain_delta() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"content": st.one_of(_TEXT, _TEXT, _TEXT, st.none())},
        optional={
            "role": st.sampled_from(["assistant", "assistant", None]),
            "reasoning_content": st.one_of(_TEXT, st.none()),
        },
    )


def _delta() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "role": st.sampled_from(["assistant", "user", f"wizard {EMAIL}", None, ""]),
            "content": st.one_of(_TEXT, st.none(), st.just(["x"])),
            "reasoning_content": st.one_of(_TEXT, st.none()),
            "reasoning": _TEXT,
            "refusal": _TEXT,
            "tool_calls": st.just([{"index": 0, "function": {"arguments": '{"to": "zorb'}}]),
            f"x {EMAIL}": st.none(),
            "name": st.sampled_from([1, "n"]),
        },
    )


def _choice() -> st.SearchStrategy[dict[str, Any]]:
    plain = st.fixed_dictionaries(
        {"index": st.just(0), "delta": _plain_delta()},
        optional={
            "logprobs": st.sampled_from([None, None, {"content": [{"token": "zorb"}]}, []]),
            "finish_reason": st.none(),
            "token_ids": st.sampled_from([None, [1, 2]]),
        },
    )
    other = st.fixed_dictionaries(
        {"index": st.sampled_from([0, 1, "0"]), "delta": st.one_of(_plain_delta(), _delta(), st.none())},
        optional={
            "logprobs": st.sampled_from([None, {"content": [{"token": "zorb"}]}]),
            "finish_reason": st.sampled_from([None, "stop", "weird"]),
            "stop_reason": st.sampled_from([None, 7, f"s {EMAIL}"]),
            "extra": st.sampled_from([None, "x"]),
        },
    )
    return st.one_of(plain, plain, plain, other)


def _chunk() -> st.SearchStrategy[dict[str, Any]]:
    """Mostly plain chunks of one stream (so that the short path runs), some of them differing in one place."""
    plain = st.fixed_dictionaries(
        {
            "id": st.just("chatcmpl-1"),
            "object": st.just("chat.completion.chunk"),
            "created": st.just(1),
            "model": st.just("m-1"),
            "choices": st.lists(_choice(), min_size=1, max_size=1),
        },
        optional={"system_fingerprint": st.sampled_from([None, "fp-1"]), "usage": st.none()},
    )
    other = st.fixed_dictionaries(
        {
            "id": st.sampled_from(["chatcmpl-1", f"id {EMAIL}", None, 7]),
            "object": st.sampled_from(["chat.completion.chunk", "chat.completion", "other"]),
            "created": st.sampled_from([1, "1", None]),
            "model": st.sampled_from(["m-1", f"m {EMAIL}", None]),
            "choices": st.one_of(st.lists(_choice(), max_size=2), st.just("x")),
        },
        optional={
            "system_fingerprint": st.sampled_from([None, "fp-1", f"fp {EMAIL}"]),
            "usage": st.sampled_from([None, {"prompt_tokens": 1, "completion_tokens": 2}, {}]),
            "prompt_token_ids": st.sampled_from([None, [1]]),
            "extra": st.sampled_from([None, "x"]),
        },
    )
    return st.one_of(plain, plain, plain, other)


def _last(batch: list[dict[str, Any]]) -> dict[int, int]:
    """For each choice, the position in the read of its last chunk with content (as the relay gives it)."""
    last: dict[int, int] = {}
    for j, chunk in enumerate(batch):
        choices = chunk.get("choices")
        for choice in choices if type(choices) is list else ():
            delta = choice.get("delta") if type(choice) is dict else None
            if type(delta) is dict and type(delta.get("content")) is str and delta["content"]:
                idx = choice.get("index", 0)
                last[idx if type(idx) is int else 0] = j
    return last


def _relay(policy: CompiledPolicy, reads: list[list[dict[str, Any]]], client_usage: bool) -> dict[str, Any]:
    """Every read's chunks through ``filter_chunk`` as the relay calls it; what came out and what is left."""
    ctx = RequestRecord("r", "/v1/chat/completions", 0.0)
    holds: streamrelay.Holds = {}
    seen: dict[str, str] = {}
    out: list[Any] = []
    try:
        for batch in copy.deepcopy(reads):
            last = _last(batch) if len(batch) > 1 else None
            for j, chunk in enumerate(batch):
                out.append(filter_chunk(chunk, holds, policy, ctx, "content", client_usage, last, j, seen))
        rest = {repr(k): h.flush() for k, h in holds.items()}
    except (Denied, ReplyShapeError) as e:
        out.append((type(e).__name__, str(e)))
        rest = {}
    return {
        "out": out,
        "completion": ctx.completion_parts,
        "decisions": ctx.decisions,
        "usage": (ctx.prompt_tokens, ctx.completion_tokens),
        "seen": seen,
        "rest": rest,
    }


def _generic(chunk: dict[str, Any], seen: dict[str, str]) -> None:
    return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(_chunk(), min_size=1, max_size=3), min_size=1, max_size=8),
    st.sampled_from(sorted(POLICIES)),
    st.booleans(),
)
def test_plain_chunks_take_a_short_path_with_the_generic_result(
    reads: list[list[dict[str, Any]]], name: str, client_usage: bool
) -> None:
    policy = POLICIES[name]
    short = _relay(policy, reads, client_usage)
    with mock.patch.object(streamrelay, "plain_chat_choice", _generic):
        generic = _relay(policy, reads, client_usage)
    assert short == generic


def _vllm_stream(text: str) -> list[dict[str, Any]]:
    """A chat stream as vLLM sends it: a role chunk, content chunks, a finish chunk."""
    base = {"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 5, "model": "m-1"}
    one = {"index": 0, "logprobs": None, "finish_reason": None}
    return [
        {**base, "choices": [{**one, "delta": {"role": "assistant", "content": ""}}]},
        *({**base, "choices": [{**one, "delta": {"content": text[i : i + 3]}}]} for i in range(0, len(text), 3)),
        {**base, "choices": [{**one, "delta": {}, "finish_reason": "stop"}]},
    ]


def test_a_vllm_stream_takes_the_short_path_after_its_first_chunk() -> None:
    """Not a vacuous property: every content chunk of a vLLM stream is plain once the first chunk was checked,
    and what leaves is the text redacted (the address split across chunks included)."""
    text = f"Write to {EMAIL} or call +1 415 555 2671 today."
    calls: list[bool] = []

    def counted(chunk: dict[str, Any], seen: dict[str, str]) -> dict[str, Any] | None:
        got = plain_chat_choice(chunk, seen)
        calls.append(got is not None)
        return got

    ctx = RequestRecord("r", "/v1/chat/completions", 0.0)
    holds: streamrelay.Holds = {}
    seen: dict[str, str] = {}
    out = []
    with mock.patch.object(streamrelay, "plain_chat_choice", counted):
        for chunk in _vllm_stream(text):
            payload = filter_chunk(chunk, holds, POLICIES["redact"], ctx, "content", False, None, 0, seen)
            if payload is not None:
                out.append(orjson.loads(payload[6:]))
    assert calls[0] is False and calls[-1] is False and all(calls[1:-1])
    released = "".join(c["choices"][0]["delta"].get("content", "") for c in out)
    assert released == "Write to [REDACTED:EMAIL] or call [REDACTED:PHONE] today."
    assert "".join(ctx.completion_parts) == released


# Raw bodies of a `content` string as an upstream may write them: escapes, a key repeated after a quote that
# closes the string early, an unfinished escape, a lone surrogate, a raw control character.
_RAW = st.sampled_from(
    [
        "The ",
        "zorb",
        "lax@exa",
        "mple.com",
        r"a\"b",
        r"\\",
        r"\u00e9",
        r"zorb\u0061x@example.com ",
        r"\ud83d\ude00",
        r"\ud800",
        r"x\"",
        'x","content":"zorblax@example.com',
        'x"},"extra":"zorblax@example.com","y":{"z":"',
        r"a\n",
        "a\u2028",
        "\x01",
        "a\tb",
        "\\",
        "",
    ]
)
_ENCODERS = {
    "orjson": orjson.dumps,
    "ascii": lambda o: json.dumps(o, ensure_ascii=True, separators=(",", ":")).encode(),
    "spaced": lambda o: json.dumps(o).encode(),
}
_VLLM_HEAD = '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m-1","choices":[{"index":0,'
_VLLM_TAIL = '"},"logprobs":null,"finish_reason":null}]}'
_RAW_EVENT = st.builds(
    lambda i, m: ("raw", _VLLM_HEAD.replace('"index":0', f'"index":{i}') + '"delta":{"content":"' + m + _VLLM_TAIL),
    st.sampled_from([0, 0, 1]),  # two choices: two templates, one after the other within a read
    _RAW,
)
_EVENT = st.one_of(
    _RAW_EVENT,
    _RAW_EVENT,
    st.tuples(st.sampled_from(["orjson", "orjson", "orjson", "ascii", "spaced"]), _chunk()),
)
# vLLM's first chunk: its id and model are checked, so that the chunks after it can be plain.
_ROLE = ("raw", _VLLM_HEAD + '"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}')


class _Up:
    status = 200

    def __init__(self, reads: list[bytes]) -> None:
        self.reads = reads

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        for r in self.reads:
            yield r

    async def aread(self) -> bytes:
        return b""


class _Adapter:
    def __init__(self, reads: list[bytes]) -> None:
        self.reads = reads

    @contextlib.asynccontextmanager
    async def stream(self, path: str, body: bytes) -> AsyncIterator[_Up]:
        yield _Up(self.reads)


_METRICS = Metrics()


def _through_relay(policy: CompiledPolicy, reads: list[bytes], client_usage: bool) -> dict[str, Any]:
    sent: list[bytes] = []

    async def send(m: dict[str, Any]) -> None:
        sent.append(m.get("body", b""))

    relay = StreamRelay(_Adapter(reads), Failures(_METRICS), _METRICS, None, LowPriority())  # type: ignore[arg-type]
    ctx = RequestRecord("r", "/v1/chat/completions", 0.0)
    asyncio.run(relay.relay(send, ctx, policy, "chat", "/v1/chat/completions", b"{}", client_usage))
    return {
        "sent": b"".join(sent),
        "completion": ctx.completion_parts,
        "decisions": ctx.decisions,
        "error": ctx.error,
        "status": ctx.status,
    }


def _no_template(*args: Any) -> None:
    return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(_EVENT, min_size=1, max_size=3), min_size=1, max_size=8),
    st.sampled_from(sorted(POLICIES)),
    st.booleans(),
    st.integers(min_value=0, max_value=400),
)
def test_raw_plain_events_leave_as_the_parsed_chunks_would(
    reads: list[list[tuple[str, Any]]], name: str, client_usage: bool, split: int
) -> None:
    raw = [
        b"".join(b"data: " + (ev.encode() if enc == "raw" else _ENCODERS[enc](ev)) + b"\n\n" for enc, ev in read)
        for read in [[_ROLE], *reads]
    ]
    raw[-1] += b"data: [DONE]\n\n"
    if split:  # one network read cut anywhere: the relay sees events only when they are whole
        i = split % len(raw)
        raw[i : i + 1] = [raw[i][: split % (len(raw[i]) + 1)], raw[i][split % (len(raw[i]) + 1) :]]
    policy = POLICIES[name]
    short = _through_relay(policy, raw, client_usage)
    with mock.patch.object(PlainText, "of", _no_template):
        plain = _through_relay(policy, raw, client_usage)
        with mock.patch.object(streamrelay, "plain_chat_choice", _generic):
            generic = _through_relay(policy, raw, client_usage)
    assert short == plain == generic


def test_the_text_of_a_templated_event_is_read_without_parsing_it() -> None:
    """Not a vacuous property: after the first plain chunk, the events of a vLLM stream are not parsed, and the
    address split across them still leaves redacted."""
    text = f"Write to {EMAIL} or call +1 415 555 2671 today."
    reads = [orjson.dumps(c) for c in _vllm_stream(text)]
    raw = [b"data: " + r + b"\n\n" for r in reads] + [b"data: [DONE]\n\n"]
    loads: list[Any] = []
    real = orjson.loads

    def counted(data: Any) -> Any:
        loads.append(data)
        return real(data)

    with mock.patch.object(streamrelay.orjson, "loads", counted):
        got = _through_relay(POLICIES["redact"], raw, False)
    # the role chunk, the first content chunk (it sets up the template) and its probe, the finish chunk
    assert len(loads) <= 5 < len(reads)
    assert "".join(got["completion"]) == "Write to [REDACTED:EMAIL] or call [REDACTED:PHONE] today."
    assert b"zorb" not in got["sent"] and got["sent"].endswith(b"data: [DONE]\n\n")
