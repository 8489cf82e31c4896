"""Streamed completions: upstream SSE in, policy-filtered SSE out through the hold-back window.

Split from ``app.py``; ``GatewayApp`` mixes this in. Output policies run on event boundaries (never on network
reads), and nothing redacted leaves before the window has seen the whole match.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson

from llmops_cli.gateway.adapters import Adapter, UpstreamError
from llmops_cli.gateway.asgi import Ctx, Send, _respond, _usage, error_body
from llmops_cli.gateway.audit import AuditLog
from llmops_cli.gateway.metrics import Metrics
from llmops_cli.gateway.policy.engine import CompiledPolicy, Denied
from llmops_cli.gateway.sse import DONE, SSEParser, encode_json
from llmops_cli.gateway.stream import HoldBack


class StreamingMixin:
    adapter: Adapter
    audit: AuditLog
    metrics: Metrics

    _finish: Callable[[Ctx, CompiledPolicy], None]  # GatewayApp's: audit + metrics at the end of a request

    async def _stream(
        self,
        send: Send,
        ctx: Ctx,
        policy: CompiledPolicy,
        route: str,
        upstream_path: str,
        out: bytes,
        client_usage: bool,
    ) -> None:
        field = "content" if route == "chat" else "text"
        started = False
        holds: dict[int, HoldBack] = {}
        last_sent = 0.0
        m_gap = self.metrics.gap.labels(ctx.route)
        template: dict[str, Any] | None = None
        try:
            async with self.adapter.stream(upstream_path, out) as up:
                ctx.upstream_status = up.status
                if up.status != 200:
                    body = await up.aread()
                    if up.status >= 500:
                        self.metrics.upstream_errors.labels(f"http_{up.status}").inc()
                        ctx.status = 502
                        body = error_body(
                            f"Upstream answered {up.status}.", "upstream_error", "upstream_error"
                        )
                    else:
                        ctx.status = up.status
                    return await _respond(send, ctx.status, body, rid=ctx.request_id)
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-type", b"text/event-stream"),
                            (b"cache-control", b"no-cache"),
                            (b"x-accel-buffering", b"no"),
                            (b"x-request-id", ctx.request_id.encode()),
                        ],
                    }
                )
                started = True
                ctx.status = 200
                parser = SSEParser()
                done = False
                async for raw in up.aiter_raw():
                    for ev in parser.feed(raw):
                        if ev.data == "[DONE]":
                            done = True
                            break
                        chunk = orjson.loads(ev.data)
                        if not isinstance(chunk, dict):
                            raise UpstreamError("protocol", "upstream sent a non-object event")
                        if "error" in chunk:
                            raise UpstreamError("protocol", "upstream reported an error mid-stream")
                        template = template or chunk
                        payload = self._filter_chunk(chunk, holds, policy, ctx, field, client_usage)
                        if payload is None:
                            continue
                        now = time.perf_counter()
                        if ctx.ttft is None and _has_text(chunk, field):
                            ctx.ttft = now - ctx.t0
                            self.metrics.ttft.labels(ctx.route).observe(ctx.ttft)
                        elif last_sent:
                            m_gap.observe(now - last_sent)
                        last_sent = now
                        await send({"type": "http.response.body", "body": payload, "more_body": True})
                    if done:
                        break
                if not done:
                    raise UpstreamError("protocol", "upstream closed the stream before [DONE]")
                # Choices that never sent finish_reason still hold text: release it before [DONE].
                rest = {i: h.flush() for i, h in holds.items() if h.pending}
                if rest and template is not None:
                    tail = _tail_chunk(template, rest, route, field)
                    ctx.completion_parts.extend(rest.values())
                    await send({"type": "http.response.body", "body": encode_json(tail), "more_body": True})
                await send({"type": "http.response.body", "body": DONE, "more_body": False})
        except (UpstreamError, Denied, orjson.JSONDecodeError, ValueError) as e:
            if isinstance(e, Denied):
                ctx.error, status, err = e.code, e.status, error_body(e.message, e.err_type, e.code)
            else:
                kind = e.kind if isinstance(e, UpstreamError) else "protocol"
                self.metrics.upstream_errors.labels(kind).inc()
                status = e.status if isinstance(e, UpstreamError) else 502
                ctx.error = f"upstream_{kind}"
                err = error_body(
                    str(e) if isinstance(e, UpstreamError) else "Upstream sent an invalid event.",
                    "upstream_error",
                    f"upstream_{kind}",
                )
            if not started:
                ctx.status = status
                return await _respond(send, status, err, rid=ctx.request_id)
            # Headers are gone: an SSE error event, then close (no [DONE]).
            await send({"type": "http.response.body", "body": b"data: " + err + b"\n\n", "more_body": False})
        except asyncio.CancelledError:
            ctx.error = "client_disconnected"
            ctx.status = 499
            raise

    def _filter_chunk(
        self,
        chunk: dict[str, Any],
        holds: dict[int, HoldBack],
        policy: CompiledPolicy,
        ctx: Ctx,
        field: str,
        client_usage: bool,
    ) -> bytes | None:
        """Apply output policies to one chunk; None when nothing in it is left to send yet."""
        usage = chunk.get("usage")
        choices = chunk.get("choices")
        if usage:
            _usage(ctx, usage)
            if not choices and not client_usage:
                return None
            if not client_usage:
                chunk.pop("usage", None)
        if not isinstance(choices, list):
            return orjson.dumps(chunk)
        keep = False
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            idx = choice.get("index", 0)
            holder = choice.get("delta") if field == "content" else choice
            text = holder.get(field) if isinstance(holder, dict) else None
            hb = holds.get(idx) if isinstance(idx, int) else None
            if hb is None:
                hb = holds[idx if isinstance(idx, int) else 0] = HoldBack(policy, ctx.decisions)
            released = hb.push(text) if isinstance(text, str) and text else ""
            if choice.get("finish_reason"):
                released += hb.flush()
            if isinstance(holder, dict) and (isinstance(text, str) or released):
                holder[field] = released
            if released:
                ctx.completion_parts.append(released)
                keep = True
            elif (
                any(v not in (None, "", [], {}) for k, v in (holder or {}).items() if k != field)
                or choice.get("finish_reason")
                or choice.get("logprobs")
            ):
                keep = True
        if not keep and not (client_usage and usage):
            return None
        return encode_json(chunk)

    # ------------------------------------------------------------------ audit + metrics

def _has_text(chunk: dict[str, Any], field: str) -> bool:
    for c in chunk.get("choices") or ():
        holder = c.get("delta") if field == "content" else c
        if isinstance(holder, dict) and holder.get(field):
            return True
    return False


def _tail_chunk(template: dict[str, Any], rest: dict[int, str], route: str, field: str) -> dict[str, Any]:
    choices = []
    for i, text in rest.items():
        choices.append(
            {"index": i, "delta": {field: text}, "finish_reason": None}
            if route == "chat"
            else {"index": i, "text": text, "finish_reason": None}
        )
    return {k: template[k] for k in ("id", "object", "created", "model") if k in template} | {
        "choices": choices
    }


