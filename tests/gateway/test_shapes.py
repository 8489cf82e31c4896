"""Any JSON value, anywhere in a request or in an upstream reply: refused or checked, never a crash.

A value of an unexpected type (a content part whose `type` is a list, a streamed `finish_reason` that is an
object) raised TypeError in the gateway: a 500 and a traceback per request for a client, and a stream cut
without an error event for an upstream. Hypothesis puts arbitrary JSON at every path of valid requests and
stream chunks."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmops_cli.gateway.app import create_app
from llmops_cli.gateway.audit import AuditLog
from llmops_cli.gateway.policy import Denied
from llmops_cli.gateway.upstream.http import HttpAdapter

from .conftest import AUTH, compiled
from .test_fields import Scripted

pytestmark = [pytest.mark.timeout(300)]

JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.floats(allow_nan=False, allow_infinity=False),
              st.text(max_size=12), st.sampled_from(["text", "function", "stop", "assistant", "zorb@example.com"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6,
)  # fmt: skip

REQUESTS = {
    "chat": {
        "model": "fake-model",
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "data:,"}}]},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}}},
        "stop": ["\n\n"],
        "n": 1,
        "max_tokens": 16,
    },
    "completions": {"model": "fake-model", "prompt": ["a", "b"], "suffix": "s", "max_tokens": 8, "best_of": 1},
    "embeddings": {"model": "fake-model", "input": ["a", "b"]},
}  # fmt: skip


def _paths(obj: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*path, i))
    return out


def _put(obj: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    node = obj
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return obj


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(route=st.sampled_from(sorted(REQUESTS)), data=st.data(), value=JSON)
def test_any_value_anywhere_in_a_request_is_refused_or_checked(route: str, data: Any, value: Any) -> None:
    body = copy.deepcopy(REQUESTS[route])
    path = data.draw(st.sampled_from(_paths(body)[1:]))
    body = _put(body, path, value)
    policy = compiled()
    try:
        policy.admit_request(route, body, None)
    except Denied:
        return
    orjson.dumps(body)  # what is forwarded still serialises


def _chunk(**delta: Any) -> dict[str, Any]:
    return {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}]}  # fmt: skip


CHUNKS = [
    _chunk(role="assistant", content=""),
    _chunk(content="Hello "),
    _chunk(tool_calls=[{"index": 0, "id": "t", "type": "function", "function": {"name": "f", "arguments": "{\"a\""}}]),
    {**_chunk(content="bye"), "usage": None},
    {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
     "choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "stop_reason": None}]},
    {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [],
     "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4}},
]  # fmt: skip


async def _stream(chunks: list[Any]) -> tuple[int, str]:
    writes = [b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks] + [b"data: [DONE]\n\n"]
    adapter = HttpAdapter("http://upstream", transport=httpx.ASGITransport(Scripted(writes=writes)), timeout=5)
    app = create_app(compiled(), adapter, audit=AuditLog(None))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw", headers=AUTH) as c:
        body = {"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        r = await c.post("/v1/chat/completions", json=body)
        assert app.in_flight == 0
        return r.status_code, r.text


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), value=JSON)
def test_any_value_anywhere_in_a_stream_chunk_is_relayed_checked_or_ends_the_stream_with_an_error(
    data: Any, value: Any
) -> None:
    chunks = copy.deepcopy(CHUNKS)
    i = data.draw(st.integers(0, len(chunks) - 1))
    path = data.draw(st.sampled_from(_paths(chunks[i])))
    chunks[i] = _put(chunks[i], path, value)
    status, text = asyncio.run(_stream(chunks))
    assert status == 200
    events = [e for e in text.split("\n\n") if e]
    assert events[-1] == "data: [DONE]" or json.loads(events[-1][6:])["error"]["code"] == "upstream_protocol", text
    assert "zorb@example.com" not in text


REPLY = {
    "id": "c", "object": "chat.completion", "created": 1, "model": "m", "system_fingerprint": None,
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello", "tool_calls": [
        {"id": "t", "type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}}]},
        "logprobs": None, "finish_reason": "stop", "stop_reason": None}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4},
}  # fmt: skip


async def _unary(reply: Any) -> tuple[int, str]:
    adapter = HttpAdapter("http://upstream", transport=httpx.ASGITransport(Scripted(unary=reply)), timeout=5)
    app = create_app(compiled(), adapter, audit=AuditLog(None))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw", headers=AUTH) as c:
        r = await c.post(
            "/v1/chat/completions", json={"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
        )
        return r.status_code, r.text


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), value=JSON)
def test_any_value_anywhere_in_a_reply_is_relayed_checked_or_refused(data: Any, value: Any) -> None:
    reply = _put(copy.deepcopy(REPLY), data.draw(st.sampled_from(_paths(REPLY)[1:])), value)
    status, text = asyncio.run(_unary(reply))
    assert status in (200, 502), text
    assert "zorb@example.com" not in text
