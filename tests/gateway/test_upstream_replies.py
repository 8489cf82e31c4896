"""Upstream replies other than 200: every one goes through the output policies, and every upstream failure has
one error code (``upstream_*``) in the client's body, the audit record and the ``upstream_errors`` metric,
whatever the path (non-streamed, streamed, ``/v1/models``)."""

from __future__ import annotations

import contextlib
import json
import sys
import types
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from llmops_cli.gateway.app import GatewayApp, create_app
from llmops_cli.gateway.audit import AuditLog
from llmops_cli.gateway.settings import GatewayServerSettings
from llmops_cli.gateway.testing.fake_upstream import FakeUpstream, serve_in_thread
from llmops_cli.gateway.upstream import UpstreamError, UpstreamResponse
from llmops_cli.gateway.upstream.http import HttpAdapter
from llmops_cli.gateway.upstream.pool import PooledHttpAdapter

from .conftest import AUTH, KEY, app_of, chat, compiled, policy_with, sse_text

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

MAIL = "alice@example.com"
OPENAI_ERROR_KEYS = {"message", "type", "param", "code"}
# The prompt's e-mail reaches the upstream (input `log`), and comes back quoted in its error message.
ECHO_POLICY = policy_with({"content.pii.input.email": "log"})


def _audit(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _error(r: httpx.Response) -> dict[str, Any]:
    """The error object of a response: its JSON body, or the SSE error event that ended a stream."""
    if r.headers["content-type"].startswith("text/event-stream"):
        last = r.text.strip().split("\n\n")[-1]
        assert last.startswith("data: "), r.text
        obj = json.loads(last[6:])
    else:
        obj = r.json()
    assert set(obj) == {"error"}, obj
    assert set(obj["error"]) == OPENAI_ERROR_KEYS, obj
    err: dict[str, Any] = obj["error"]
    return err


def _metric(app: GatewayApp, code: str) -> float:
    needle = f'llmops_gateway_upstream_errors_total{{kind="{code}"}} '
    for line in app.metrics.render().decode().splitlines():
        if line.startswith(needle):
            return float(line.split()[-1])
    return 0.0


# ---------------------------------------------------------------------------------------------- 4xx
@pytest.mark.parametrize("stream", [False, True])
async def test_a_4xx_error_message_is_redacted_and_rebuilt(
    make_client: Callable[..., httpx.AsyncClient], fake: FakeUpstream, tmp_path: Path, stream: bool
) -> None:
    fake.config.error_body = orjson.dumps(
        {
            "error": {
                "message": f"Invalid request: contact {MAIL} or 10.1.2.3",
                "type": "BadRequestError",
                "param": "messages",
                "code": 400,  # vLLM's numeric code: not a string, dropped
                "internal": f"trace for {MAIL}",
            },
            "debug": {"prompt": MAIL},
        }
    )
    log = tmp_path / "audit.jsonl"
    c = make_client(audit=str(log))
    r = await c.post("/v1/chat/completions", json={**chat("hi", stream=stream), "model": "fault:400"})
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/json"
    assert _error(r) == {
        "message": "Invalid request: contact [REDACTED:EMAIL] or [REDACTED:IP_ADDRESS]",
        "type": "BadRequestError",
        "param": "messages",
        "code": "upstream_http_400",
    }
    assert MAIL not in r.text
    (rec,) = _audit(log)
    assert (rec["status"], rec["upstream_status"], rec["error"]) == (400, 400, "upstream_http_400")
    assert {"rule": "pii.output.email", "action": "redact"} in rec["decisions"]
    assert {"rule": "pii.output.ip_address", "action": "redact"} in rec["decisions"]
    assert _metric(app_of(c), "upstream_http_400") == 1


@pytest.mark.parametrize("stream", [False, True])
async def test_an_upstream_error_quoting_the_prompt_is_redacted(
    make_client: Callable[..., httpx.AsyncClient], fake: FakeUpstream, stream: bool
) -> None:
    fake.config.error_body = (
        b'{"error":{"message":"This model\'s maximum context length is 8 tokens: \'{prompt}\'",'
        b'"type":"invalid_request_error","param":null,"code":"context_length_exceeded"}}'
    )
    c = make_client(ECHO_POLICY)
    r = await c.post("/v1/chat/completions", json={**chat(f"mail {MAIL}", stream=stream), "model": "fault:400"})
    assert r.status_code == 400
    err = _error(r)
    assert err["message"] == "This model's maximum context length is 8 tokens: 'mail [REDACTED:EMAIL]'"
    assert err["code"] == "context_length_exceeded"  # the upstream's own string code is kept
    assert MAIL not in r.text


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (f"<html><body>Bad Request for {MAIL}</body></html>".encode(), b"text/html"),
        (f"Bad Request for {MAIL}".encode(), b"application/json"),  # says JSON, is not
        (b"[1, 2]", b"application/json"),
        (f'{{"unexpected": "{MAIL}"}}'.encode(), b"application/json"),
        (b'{"error": {"message": 5}}', b"application/json"),
        (b'{"error": null}', b"application/json"),
        (b"", b"application/json"),
        (b"\xff\xfe not utf-8", b"application/json"),
        (b"[" * 5000 + b"]" * 5000, b"application/json"),
        (b'{"error": {"message": "\\ud800"}}', b"application/json"),  # a lone surrogate
    ],
)
async def test_a_4xx_body_that_is_no_error_object_gets_a_generic_error(
    make_client: Callable[..., httpx.AsyncClient],
    fake: FakeUpstream,
    body: bytes,
    ctype: bytes,
    stream: bool,
) -> None:
    fake.config.error_body, fake.config.error_content_type = body, ctype
    c = make_client()
    r = await c.post("/v1/chat/completions", json={**chat("hi", stream=stream), "model": "fault:422"})
    assert r.status_code == 422
    assert _error(r) == {
        "message": "Upstream answered 422.",
        "type": "upstream_error",
        "param": None,
        "code": "upstream_http_422",
    }


