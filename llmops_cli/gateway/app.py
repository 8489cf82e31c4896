"""The gateway as a plain ASGI application: routing, the GET endpoints, and the request pipeline of the POST
routes put together from its parts.

A raw ASGI app rather than Starlette: the gateway has eight fixed routes and no need for request objects,
middleware stacks or background tasks, and skipping them keeps per-request overhead to what the policies cost
(measured in ``benchmarks/gateway.py``).

Request path: ``admission`` (concurrency gate → auth → body size → strict parse (once) → input policies →
rate limits) → ``unary`` or ``streamrelay`` (upstream → output policies, a hold-back window on streams) →
``accounting`` (audit + metrics). Errors are answered through ``failures``. The body sent upstream is the
serialisation of the object the policies checked, never the raw request.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import secrets
import time
from typing import Any

import orjson

from llmops_cli.gateway.accounting import Accounting
from llmops_cli.gateway.admission import Admission, Admitted, InjectionClassifier, authenticate, close_after_refusal
from llmops_cli.gateway.asgi import (
    Receive,
    RequestRecord,
    Scope,
    Send,
    TrackedSend,
    error_body,
    request_headers,
    respond,
    until_disconnect,
)
from llmops_cli.gateway.audit import AuditLog
from llmops_cli.gateway.busypoll import BusyPoll
from llmops_cli.gateway.failures import Failures
from llmops_cli.gateway.metrics import Metrics
from llmops_cli.gateway.openapi import OPENAPI
from llmops_cli.gateway.policy import textview
from llmops_cli.gateway.policy.engine import CompiledPolicy, Denied, model_allowed
from llmops_cli.gateway.policy.limits import Limiter
from llmops_cli.gateway.priority import LowPriority
from llmops_cli.gateway.reload import PolicyHolder
from llmops_cli.gateway.sharedlimits import SharedLimiter
from llmops_cli.gateway.streamrelay import StreamRelay
from llmops_cli.gateway.unary import UnaryRelay
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
# `/metrics` is not among them: it names models, rules and counts, so it is served on a port of its own
# (``--metrics-port``, see ``serve``), which the rendered ServiceMonitor scrapes and only Prometheus reaches.
GET_ROUTES = frozenset({"/healthz", "/readyz", "/v1/models", "/openapi.json"})
_RID = re.compile(r"[A-Za-z0-9._-]+")
_NOT_ALLOWED = error_body("Method not allowed.", "invalid_request_error", "method_not_allowed")
_NOT_FOUND = error_body("Not found.", "invalid_request_error", "not_found")
_AUDIT_DOWN = Denied(
    503,
    "audit_unavailable",
    "The gateway cannot record requests right now; retry shortly.",
    err_type="overloaded_error",
    retry_after=1,
)


class GatewayApp:
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
        injection_classifier: InjectionClassifier | None = None,
        body_timeout: float = 30.0,
    ) -> None:
        """``busy_poll``: seconds the event loop polls without sleeping after each request or streamed read
        (see ``busypoll``); 0 = off. ``shared_limits``: rate-limit buckets in Redis, shared by all workers and
        replicas (see ``sharedlimits``); None = this worker's own. ``injection_classifier``: see
        ``admission.InjectionClassifier``. ``body_timeout``: seconds a request body may take to arrive."""
        self.holder = policy if isinstance(policy, PolicyHolder) else PolicyHolder(policy)
        self.adapter = adapter
        self.audit = audit or AuditLog(None)
        self.metrics = metrics or Metrics()
        self.shared = shared_limits
        self.reload_interval = reload_interval
        self._ready_cache: tuple[float, bool] = (0.0, False)
        self._tasks: list[asyncio.Task[None]] = []
        self.busy = BusyPoll(busy_poll) if busy_poll > 0 else None
        self.failures = Failures(self.metrics)
        self.accounting = Accounting(self.metrics, self.audit)
        self.audit.on_error = self.metrics.audit_errors.inc
        if not self.metrics.shared:  # one process: the gauge reads the count when scraped
            self.metrics.in_flight.set_function(lambda: self.admission.in_flight)
        limiter = shared_limits.local if shared_limits is not None else Limiter()
        self.admission = Admission(limiter, shared_limits, self.metrics, injection_classifier, body_timeout)
        self.unary = UnaryRelay(adapter, self.failures, self.busy)
        self.streams = StreamRelay(adapter, self.failures, self.metrics, self.busy, LowPriority())

    @property
    def in_flight(self) -> int:
        return self.admission.in_flight

    @property
    def background_tasks(self) -> tuple[asyncio.Task[None], ...]:
        """The tasks :meth:`startup` started (the policy file watcher), until :meth:`shutdown` ends them."""
        return tuple(self._tasks)

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
        textview.warm()  # Unicode tables of the content checks, built now rather than in a request
        gc.collect()
        gc.freeze()
        if self.shared is not None:
            await self.shared.start()
        self.holder.install_sighup(self._reloaded, also=self.audit.reopen)  # SIGHUP: log rotation too
        if self.reload_interval > 0 and self.holder.path is not None:
            self._tasks.append(asyncio.create_task(self.holder.watch(self.reload_interval, self._reloaded)))

    async def shutdown(self) -> None:
        if self.busy is not None:
            self.busy.stop()
        self.admission.deadlines.stop()
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
                return await respond(send, 405, _NOT_ALLOWED)
            return await self._post(scope, receive, send, path, *route)
        if method not in ("GET", "HEAD"):
            return await respond(
                send, 405 if path in GET_ROUTES else 404, _NOT_ALLOWED if path in GET_ROUTES else _NOT_FOUND
            )
        if path == "/healthz":
            return await respond(send, 200, b'{"status":"ok"}')
        if path == "/readyz":
            return await self._readyz(send)
        if path == "/openapi.json":
            return await respond(send, 200, OPENAPI)
        if path == "/v1/models":
            return await self._models(scope, send)
        return await respond(send, 404, _NOT_FOUND)

    async def _readyz(self, send: Send) -> None:
        """Ready: the upstream answers and requests can be recorded. Status words only: this endpoint answers
        without a key (the kubelet's probe), so it names no path, value or error text."""
        upstream = await self._ready()
        audit = "off" if not self.audit.enabled else "failing" if self.audit.failing else "ok"
        refusing = audit == "failing" and self.holder.current.policy.audit.on_failure == "refuse"
        ok = upstream and not refusing
        body = {
            "status": "ok" if ok else "unavailable",
            "upstream": "ok" if upstream else "unavailable",
            "audit": audit,
            "policy": "stale" if self.holder.last_error else "ok",  # stale: the last reload failed
            # Not part of readiness: without the store, this worker's own buckets enforce the limits.
            "rate_limits": self.shared.state if self.shared is not None else "local",
        }
        await respond(send, 200 if ok else 503, orjson.dumps(body))

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
        headers = request_headers(scope)
        fail = self.failures
        try:
            key = authenticate(policy, headers)
            up = await self.adapter.request("GET", "/v1/models")
        except Denied as d:
            return await fail.denied(send, None, d)
        except UpstreamError as e:
            return await fail.upstream_failed(send, None, e)
        if not 200 <= up.status < 300:
            ctx = RequestRecord("", "/v1/models", 0.0)
            await fail.upstream_refused(send, ctx, policy, up.status, up.body, up.retry_after)
            for dec in ctx.decisions:
                self.metrics.child(self.metrics.decisions, dec.rule, dec.action).inc()
            return None
        try:
            payload = orjson.loads(up.body)
            allowed = policy.policy.limits.models
            payload["data"] = [
                m
                for m in payload.get("data") or []
                if isinstance(m, dict)
                and model_allowed(allowed, str(m.get("id")))
                and (key is None or model_allowed(key.models, str(m.get("id"))))
            ]
        except (orjson.JSONDecodeError, AttributeError, TypeError):
            return await fail.upstream_invalid(send, None, "model list")
        return await respond(send, 200, orjson.dumps(payload))

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
        headers = request_headers(scope)
        ctx = RequestRecord(secrets.token_hex(16), path, time.perf_counter())
        client_rid = headers.get(b"x-request-id")
        if client_rid and len(client_rid) <= 64 and _RID.fullmatch(client_rid):
            ctx.client_request_id = client_rid
        policy = self.holder.current  # one policy for the whole request, even across a reload
        if self.audit.failing and policy.policy.audit.on_failure == "refuse":
            # Fail closed: nothing is served that cannot be recorded. This request's own record is the log's
            # next try (at most one a second).
            await self.failures.denied(send, ctx, _AUDIT_DOWN, close=close_after_refusal(headers, _AUDIT_DOWN))
            return self.accounting.finish(ctx, policy)
        admission = self.admission
        adm: Admitted | None = None
        got = None
        entered = False
        try:
            try:
                got = await admission.receive(ctx, policy, headers, receive)
                if not admission.enter(policy):
                    raise admission.overloaded()
                entered = True
                adm = await admission.admit(ctx, policy, got, route, forced_stream)
            except Denied as d:
                ctx.decisions = [*ctx.decisions, *d.decisions]
                return await self.failures.denied(send, ctx, d, close=got is None and close_after_refusal(headers, d))
            await self._forward(send, receive, ctx, policy, route, upstream_path, adm)
        finally:
            if entered:
                admission.leave()
            admission.release(ctx)
            admission.settle(ctx, adm)
            self.accounting.finish(ctx, policy)

    async def _forward(
        self,
        send: Send,
        receive: Receive,
        ctx: RequestRecord,
        policy: CompiledPolicy,
        route: str,
        upstream_path: str,
        adm: Admitted,
    ) -> None:
        """Send the admitted body upstream, unary or streamed, until the reply is out or the client left."""
        obj = adm.body
        if not adm.stream:
            out = orjson.dumps(obj)
            return await until_disconnect(receive, self.unary.relay(send, ctx, policy, route, upstream_path, out), ctx)
        opts = obj.get("stream_options")
        client_usage = isinstance(opts, dict) and opts.get("include_usage") is True
        # Ask for the usage chunk so tokens reconcile exactly; dropped again unless the client asked.
        obj["stream_options"] = {**(opts if isinstance(opts, dict) else {}), "include_usage": True}
        out = orjson.dumps(obj)
        tracked = TrackedSend(send)
        work = self.streams.relay(tracked, ctx, policy, route, upstream_path, out, client_usage)
        await until_disconnect(receive, work, ctx, tracked)


def create_app(policy: PolicyHolder | CompiledPolicy, adapter: Adapter, **kwargs: Any) -> GatewayApp:
    """The gateway ASGI app for a policy (or a reloadable holder) and an upstream adapter."""
    return GatewayApp(policy, adapter, **kwargs)
