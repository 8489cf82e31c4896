"""Admission (issue 22, Medium 3, 4, 5 and 9): cheap checks first and refused requests pay; no slot for a body
that has not arrived, a deadline for bodies and headers, a per-key slot cap; a token reservation that covers
what the upstream may generate; one set of credentials and the gateway's own request id."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmops_cli.gateway.app import GatewayApp, create_app
from llmops_cli.gateway.policy.limits import Limiter
from llmops_cli.gateway.policy.model import ApiKey
from llmops_cli.gateway.testing.fake_upstream import FakeConfig, FakeUpstream, read_body, serve_in_thread
from llmops_cli.gateway.upstream.http import HttpAdapter

from .conftest import AUTH, KEY, OTHER_KEY, chat, compiled, policy_text, policy_with

pytestmark = [pytest.mark.timeout(60)]
OTHER = {"authorization": f"Bearer {OTHER_KEY}"}


BLUEBIRD = [{"id": "codename", "pattern": "bluebird"}]


def _limits(blocked: list[dict[str, str]] | None = None, **values: Any) -> str:
    """The shipped policy with both test keys allowed every model, these ``limits`` and blocked patterns."""
    changes: dict[str, Any] = {f"limits.{name}": value for name, value in values.items()}
    if blocked is not None:
        changes["content.blocked_patterns"] = blocked
    return policy_with(changes, other_models=("*",))


# ------------------------------------------------------------------------------------------ Medium 4
class Generating:
    """A stand-in for vLLM's generation volume: for each prompt it generates ``max(n, best_of)`` sequences of
    ``max_completion_tokens`` or ``max_tokens`` tokens, or, without either, up to the context length (8192);
    its usage reports all of them. ``seen`` is what the gateway had reserved when the request arrived."""

    def __init__(self, app_ref: list[GatewayApp]) -> None:
        self.app_ref = app_ref
        self.log: list[tuple[int, int]] = []  # (reserved, generated)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        req = json.loads(await read_body(receive))
        bucket = self.app_ref[0].admission.limiter._tpm["test"]
        reserved = int(bucket.capacity - bucket.level)
        per = req.get("max_completion_tokens") or req.get("max_tokens") or 8192
        prompts = len(req["prompt"]) if isinstance(req.get("prompt"), list) else 1
        generated = per * max(req.get("n") or 1, req.get("best_of") or 1) * prompts
        self.log.append((reserved, generated))
        usage = {"prompt_tokens": 1, "completion_tokens": generated, "total_tokens": generated + 1}
        body = {"id": "x", "object": "chat.completion", "choices": [], "usage": usage}
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": orjson.dumps(body)})


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from(["chat", "completions"]),
    n=st.one_of(st.none(), st.integers(1, 8)),
    extra_best_of=st.one_of(st.none(), st.integers(0, 4)),
    max_tokens=st.one_of(st.none(), st.integers(1, 6000)),
    field=st.sampled_from(["max_tokens", "max_completion_tokens"]),
    prompts=st.integers(1, 4),
)
def test_the_reservation_covers_what_the_upstream_may_generate(
    route: str, n: int | None, extra_best_of: int | None, max_tokens: int | None, field: str, prompts: int
) -> None:
    body: dict[str, Any] = chat("hi") if route == "chat" else {"model": "fake-model", "prompt": ["hi"] * prompts}
    if n is not None:
        body["n"] = n
    if extra_best_of is not None:
        body["best_of"] = (n or 1) + extra_best_of
    if max_tokens is not None:
        body[field] = max_tokens
    ref: list[GatewayApp] = []
    up = Generating(ref)
    app = create_app(
        compiled(_limits(tokens_per_minute=10**9)), HttpAdapter("http://u", transport=httpx.ASGITransport(up))
    )
    app.admission.limiter = Limiter(lambda: 1000.0)  # no refill while the request runs
    ref.append(app)

    async def go() -> int:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw", headers=AUTH) as c:
            path = "/v1/chat/completions" if route == "chat" else "/v1/completions"
            return (await c.post(path, json=body)).status_code

    assert asyncio.run(go()) == 200
    ((reserved, generated),) = up.log
    assert generated <= reserved, (body, reserved, generated)


def test_n_and_best_of_must_be_positive_integers() -> None:
    from llmops_cli.gateway.policy import Denied

    for bad in ({"n": 0}, {"n": "3"}, {"best_of": -1}, {"n": True}, {"n": 1.5}):
        with pytest.raises(Denied) as e:
            compiled().admit_request("chat", chat("hi", **bad), None)
        assert e.value.code.startswith("invalid_")


# ------------------------------------------------------------------------------------------ Medium 5
@pytest.mark.anyio
async def test_refused_requests_spend_the_keys_request_budget_and_are_not_read_once_it_is_gone(
    make_client: Callable[..., httpx.AsyncClient], fake: FakeUpstream
) -> None:
    blocked = _limits(BLUEBIRD, requests_per_minute=3)
    c = make_client(blocked)
    for _ in range(3):
        r = await c.post("/v1/chat/completions", json=chat("project bluebird"))
        assert r.status_code == 400 and r.json()["error"]["code"] == "blocked_content"
    r = await c.post("/v1/chat/completions", json=chat("fine"))
    assert r.status_code == 429 and r.json()["error"]["code"] == "requests_per_minute"
    # Cheap first: over budget, a body is neither size-checked, parsed nor scanned.
    r = await c.post("/v1/chat/completions", content=b"{not json" + b" " * 2_000_000)
    assert r.status_code == 429
    r = await c.post("/v1/chat/completions", json=chat("fine"), headers=OTHER)  # another key is not affected
    assert r.status_code == 200, r.text
    assert len(fake.received) == 1


@pytest.mark.anyio
async def test_a_refused_request_is_charged_its_scan_and_a_key_in_debt_waits(
    make_client: Callable[..., httpx.AsyncClient], fake: FakeUpstream
) -> None:
    text = _limits(BLUEBIRD, tokens_per_minute=3000)
    c = make_client(text)
    app = c.app  # type: ignore[attr-defined]
    app.admission.limiter = Limiter(lambda: 1000.0)
    r = await c.post("/v1/chat/completions", json=chat("x " * 7000 + "project bluebird"))  # ~14 KB: ~3500 tokens
    assert r.status_code == 400
    r = await c.post("/v1/chat/completions", content=b"{not json")  # in debt: refused before it is read
    assert r.status_code == 429 and r.json()["error"]["code"] == "tokens_per_minute"
    assert not fake.received


@pytest.mark.anyio
@pytest.mark.parametrize("over", ["request_exceeds_tokens_per_minute", "tokens_per_minute"])
async def test_a_request_refused_by_its_token_reservation_is_charged_its_scan_too(
    make_client: Callable[..., httpx.AsyncClient], fake: FakeUpstream, over: str
) -> None:
    """A body that passes the content policies is parsed and scanned in full before its tokens are reserved; a
    refused reservation was free, so a key could have megabyte bodies scanned at the requests-per-minute rate
    (each asking for more than its tokens per minute, or more than its bucket holds just then)."""
    c = make_client(_limits(BLUEBIRD, tokens_per_minute=6000))
    app = c.app  # type: ignore[attr-defined]
    app.admission.limiter = Limiter(lambda: 1000.0)  # no refill during the test
    if over == "tokens_per_minute":  # a refused request took ~3500 of the 6000: ~2500 left, no debt
        r = await c.post("/v1/chat/completions", json=chat("x " * 7000 + "project bluebird"))
        assert r.status_code == 400
        body = chat("x " * 7000, max_tokens=1)  # ~14 KB: ~3500 tokens, more than the bucket holds
    else:
        body = chat("x " * 14000, max_tokens=1)  # ~28 KB: ~7000 tokens, more than tokens_per_minute
    r = await c.post("/v1/chat/completions", json=body)
    assert r.status_code == 429 and r.json()["error"]["code"] == over
    r = await c.post("/v1/chat/completions", content=b"{not json")  # in debt: refused before it is read
    assert r.status_code == 429 and r.json()["error"]["code"] == "tokens_per_minute"


# ------------------------------------------------------------------------------------------ Medium 3
def _app(text: str, upstream: Any, **kwargs: Any) -> GatewayApp:
    return create_app(compiled(text), HttpAdapter("http://u", transport=httpx.ASGITransport(upstream)), **kwargs)


async def _request(
    app: GatewayApp, body: bytes, key: str = KEY, more: bool = False, log: list[Any] | None = None
) -> list[dict[str, Any]]:
    """One request through the raw ASGI interface: ``more`` sends the body's first part and then nothing (a
    client that never finishes its body)."""
    sent: list[dict[str, Any]] = []
    parts = [{"type": "http.request", "body": body, "more_body": more}]

    async def receive() -> dict[str, Any]:
        if parts:
            return parts.pop()
        await asyncio.Event().wait()  # never more
        raise AssertionError

    async def send(m: dict[str, Any]) -> None:
        sent.append(m)

    headers = [(b"authorization", f"Bearer {key}".encode()), (b"content-type", b"application/json")]
    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": headers}
    await app(scope, receive, send)
    if log is not None:
        log.append(sent)
    return sent


def _status(sent: list[dict[str, Any]]) -> int:
    return int(next(m["status"] for m in sent if m["type"] == "http.response.start"))


@pytest.mark.anyio
async def test_bodies_that_never_arrive_hold_no_slot_and_end_at_their_deadline(fake: FakeUpstream) -> None:
    """One key opens more requests than the worker has slots and never finishes their bodies: everyone else
    is still served (before, every slot was taken: 503), and the stalled requests end 408 at the deadline."""
    app = _app(_limits(max_concurrency=2), fake, body_timeout=0.5)
    stalled: list[Any] = []
    tasks = [asyncio.create_task(_request(app, b'{"model": "fake-', more=True, log=stalled)) for _ in range(6)]
    await asyncio.sleep(0.05)
    t0 = time.monotonic()
    ok = await _request(app, orjson.dumps(chat("hi")), key=OTHER_KEY)
    assert _status(ok) == 200
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert 0.3 < time.monotonic() - t0 < 3.0
    assert [_status(s) for s in stalled] == [408] * 6
    assert app.admission.in_flight == 0 and not app.admission.by_key


@pytest.mark.anyio
async def test_one_key_cannot_take_every_slot() -> None:
    up = FakeUpstream(FakeConfig(latency=0.3))
    text = _limits(max_concurrency_per_key=2)
    app = _app(text, up)
    first = [asyncio.create_task(_request(app, orjson.dumps(chat("hi")))) for _ in range(2)]
    await asyncio.sleep(0.05)
    refused = await _request(app, orjson.dumps(chat("hi")))
    assert _status(refused) == 429
    assert b"too_many_concurrent_requests" in refused[-1]["body"]
    other = await _request(app, orjson.dumps(chat("hi")), key=OTHER_KEY)
    assert _status(other) == 200
    assert [_status(s) for s in await asyncio.gather(*first)] == [200, 200]
    assert not app.admission.by_key  # every slot given back
    # a key may be given its own cap
    assert ApiKey(id="big", name="b", hash="sha256:" + "0" * 64, max_concurrency=500).max_concurrency == 500


def _raw(port: int, data: bytes, wait: float) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        if data:
            s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(4096):
                out += chunk
        except TimeoutError:
            return out + b"<still open>"
        return out


@pytest.mark.parametrize("data", [b"", b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Ty"])
def test_a_connection_that_does_not_finish_its_headers_is_answered_408_and_closed(data: bytes, tmp_path: Path) -> None:
    from llmops_cli.gateway.connections import HeaderDeadlineProtocol

    class Quick(HeaderDeadlineProtocol):
        header_timeout = 0.4

    app = _app(policy_text(), FakeUpstream())
    with serve_in_thread(app, http=Quick) as url:
        port = int(url.rsplit(":", 1)[1])
        t0 = time.monotonic()
        out = _raw(port, data, wait=5)
        assert out.startswith(b"HTTP/1.1 408 "), out
        assert 0.3 < time.monotonic() - t0 < 3
        r = httpx.post(url + "/v1/chat/completions", json=chat("hi"), headers=AUTH)
        assert r.status_code in (200, 502)  # a whole request is served (the fake upstream is not running)


@pytest.mark.parametrize(
    "head",
    [
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n",  # refused: 401
        b"POST /v1/nothing HTTP/1.1\r\nHost: x\r\n",  # 404
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n",  # answered without reading a body
        b"PUT /v1/chat/completions HTTP/1.1\r\nHost: x\r\n",  # 405
    ],
)
def test_a_body_nobody_reads_must_still_arrive_in_time(head: bytes) -> None:
    """A request answered before its body (a wrong key, a path or method the gateway does not serve) leaves its
    body on the wire, and the connection is kept to drop it. Sent a byte at a time, that body held the
    connection for as long as the client liked, with no key: enough of them use up the file descriptors
    (slowloris). It must arrive within the body deadline too."""
    from llmops_cli.gateway.connections import HeaderDeadlineProtocol

    class Quick(HeaderDeadlineProtocol):
        header_timeout = 0.4
        body_timeout = 0.6

    app = _app(policy_text(), FakeUpstream())
    with serve_in_thread(app, http=Quick, timeout_keep_alive=1) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(head + b"Content-Length: 100000\r\n\r\n")
            t0 = time.monotonic()
            assert s.recv(12).startswith(b"HTTP/1.1 "), "answered before its body"
            s.settimeout(0.05)
            closed = False
            while not closed and time.monotonic() - t0 < 6:
                try:
                    s.sendall(b"x")
                    closed = s.recv(4096) == b""
                except TimeoutError:
                    time.sleep(0.2)
                except OSError:
                    closed = True
            assert closed and time.monotonic() - t0 < 4, "the connection outlived its body deadline"


# ------------------------------------------------------------------------------------------ Medium 9
@pytest.mark.anyio
async def test_two_credentials_are_refused_not_guessed(client: httpx.AsyncClient, fake: FakeUpstream) -> None:
    body = orjson.dumps(chat("hi"))
    for headers in (
        [("authorization", f"Bearer {KEY}"), ("authorization", f"Bearer {OTHER_KEY}")],
        [("authorization", f"Bearer {KEY}"), ("authorization", f"Bearer {KEY}")],
        [("x-api-key", KEY), ("x-api-key", OTHER_KEY)],
        [("authorization", f"Bearer {KEY}"), ("x-api-key", OTHER_KEY)],
    ):
        r = await client.post("/v1/chat/completions", content=body, headers=httpx.Headers(headers))
        assert r.status_code == 400 and r.json()["error"]["code"] == "ambiguous_credentials", headers
        r = await client.get("/v1/models", headers=httpx.Headers(headers))
        assert r.status_code == 400
    same = httpx.Headers([("authorization", f"Bearer {KEY}"), ("x-api-key", KEY)])
    assert (await client.post("/v1/chat/completions", content=body, headers=same)).status_code == 200
    assert len(fake.received) == 1


@pytest.mark.anyio
async def test_the_clients_request_id_is_kept_beside_the_gateways_own(
    make_client: Callable[..., httpx.AsyncClient], tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    c = make_client(audit=str(audit))
    ids = []
    for rid in ("trace-42", "trace-42", "not a plain id!"):
        r = await c.post("/v1/chat/completions", json=chat("hi"), headers={"x-request-id": rid})
        assert r.status_code == 200
        ids.append(r.headers["x-request-id"])
    assert len(set(ids)) == 3 and all(len(i) == 32 for i in ids)  # the gateway's own: unique
    recs = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [r["request_id"] for r in recs] == ids
    assert [r["client_request_id"] for r in recs] == ["trace-42", "trace-42", None]


def _response(s: socket.socket) -> bytes:
    """One whole HTTP response (headers and a Content-Length body) from ``s``."""
    out = b""
    while b"\r\n\r\n" not in out:
        chunk = s.recv(4096)
        if not chunk:
            return out
        out += chunk
    head, _, rest = out.partition(b"\r\n\r\n")
    length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:"))
    while len(rest) < length:
        chunk = s.recv(4096)
        if not chunk:
            break
        rest += chunk
    return head + b"\r\n\r\n" + rest


@pytest.mark.parametrize("why", ["no key", "rate limited"])
def test_a_request_refused_before_its_body_is_read_keeps_its_connection(why: str) -> None:
    """The refusal goes out before the body is read. A client (or a port-forward between) that sends the body
    after the answer must still be able to read the answer and go on: before, the gateway closed at once, the
    body's late bytes drew a reset, and through `kubectl port-forward` the 401 could be lost (verify failed with
    "the server closed the connection")."""
    app = _app(_limits(requests_per_minute=1) if why == "rate limited" else policy_text(), FakeUpstream())
    body = orjson.dumps(chat("hi")) * 50
    auth = b"" if why == "no key" else b"Authorization: Bearer " + KEY.encode() + b"\r\n"
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + auth
    head += b"Content-Length: %d\r\n\r\n" % len(body)
    with serve_in_thread(app) as url:
        port = int(url.rsplit(":", 1)[1])
        if why == "rate limited":  # spend the key's one request a minute
            assert httpx.post(url + "/v1/chat/completions", json=chat("hi"), headers=AUTH).status_code in (200, 502)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            for _ in range(3):
                s.sendall(head)
                answer = _response(s)
                assert answer.startswith(b"HTTP/1.1 401 " if why == "no key" else b"HTTP/1.1 429 "), answer
                assert b"connection: close" not in answer.lower()
                s.sendall(body)  # the body, after the answer: dropped, and the connection goes on
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _response(s).startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize(
    "framing",
    [b"Content-Length: %d\r\n" % ((256 << 10) + 1), b"Transfer-Encoding: chunked\r\n"],
    ids=["over 256 KiB", "chunked"],
)
def test_a_refused_request_with_a_long_or_unbounded_body_closes_its_connection(framing: bytes) -> None:
    """A body the gateway would have to read and drop past 256 KiB (Go net/http's bound), or of unknown length,
    is not taken in: the refusal says `connection: close` and the connection ends."""
    app = _app(policy_text(), FakeUpstream())
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + framing + b"\r\n"
    with serve_in_thread(app) as url:
        port = int(url.rsplit(":", 1)[1])
        out = _raw(port, head, wait=5)
    assert out.startswith(b"HTTP/1.1 401 ") and b"connection: close" in out.lower(), out
    assert not out.endswith(b"<still open>")