@pytest.mark.parametrize(
    ("body", "want"),
    [
        # vLLM before the OpenAI-shaped errors: the error object at the top level
        (
            b'{"object":"error","message":"The model `x` does not exist.","type":"NotFoundError","param":null,'
            b'"code":404}',
            {"message": "The model `x` does not exist.", "type": "NotFoundError"},
        ),
        (b'{"error":"model \'x\' not found"}', {"message": "model 'x' not found", "type": "upstream_error"}),
        (b'{"detail":"Not Found"}', {"message": "Not Found", "type": "upstream_error"}),
    ],
)
async def test_other_error_shapes_of_openai_compatible_servers(
    make_client: Callable[..., httpx.AsyncClient], fake: FakeUpstream, body: bytes, want: dict[str, str]
) -> None:
    fake.config.error_body = body
    c = make_client()
    r = await c.post("/v1/chat/completions", json={**chat("hi"), "model": "fault:404"})
    assert r.status_code == 404
    assert _error(r) == {**want, "param": None, "code": "upstream_http_404"}


@pytest.mark.parametrize("stream", [False, True])
async def test_deny_or_a_blocked_pattern_withholds_the_upstream_message_and_keeps_its_status(
    make_client: Callable[..., httpx.AsyncClient], fake: FakeUpstream, tmp_path: Path, stream: bool
) -> None:
    text = policy_with(
        {
            "content.pii.output.email": "deny",
            "content.blocked_patterns": [{"id": "codename", "pattern": "Project Nightingale"}],
        }
    )
    log = tmp_path / "audit.jsonl"
    c = make_client(text, audit=str(log))
    withheld = {
        "message": "Upstream answered 404; the gateway's content policy withheld its error message.",
        "type": "upstream_error",
        "param": None,
        "code": "upstream_http_404",
    }
    for message, rule in (
        (f"No model for {MAIL}", "pii.output.email"),
        ("No project nightingale", "blocked_pattern:codename"),
    ):
        fake.config.error_body = orjson.dumps({"error": {"message": message, "type": "NotFoundError"}})
        r = await c.post("/v1/chat/completions", json={**chat("hi", stream=stream), "model": "fault:404"})
        assert r.status_code == 404
        assert _error(r) == withheld
        rec = _audit(log)[-1]
        assert (rec["status"], rec["upstream_status"], rec["error"]) == (404, 404, "upstream_http_404")
        assert {"rule": rule, "action": "deny"} in rec["decisions"]


