"""ASGI plumbing shared by the gateway's request handlers: types, strict JSON, the per-request record, plain
responses, and running a handler until the client disconnects."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import orjson

from llmops_cli import __version__
from llmops_cli.gateway.policy.engine import Decision

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

JSON = b"application/json"
# Every response the gateway writes names it (``x-llmops-gateway: <version>``): a client such as `govern llm-eval`
# records that its answers came through the gateway. The version only, nothing about the policy or upstream.
GATEWAY_HEADER = (b"x-llmops-gateway", __version__.encode())


def _pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(items)
    if len(out) != len(items) or len({k.casefold() for k in out}) != len(out):
        seen: set[str] = set()
        for k, _ in items:
            if k.casefold() in seen:
                raise ValueError(f"duplicate key {k!r}")
            seen.add(k.casefold())
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):
        # Checked as infinity but forwarded as `null`: refuse it, as NaN and Infinity are.
        shown = literal if len(literal) <= 40 else literal[:37] + "..."
        raise ValueError(f"number {shown} is out of range for a double")
    return value


# Built once: constructing a decoder per request cost more than the parse of a typical body.
_STRICT = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_no_constants, parse_float=_finite)


def strict_loads(raw: bytes) -> Any:
    """JSON with duplicate keys rejected, case variants included (``model`` and ``Model``), and no NaN,
    Infinity or number that overflows a double (``1e400``)."""
    return _STRICT.decode(raw.decode("utf-8"))


def error_body(message: str, err_type: str, code: str, param: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": err_type, "param": param, "code": code}})


@dataclass
class RequestRecord:
    """Everything one request records for the audit log and metrics."""

    request_id: str  # the gateway's own, unique
    route: str
    t0: float
    client_request_id: str | None = None  # the client's `x-request-id`, as sent (when plain)
    key_id: str | None = None
    key_slot: str | None = None  # the rate-limit bucket whose concurrency slot the request holds
    model: str | None = None
    status: int = 0
    upstream_status: int | None = None
    decisions: list[Decision] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_text: str = ""
    completion_parts: list[str] = field(default_factory=list)
    ttft: float | None = None
    error: str | None = None


def record_usage(ctx: RequestRecord, usage: Any) -> None:
    """Take the token counts of an upstream's ``usage`` object, where it has them: counts, not negative numbers
    (which would give a key tokens back and stop the request's metrics and audit record with an error)."""
    if isinstance(usage, dict):
        pt, ct = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if type(pt) is int and pt >= 0:
            ctx.prompt_tokens = pt
        if type(ct) is int and ct >= 0:
            ctx.completion_tokens = ct


# Credentials a request may carry once: two would leave it open which one counts (one proxy reads the first, the
# gateway the last).
_SINGLE = frozenset({b"authorization", b"x-api-key"})
DUPLICATED = b":duplicated"  # no header has this name (a colon may not start one): it names a repeated one


def request_headers(scope: Scope) -> dict[bytes, str]:
    """The request's headers by (lower-case) name (the last of repeated ones); a repeated credential header is
    named under ``DUPLICATED``."""
    out: dict[bytes, str] = {}
    for k, v in scope["headers"]:
        if k in out and k in _SINGLE:
            out[DUPLICATED] = k.decode("latin-1")
        out[k] = v.decode("latin-1")
    return out


async def respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = JSON,
    *,
    rid: str | None = None,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), GATEWAY_HEADER]
    if rid:
        headers.append((b"x-request-id", rid.encode()))
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class TrackedSend:
    """``send`` that notes when the response is complete (its last body message went out). A plain call that
    returns ``send``'s awaitable: no extra coroutine per chunk."""

    __slots__ = ("complete", "send")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.complete = False

    def __call__(self, message: dict[str, Any]) -> Awaitable[None]:
        if message["type"] == "http.response.body" and not message.get("more_body"):
            self.complete = True
        return self.send(message)


async def until_disconnect(
    receive: Receive, work: Coroutine[Any, Any, None], ctx: RequestRecord, tracked: TrackedSend | None = None
) -> None:
    """Run ``work`` in this task; if the client disconnects first, cancel it (which closes the upstream
    request). A watcher task waits on ``receive``; the work itself is awaited directly rather than raced with
    ``asyncio.wait``, which cost two extra tasks' worth of scheduling on every request.

    ASGI servers also answer ``receive`` with ``http.disconnect`` once the response is complete (uvicorn does
    so at once): when ``work`` sends through ``tracked`` and the response has ended, that is no client
    disconnect, and ``work`` (still releasing its upstream connection) runs on."""
    me = asyncio.current_task()
    assert me is not None
    disconnected = False

    async def watch() -> None:
        nonlocal disconnected
        with contextlib.suppress(Exception):
            while (await receive())["type"] != "http.disconnect":
                pass
            if tracked is not None and tracked.complete:
                return
            disconnected = True
            me.cancel()

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        await work
    except asyncio.CancelledError:
        if not disconnected or me.cancelling() > 1:  # cancelled from outside too (shutdown): propagate
            raise
        ctx.status, ctx.error = 499, "client_disconnected"
    finally:
        watcher.cancel()
        if disconnected:
            me.uncancel()  # withdraw our own cancellation request, however ``work`` ended
