"""One way to answer a request with an error.

:meth:`Failures.error_response` sets the request record's status and error code and sends the OpenAI error
object; :meth:`Failures.note` is the one place that counts an upstream failure (any code that starts
``upstream_``, see ``replies``) in ``llmops_gateway_upstream_errors_total``, and logs it: one line per kind of
failure when it first happens, then at most one every ``LOG_EVERY_S`` seconds with how many there were since
(a gateway whose every request fails upstream says so on its console, without a line per request). Every
handler answers errors through here, so no status, code or counter is set by hand anywhere else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from llmops_cli.gateway.asgi import RequestRecord, Send, error_body, respond
from llmops_cli.gateway.metrics import Metrics
from llmops_cli.gateway.policy.engine import CompiledPolicy, Denied
from llmops_cli.gateway.replies import UPSTREAM_PREFIX, refusal, retry_after, upstream_code
from llmops_cli.gateway.upstream import UpstreamError

log = logging.getLogger("llmops.gateway")
LOG_EVERY_S = 10.0


class Failures:
    def __init__(self, metrics: Metrics, clock: Callable[[], float] = time.monotonic) -> None:
        self.metrics = metrics
        self.clock = clock
        self._logged: dict[str, tuple[float, int]] = {}  # code -> (when its last line went out, failures since)

    def note(self, ctx: RequestRecord | None, code: str, status: int | None = None, detail: str = "") -> None:
        """Record ``code`` (and ``status``, unless None: a stream whose 200 went out stays a 200) on the request;
        count and log it when the upstream failed (``detail``: what failed, for the log line)."""
        if ctx is not None:
            ctx.error = code
            if status is not None:
                ctx.status = status
        if code.startswith(UPSTREAM_PREFIX):
            self.metrics.child(self.metrics.upstream_errors, code).inc()
            self._log(code, detail)

    def _log(self, code: str, detail: str) -> None:
        now = self.clock()
        last, since = self._logged.get(code, (float("-inf"), 0))
        if now - last < LOG_EVERY_S:
            self._logged[code] = (last, since + 1)
            return
        self._logged[code] = (now, 0)
        more = f" ({since} more since the last line)" if since else ""
        log.warning("upstream failure %s%s%s", code, f": {detail}" if detail else "", more)

    async def error_response(
        self,
        send: Send,
        ctx: RequestRecord | None,
        status: int,
        code: str,
        message: str = "",
        err_type: str = "invalid_request_error",
        *,
        body: bytes | None = None,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        """Answer ``status`` with an OpenAI error object (``body`` when already built) and record it."""
        self.note(ctx, code, status, message)
        out = body if body is not None else error_body(message, err_type, code)
        await respond(send, status, out, rid=ctx.request_id if ctx is not None else None, extra=extra)

    async def denied(self, send: Send, ctx: RequestRecord | None, d: Denied, *, close: bool = False) -> None:
        """Answer a policy refusal (with ``Retry-After`` when it says when to come back). ``close``: the request's
        body was not read and is too long to drop (``admission.close_after_refusal``); the connection closes
        after the answer rather than take in a body nobody reads."""
        extra = [(b"retry-after", str(max(1, round(d.retry_after))).encode())] if d.retry_after else []
        if close:
            extra.append((b"connection", b"close"))
        await self.error_response(send, ctx, d.status, d.code, d.message, d.err_type, extra=extra or None)

    async def upstream_failed(self, send: Send, ctx: RequestRecord | None, e: UpstreamError) -> None:
        """Answer an upstream that could not be reached or broke the protocol."""
        await self.error_response(send, ctx, e.status, upstream_code(e.kind), str(e), "upstream_error")

    async def upstream_invalid(self, send: Send, ctx: RequestRecord | None, what: str = "response") -> None:
        """Answer an upstream reply that could not be read (502 ``upstream_protocol``)."""
        await self.error_response(
            send, ctx, 502, upstream_code("protocol"), f"Upstream sent an invalid {what}.", "upstream_error"
        )

    async def upstream_refused(
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
        status, code, out = refusal(upstream_status, body, policy, ctx.decisions)
        extra = retry_after(upstream_status, upstream_retry_after)
        await self.error_response(
            send, ctx, status, code, f"Upstream answered {upstream_status}.", body=out, extra=extra
        )