# ---------------------------------------------------------------------------------------------- 2xx, 1xx, 3xx
async def test_a_2xx_other_than_200_is_checked_and_answered_like_200(
    make_client: Callable[..., httpx.AsyncClient], fake: FakeUpstream, tmp_path: Path
) -> None:
    fake.config.status = 201
    fake.config.reply = f"write to {MAIL}"
    log = tmp_path / "audit.jsonl"
    c = make_client(audit=str(log))
    r = await c.post("/v1/chat/completions", json=chat("hi"))
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "write to [REDACTED:EMAIL]"
    r = await c.post("/v1/chat/completions", json=chat("hi", stream=True))
    assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream"
    assert sse_text(r.text) == "write to [REDACTED:EMAIL]"
    assert r.text.endswith("data: [DONE]\n\n")
    r = await c.post("/v1/completions", json={"model": "fake-model", "prompt": "p", "stream": True})
    assert sse_text(r.text, "text") == "write to [REDACTED:EMAIL]"
    recs = _audit(log)
    assert [(x["status"], x["upstream_status"], x["error"]) for x in recs] == [(200, 201, None)] * 3
    assert all({"rule": "pii.output.email", "action": "redact"} in x["decisions"] for x in recs)
    text = app_of(c).metrics.render().decode()
    assert 'requests_total{model="fake-model",route="/v1/chat/completions",status="200"} 2.0' in text


@pytest.mark.parametrize("stream", [False, True])
async def test_a_redirect_is_an_upstream_protocol_error(
    make_client: Callable[..., httpx.AsyncClient], fake: FakeUpstream, tmp_path: Path, stream: bool
) -> None:
    fake.config.error_body = orjson.dumps({"error": {"message": f"moved, ask {MAIL}"}})
    log = tmp_path / "audit.jsonl"
    c = make_client(audit=str(log))
    r = await c.post("/v1/chat/completions", json={**chat("hi", stream=stream), "model": "fault:302"})
    assert r.status_code == 502
    err = _error(r)
    assert err["code"] == "upstream_protocol" and err["type"] == "upstream_error"
    assert MAIL not in r.text
    (rec,) = _audit(log)
    assert (rec["status"], rec["upstream_status"], rec["error"]) == (502, 302, "upstream_protocol")
    assert _metric(app_of(c), "upstream_protocol") == 1


@pytest.mark.parametrize("status", [401, 407])
@pytest.mark.parametrize("stream", [False, True])
async def test_an_upstream_refusing_the_gateway_credentials_is_a_502_not_the_clients_401(
    make_client: Callable[..., httpx.AsyncClient], fake: FakeUpstream, tmp_path: Path, stream: bool, status: int
) -> None:
    """The client's key was accepted; the upstream refused the gateway's own key. A 401 would send the client
    checking its key; it is the gateway's configuration."""
    fake.config.error_body = orjson.dumps({"error": {"message": "Invalid API key sk-upstream-secret"}})
    log = tmp_path / "audit.jsonl"
    c = make_client(audit=str(log))
    r = await c.post("/v1/chat/completions", json={**chat("hi", stream=stream), "model": f"fault:{status}"})
    assert r.status_code == 502
    err = _error(r)
    assert err["code"] == f"upstream_http_{status}" and "PAC_UPSTREAM_API_KEY" in err["message"]
    assert "sk-upstream-secret" not in r.text
    (rec,) = _audit(log)
    assert (rec["status"], rec["upstream_status"], rec["error"]) == (502, status, f"upstream_http_{status}")


# ---------------------------------------------------------------------------------------------- one scheme
class _Body:
    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body = status, body

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        yield self.body

    async def aread(self) -> bytes:
        return self.body


