"""The gateway as a plain ASGI application.

A raw ASGI app rather than Starlette: the gateway has eight fixed routes and no need for request objects,
middleware stacks or background tasks, and skipping them keeps per-request overhead to what the policies cost
(measured in ``benchmarks/gateway.py``).

Request path: concurrency gate → auth → body size → strict parse (once) → input policies → rate limits →
adapter → output policies (a hold-back window on streams) → audit + metrics. The body sent upstream is the
serialisation of the object the policies checked, never the raw request.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Coroutine
from typing import Any

import orjson

from llmops_cli.gateway.asgi import (
    Receive,
    RequestRecord,
    Scope,
    Send,
    _headers,
    _respond,
    _usage,
    error_body,
    strict_loads,
)
from llmops_cli.gateway.audit import AuditLog, text_hash
from llmops_cli.gateway.busypoll import BusyPoll
from llmops_cli.gateway.metrics import Metrics
from llmops_cli.gateway.openapi import OPENAPI
from llmops_cli.gateway.policy.engine import CompiledPolicy, Decision, Denied, _model_ok
from llmops_cli.gateway.policy.fields import _texts
from llmops_cli.gateway.policy.limits import Limiter
from llmops_cli.gateway.priority import LowPriority
from llmops_cli.gateway.reload import PolicyHolder
from llmops_cli.gateway.replies import refusal, retry_after, upstream_code
from llmops_cli.gateway.sharedlimits import SharedLimiter
from llmops_cli.gateway.streaming import StreamingMixin
from llmops_cli.gateway.upstream import Adapter, UpstreamError

log = logging.getLogger("llmops.gateway")

# path → (route kind for the policies, upstream path, forced stream flag)
POST_ROUTES: dict[str, tuple[str, str, bool | None]] = {
    "/v1/chat/completions": ("chat", "/v1/chat/completions", None),
    "/v1/completions": ("completions", "/v1/completions", None),
    "/v1/embeddings": ("embeddings", "/v1/embeddings", False),
    "/proxy/completion": ("chat", "/v1/chat/completions", False),
    "/proxy/completion/stream": ("chat", "/v1/chat/completions", True),
}
_RID = re.compile(r"[A-Za-z0-9._-]+")


class GatewayApp(StreamingMixin):
    def __init__(
        self,
        policy: PolicyHolder | CompiledPolicy,
        adapter: Adapter,
        *,
        audit: AuditLog | None = None,
        metrics: Metrics | None = None,
        reload_interval: float = 0.0,
        busy_poll: float = 0.0,
        shared_limits: SharedLimiter | None = None,
    ) -> None:
        """``busy_poll``: seconds the event loop polls without sleeping after each request or streamed read
        (see ``busypoll``); 0 = off. ``shared_limits``: rate-limit buckets in Redis, shared by all workers and
        replicas (see ``sharedlimits``); None = this worker's own."""
        self.holder = policy if isinstance(policy, PolicyHolder) else PolicyHolder(policy)
        self.adapter = adapter
        self.audit = audit or AuditLog(None)
        self.metrics = metrics or Metrics()
        self.limiter = shared_limits.local if shared_limits is not None else Limiter()
        self.shared = shared_limits
        self.reload_interval = reload_interval
        self.in_flight = 0
        self._ready_cache: tuple[float, bool] = (0.0, False)
        self._tasks: list[asyncio.Task[None]] = []
        self.busy = BusyPoll(busy_poll) if busy_poll > 0 else None
        self.later = LowPriority()  # streams' chunks after their first token (see ``priority``)

    # ------------------------------------------------------------------ ASGI
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _reloaded(self, ok: bool) -> None:
        self.metrics.policy_reloads.labels("ok" if ok else "error").inc()

    async def startup(self) -> None:
        # Everything imported and built so far lives as long as the process: move it out of the collector's
        # reach. A full collection over it took 8-10 ms on the benchmark machine, a p99 spike every few
        # thousand requests; afterwards full collections only walk what requests allocate.
        gc.collect()
        gc.freeze()
        if self.shared is not None:
            await self.shared.start()
        self.holder.install_sighup(self._reloaded)
        if self.reload_interval > 0 and self.holder.path is not None:
            self._tasks.append(asyncio.create_task(self.holder.watch(self.reload_interval, self._reloaded)))

    async def shutdown(self) -> None:
        if self.busy is not None:
            self.busy.stop()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except asyncio.CancelledError:
                pass
            except Exception:  # a background task that died must not fail the shutdown
                log.exception("gateway background task failed")
        await self.adapter.close()
        if self.shared is not None:
            await self.shared.close()
        self.audit.close()
        self.metrics.close()

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        method = scope["method"]
        route = POST_ROUTES.get(path)
        if route is not None:
            if method != "POST":
                return await _respond(
                    send,
                    405,
                    error_body("Method not allowed.", "invalid_request_error", "method_not_allowed"),
                )
            return await self._post(scope, receive, send, path, *route)
        if method not in ("GET", "HEAD"):
            if path in ("/healthz", "/readyz", "/metrics", "/v1/models", "/openapi.json"):
                return await _respond(
                    send,
                    405,
                    error_body("Method not allowed.", "invalid_request_error", "method_not_allowed"),
                )
            return await _respond(send, 404, error_body("Not found.", "invalid_request_error", "not_found"))
        if path == "/healthz":
            return await _respond(send, 200, b'{"status":"ok"}')
        if path == "/readyz":
            ok = await self._ready()
            body = orjson.dumps(
                {
                    "status": "ok" if ok else "unavailable",
                    "policy": self.holder.current.source,
                    "policy_error": self.holder.last_error,
                    # Not part of readiness: without the store, this worker's own buckets enforce the limits.
                    "rate_limits": self.shared.state if self.shared is not None else "local",
                }
            )
            return await _respond(send, 200 if ok else 503, body)
        if path == "/metrics":
            self.metrics.in_flight.set(self.in_flight)
            return await _respond(send, 200, self.metrics.render(), self.metrics.content_type.encode())
        if path == "/openapi.json":
            return await _respond(send, 200, OPENAPI)
        if path == "/v1/models":
            return await self._models(scope, send)
        return await _respond(send, 404, error_body("Not found.", "invalid_request_error", "not_found"))

    async def _ready(self) -> bool:
        now = time.monotonic()
        at, ok = self._ready_cache
        if now - at < 1.0:
            return ok
        ok = await self.adapter.ready()
        self._ready_cache = (now, ok)
        return ok

    async def _models(self, scope: Scope, send: Send) -> None:
        policy = self.holder.current
        headers = _headers(scope)
        try:
            key = policy.authenticate(headers.get(b"authorization"), headers.get(b"x-api-key"))
            up = await self.adapter.request("GET", "/v1/models")
        except Denied as d:
            return await _respond(send, d.status, error_body(d.message, d.err_type, d.code))
        except UpstreamError as e:
            code = upstream_code(e.kind)
            self.metrics.child(self.metrics.upstream_errors, code).inc()
            return await _respond(send, e.status, error_body(str(e), "upstream_error", code))
        if not 200 <= up.status < 300:
            decisions: list[Decision] = []
            status, code, body = refusal(up.status, up.body, policy, decisions)
            self.metrics.child(self.metrics.upstream_errors, code).inc()
            for dec in decisions:
                self.metrics.child(self.metrics.decisions, dec.rule, dec.action).inc()
            return await _respond(send, status, body, extra=retry_after(up.status, up.retry_after))
        try:
            payload = orjson.loads(up.body)
            allowed = policy.policy.limits.models
            payload["data"] = [
                m
                for m in payload.get("data") or []
                if isinstance(m, dict)
                and _model_ok(allowed, str(m.get("id")))
                and (key is None or _model_ok(key.models, str(m.get("id"))))
            ]
        except (orjson.JSONDecodeError, AttributeError, TypeError):
            code = upstream_code("protocol")
            self.metrics.child(self.metrics.upstream_errors, code).inc()
            return await _respond(send, 502, error_body("Upstream sent invalid JSON.", "upstream_error", code))
        return await _respond(send, 200, orjson.dumps(payload))

    # ------------------------------------------------------------------ POST routes
    async def _post(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        path: str,
        route: str,
        upstream_path: str,
        forced_stream: bool | None,
    ) -> None:
        if self.busy is not None:
            self.busy.poke()
        headers = _headers(scope)
        rid = headers.get(b"x-request-id") or ""
        if not (0 < len(rid) <= 64 and _RID.fullmatch(rid)):
            rid = secrets.token_hex(16)
        ctx = RequestRecord(rid, path, time.perf_counter())
        policy = self.holder.current  # one policy for the whole request, even across a reload
        if self.in_flight >= policy.policy.limits.max_concurrency:
            ctx.status = 503
            await _respond(
                send,
                503,
                error_body("The gateway is at capacity; retry shortly.", "overloaded_error", "overloaded"),
                rid=rid,
                extra=[(b"retry-after", b"1")],
            )
            return self._finish(ctx, policy)
        self.in_flight += 1
        if self.metrics.shared:  # other workers answer scrapes too: keep this worker's gauge current
            self.metrics.in_flight.set(self.in_flight)
        reserved = 0
        key_id = None
        rpm = tpm = None
        shared = False  # the shared buckets (not this worker's) admitted the request
        try:
            try:
                key = policy.authenticate(headers.get(b"authorization"), headers.get(b"x-api-key"))
                key_id = ctx.key_id = key.id if key is not None else None
                obj = await self._read_json(headers, receive, policy)
                if forced_stream is not None:
                    obj["stream"] = forced_stream
                stream = obj.get("stream", False)
                if not isinstance(stream, bool):
                    raise Denied(400, "invalid_stream", "`stream` must be a boolean.")
                ctx.model = obj.get("model") if isinstance(obj.get("model"), str) else None
                ctx.decisions = policy.check_request(route, obj, key)
                texts = [get() for _, get, _ in _texts(route, obj)]
                ctx.prompt_text = "\n".join(texts)
                ctx.prompt_tokens = sum(len(t) for t in texts) // 4 + 1
                reserved = ctx.prompt_tokens + (policy.max_tokens(obj) if route != "embeddings" else 0)
                lim = policy.policy.limits
                rpm = key.requests_per_minute if key and key.requests_per_minute else lim.requests_per_minute
                tpm = key.tokens_per_minute if key and key.tokens_per_minute else lim.tokens_per_minute
                if self.shared is None:
                    reason, retry = self.limiter.admit(key_id or "-", rpm, tpm, reserved)
                else:
                    reason, retry, shared = await self.shared.admit(key_id or "-", rpm, tpm, reserved)
                if reason is not None:
                    reserved = 0
                    raise Denied(
                        429,
                        reason,
                        f"Rate limit exceeded ({reason}).",
                        err_type="rate_limit_error",
                        retry_after=retry,
                        decisions=[Decision(f"limit:{reason}", "deny")],
                    )
                if policy.classifier is not None:  # a network call: only for admitted requests
                    ctx.decisions = [*ctx.decisions, *await policy.screen_injection(route, obj)]
            except Denied as d:
                ctx.status = d.status
                ctx.decisions = [*ctx.decisions, *d.decisions]
                ctx.error = d.code
                extra = [(b"retry-after", str(max(1, round(d.retry_after))).encode())] if d.retry_after else None
                await _respond(send, d.status, error_body(d.message, d.err_type, d.code), rid=rid, extra=extra)
                return
            if route != "embeddings":
                policy.bind_max_tokens(obj)
            client_usage = False
            if stream:
                opts = obj.get("stream_options")
                client_usage = isinstance(opts, dict) and opts.get("include_usage") is True
                # Ask for the usage chunk so tokens reconcile exactly; dropped again unless the client asked.
                obj["stream_options"] = {**(opts if isinstance(opts, dict) else {}), "include_usage": True}
            out = orjson.dumps(obj)
            if stream:
                tracked = _TrackedSend(send)
                await self._with_disconnect(
                    receive,
                    self._stream(tracked, ctx, policy, route, upstream_path, out, client_usage),
                    ctx,
                    tracked,
                )
            else:
                await self._with_disconnect(receive, self._unary(send, ctx, policy, route, upstream_path, out), ctx)
        finally:
            self.in_flight -= 1
            if self.metrics.shared:
                self.metrics.in_flight.set(self.in_flight)
            if not ctx.completion_tokens and ctx.completion_parts:
                # No usage from the upstream (a stream cut short by the client or by an upstream failure, or
                # an upstream that does not report it): charge and record what was released, estimated
                # like the prompt.
                ctx.completion_tokens = sum(map(len, ctx.completion_parts)) // 4 + 1
            if reserved:
                used = ctx.prompt_tokens + ctx.completion_tokens
                if self.shared is None:
                    self.limiter.reconcile(key_id or "-", reserved, used)
                else:
                    self.shared.reconcile(key_id or "-", rpm, tpm, reserved, used, shared)
            self._finish(ctx, policy)

    async def _read_json(self, headers: dict[bytes, str], receive: Receive, policy: CompiledPolicy) -> dict[str, Any]:
        limit = policy.policy.limits.max_body_bytes

        def too_big() -> Denied:
            return Denied(
                400,
                "body_too_large",
                f"The request body exceeds {limit} bytes.",
                decisions=[Decision("max_body_bytes", "deny")],
            )

        declared = headers.get(b"content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise too_big()
        chunks: list[bytes] = []
        size = 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                raise Denied(499, "client_closed", "Client closed the request.")
            part = msg.get("body", b"")
            size += len(part)
            if size > limit:
                raise too_big()
            chunks.append(part)
            if not msg.get("more_body"):
                break
        raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        try:
            obj = strict_loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            raise Denied(400, "invalid_json", f"The request body is not valid JSON: {e}") from e
        if not isinstance(obj, dict):
            raise Denied(400, "invalid_json", "The request body must be a JSON object.")
        try:
            orjson.dumps(obj)  # lone surrogates and other unencodable text
        except orjson.JSONEncodeError as e:
            raise Denied(400, "invalid_json", "The request body contains invalid Unicode.") from e
        return obj

    async def _with_disconnect(
        self,
        receive: Receive,
        work: Coroutine[Any, Any, None],
        ctx: RequestRecord,
        tracked: _TrackedSend | None = None,
    ) -> None:
        """Run ``work`` in this task; if the client disconnects first, cancel it (which closes the upstream
        request). A watcher task waits on ``receive``; the work itself is awaited directly rather than raced
        with ``asyncio.wait``, which cost two extra tasks' worth of scheduling on every request.

        ASGI servers also answer ``receive`` with ``http.disconnect`` once the response is complete (uvicorn
        does so at once): when ``work`` sends through ``tracked`` and the response has ended, that is no client
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

    async def _unary(
        self, send: Send, ctx: RequestRecord, policy: CompiledPolicy, route: str, upstream_path: str, out: bytes
    ) -> None:
        try:
            up = await self.adapter.request("POST", upstream_path, out)
        except UpstreamError as e:
            return await self._upstream_failed(send, ctx, e)
        if self.busy is not None:
            self.busy.poke()
        ctx.upstream_status = up.status
        # Another 2xx (201, 203 from a proxy in between) carrying a completion is one: checked and answered
        # like 200. Anything else is rebuilt as an error (see ``replies``).
        if not 200 <= up.status < 300:
            return await self._upstream_refused(send, ctx, policy, up.status, up.body, up.retry_after)
        try:
            payload = orjson.loads(up.body)
            if not isinstance(payload, dict):
                raise TypeError("not an object")
            policy.redact_output(route, payload, ctx.decisions)
            # Always the serialisation of the object the output policies checked, never the upstream's bytes:
            # those may say more than the parsed object (a repeated key: only its last value was checked).
            body = orjson.dumps(payload)
        except Denied as d:
            ctx.status, ctx.error = d.status, d.code
            return await _respond(send, d.status, error_body(d.message, d.err_type, d.code), rid=ctx.request_id)
        except (orjson.JSONDecodeError, orjson.JSONEncodeError, TypeError, AttributeError):
            code = ctx.error = upstream_code("protocol")
            self.metrics.child(self.metrics.upstream_errors, code).inc()
            ctx.status = 502
            return await _respond(
                send, 502, error_body("Upstream sent an invalid response.", "upstream_error", code), rid=ctx.request_id
            )
        _usage(ctx, payload.get("usage"))
        for choice in payload.get("choices") or ():
            if isinstance(choice, dict):
                msg = choice.get("message")
                text = msg.get("content") if isinstance(msg, dict) else choice.get("text")
                if isinstance(text, str):
                    ctx.completion_parts.append(text)
        ctx.status = 200
        await _respond(send, 200, body, rid=ctx.request_id)

    async def _upstream_failed(self, send: Send, ctx: RequestRecord, e: UpstreamError) -> None:
        code = ctx.error = upstream_code(e.kind)
        self.metrics.child(self.metrics.upstream_errors, code).inc()
        ctx.status = e.status
        await _respond(send, e.status, error_body(str(e), "upstream_error", code), rid=ctx.request_id)

    async def _upstream_refused(
        self,
        send: Send,
        ctx: RequestRecord,
        policy: CompiledPolicy,
        upstream_status: int,
        body: bytes,
        upstream_retry_after: str | None = None,
    ) -> None:
        """Answer an upstream reply outside 2xx (non-streamed or streamed) with the error ``replies`` rebuilds;
        the policy decisions on its text join the request's."""
        ctx.status, ctx.error, out = refusal(upstream_status, body, policy, ctx.decisions)
        self.metrics.child(self.metrics.upstream_errors, ctx.error).inc()
        extra = retry_after(upstream_status, upstream_retry_after)
        await _respond(send, ctx.status, out, rid=ctx.request_id, extra=extra)

    def _finish(self, ctx: RequestRecord, policy: CompiledPolicy) -> None:
        elapsed = time.perf_counter() - ctx.t0
        m = self.metrics
        # A model name takes one of the bounded label slots only once the upstream served it: names the
        # allowlist refused, or the upstream did not know, are the client's free choice.
        if not ctx.model:
            model = ""
        elif ctx.error == "model_not_allowed":
            model = "denied"
        else:
            model = m.model_label(ctx.model, ctx.upstream_status == 200 or ctx.status == 200)
        m.child(m.requests, ctx.route, model, str(ctx.status)).inc()
        m.child(m.duration, ctx.route).observe(elapsed)
        if ctx.prompt_tokens and ctx.status == 200:
            m.child(m.tokens, "in", model).inc(ctx.prompt_tokens)
        if ctx.completion_tokens:
            m.child(m.tokens, "out", model).inc(ctx.completion_tokens)
        for d in ctx.decisions:
            m.child(m.decisions, d.rule, d.action).inc()
        if not self.audit.enabled:
            return
        completion = "".join(ctx.completion_parts)
        rec: dict[str, Any] = {
            "request_id": ctx.request_id,
            "key_id": ctx.key_id,
            "model": ctx.model,
            "route": ctx.route,
            "status": ctx.status,
            "upstream_status": ctx.upstream_status,
            "decisions": [{"rule": d.rule, "action": d.action} for d in ctx.decisions],
            "tokens": {"prompt": ctx.prompt_tokens, "completion": ctx.completion_tokens},
            "latency_ms": round(elapsed * 1000, 3),
            "ttft_ms": round(ctx.ttft * 1000, 3) if ctx.ttft is not None else None,
            "error": ctx.error,
        }
        if policy.policy.audit.store_text:
            rec["prompt"] = ctx.prompt_text  # already redacted by the input policies
            rec["completion"] = completion
        else:
            rec["prompt_sha256"] = text_hash(ctx.prompt_text) if ctx.prompt_text else None
            rec["completion_sha256"] = text_hash(completion) if completion else None
        self.audit.write(rec)


class _TrackedSend:
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


def create_app(policy: PolicyHolder | CompiledPolicy, adapter: Adapter, **kwargs: Any) -> GatewayApp:
    """The gateway ASGI app for a policy (or a reloadable holder) and an upstream adapter."""
    return GatewayApp(policy, adapter, **kwargs)