class _Reply:
    """An upstream whose every answer (models list, completion, stream) is ``status`` and ``body``, or that
    fails with ``error``."""

    def __init__(self, status: int = 200, body: bytes = b"{}", error: UpstreamError | None = None) -> None:
        self.status, self.body, self.error = status, body, error

    async def request(self, method: str, path: str, body: bytes | None = None) -> UpstreamResponse:
        if self.error is not None:
            raise self.error
        return UpstreamResponse(self.status, self.body)

    @contextlib.asynccontextmanager
    async def stream(self, path: str, body: bytes) -> AsyncIterator[_Body]:
        if self.error is not None:
            raise self.error
        yield _Body(self.status, self.body)

    async def ready(self) -> bool:
        return True

    async def close(self) -> None:
        pass


CASES = {
    "timeout": (_Reply(error=UpstreamError("timeout", "upstream timed out")), 504, "upstream_timeout"),
    "connect": (_Reply(error=UpstreamError("connect", "upstream refused")), 502, "upstream_connect"),
    "protocol": (_Reply(error=UpstreamError("protocol", "upstream closed")), 502, "upstream_protocol"),
    "5xx": (_Reply(503, b'{"error":{"message":"engine dead"}}'), 502, "upstream_http_503"),
    "4xx": (_Reply(429, b'{"error":{"message":"slow down"}}'), 429, "upstream_http_429"),
    "1xx": (_Reply(101, b""), 502, "upstream_protocol"),
    "3xx": (_Reply(307, b""), 502, "upstream_protocol"),
    "600": (_Reply(600, b""), 502, "upstream_protocol"),
    "invalid": (_Reply(200, b"data: {oops\n\n"), 502, "upstream_protocol"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_one_error_code_per_failure_on_every_path(case: str, tmp_path: Path) -> None:
    adapter, status, code = CASES[case]
    log = tmp_path / "audit.jsonl"
    app = create_app(compiled(), adapter, audit=AuditLog(str(log)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw", headers=AUTH) as c:
        unary = await c.post("/v1/chat/completions", json=chat("hi"))
        stream = await c.post("/v1/chat/completions", json=chat("hi", stream=True))
        models = await c.get("/v1/models")
        for r in (unary, models) if case == "invalid" else (unary, stream, models):
            assert r.status_code == status, (r.request.url, r.text)
        if case == "invalid":  # the stream had started: an SSE error event ends it
            assert stream.status_code == 200
        assert [_error(r)["code"] for r in (unary, stream, models)] == [code] * 3
        assert [rec["error"] for rec in _audit(log)] == [code] * 2
        assert _metric(app, code) == 3


async def test_models_list_4xx_is_rebuilt_and_redacted() -> None:
    app = create_app(compiled(), _Reply(403, orjson.dumps({"error": {"message": f"ask {MAIL}"}})))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw", headers=AUTH) as c:
        r = await c.get("/v1/models")
    assert r.status_code == 403
    assert _error(r)["message"] == "ask [REDACTED:EMAIL]"
    assert 'policy_decisions_total{action="redact",rule="pii.output.email"} 1.0' in app.metrics.render().decode()


# ---------------------------------------------------------------------------------------------- adapters
@pytest.fixture
def refusing_litellm(monkeypatch: pytest.MonkeyPatch) -> None:
    class BadRequestError(Exception):
        status_code = 400

    mod = types.ModuleType("litellm")

    async def acompletion(**kw: Any) -> Any:
        raise BadRequestError(f"litellm.BadRequestError: OpenAIException - prompt of {MAIL} is too long")

    mod.acompletion = acompletion  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "litellm", mod)


@pytest.mark.usefixtures("refusing_litellm")
@pytest.mark.parametrize("stream", [False, True])
async def test_litellm_refusals_are_rebuilt_on_both_paths(stream: bool) -> None:
    from llmops_cli.gateway.upstream import build_adapter

    adapter = build_adapter(GatewayServerSettings(provider="litellm", upstream_url="http://vllm:8000"))
    app = create_app(compiled(), adapter)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw", headers=AUTH) as c:
        r = await c.post("/v1/chat/completions", json=chat("hi", stream=stream))
    assert r.status_code == 400
    assert _error(r) == {
        "message": "litellm.BadRequestError: OpenAIException - prompt of [REDACTED:EMAIL] is too long",
        "type": "invalid_request_error",
        "param": None,
        "code": "upstream_http_400",
    }


@pytest.mark.parametrize("stream", [False, True])
async def test_litellm_rate_limit_passes_its_retry_after_on(monkeypatch: pytest.MonkeyPatch, stream: bool) -> None:
    """LiteLLM's exceptions keep the provider's reply (``.response``, an httpx.Response) and its headers."""

    class RateLimitError(Exception):
        status_code = 429
        response = httpx.Response(429, headers={"retry-after": "12"})

    async def acompletion(**kw: Any) -> Any:
        raise RateLimitError("litellm.RateLimitError: slow down")

    mod = types.ModuleType("litellm")
    mod.acompletion = acompletion  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "litellm", mod)
    from llmops_cli.gateway.upstream import build_adapter

    adapter = build_adapter(GatewayServerSettings(provider="litellm", upstream_url="http://vllm:8000"))
    app = create_app(compiled(), adapter)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw", headers=AUTH) as c:
        r = await c.post("/v1/chat/completions", json=chat("hi", stream=stream))
    assert (r.status_code, r.headers.get("retry-after")) == (429, "12")


@pytest.fixture
def echoing_upstream() -> Iterator[str]:
    fake = FakeUpstream()
    fake.config.error_body = b'{"error":{"message":"rejected: {prompt}","type":"invalid_request_error"}}'
    with serve_in_thread(fake) as url:
        yield url


@pytest.mark.parametrize("adapter", [PooledHttpAdapter, HttpAdapter])
def test_over_sockets_both_http_adapters_rebuild_errors(echoing_upstream: str, adapter: Any) -> None:
    app = create_app(compiled(ECHO_POLICY), adapter(echoing_upstream + "/v1", timeout=2.0))
    with (
        serve_in_thread(app) as url,
        httpx.Client(base_url=url, headers={"authorization": f"Bearer {KEY}"}, timeout=10) as c,
    ):
        for stream in (False, True):
            r = c.post("/v1/chat/completions", json={**chat(f"to {MAIL}", stream=stream), "model": "fault:400"})
            assert r.status_code == 400
            assert _error(r)["message"] == "rejected: to [REDACTED:EMAIL]"
            assert MAIL not in r.text


@pytest.mark.parametrize("adapter", [PooledHttpAdapter, HttpAdapter])
def test_retry_after_of_an_upstream_429_or_503_is_passed_on(adapter: Any) -> None:
    """An upstream that is rate limited or overloaded says when to come back; the client's SDK (the openai
    client honours it) should hear it. A value that is not a Retry-After is not passed on."""
    fake = FakeUpstream()
    with serve_in_thread(fake) as up:
        app = create_app(compiled(), adapter(up + "/v1", timeout=2.0))
        with (
            serve_in_thread(app) as url,
            httpx.Client(base_url=url, headers={"authorization": f"Bearer {KEY}"}, timeout=10) as c,
        ):
            for value, status, want in [
                (b"7", 429, "7"),
                (b"Wed, 21 Oct 2026 07:28:00 GMT", 503, "Wed, 21 Oct 2026 07:28:00 GMT"),
                (b"7", 400, None),  # not a back-off answer
                (b"soon", 429, None),
            ]:
                fake.config.error_headers = ((b"retry-after", value),)
                for stream in (False, True):
                    r = c.post("/v1/chat/completions", json={**chat("hi", stream=stream), "model": f"fault:{status}"})
                    assert r.status_code == (502 if status == 503 else status), r.text
                    assert r.headers.get("retry-after") == want, (value, status, stream)
                r = c.get("/v1/models")  # a model list is not a fault: no header there
                assert "retry-after" not in r.headers
