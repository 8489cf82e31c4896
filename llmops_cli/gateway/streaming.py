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
        m_gap = self.metrics.child(self.metrics.gap, ctx.route)
        template: dict[str, Any] | None = None
        pending: list[bytes] = []  # filtered events of the current network read, not yet written
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
                    # Events that arrived in one read leave in one write: nothing waits for later data. The
                    # hold-back window is evaluated once per choice per read, at its last text in the read.
                    batch: list[dict[str, Any]] = []
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
                        batch.append(chunk)
                    last = _last_text_events(batch, field) if len(batch) > 1 else None
                    released_before = len(ctx.completion_parts)  # released text always goes into a payload
                    for j, chunk in enumerate(batch):
                        payload = self._filter_chunk(chunk, holds, policy, ctx, field, client_usage, last, j)
                        if payload is not None:
                            pending.append(payload)
                    if pending:
                        now = time.perf_counter()
                        if ctx.ttft is None and len(ctx.completion_parts) > released_before:
                            ctx.ttft = now - ctx.t0
                            self.metrics.child(self.metrics.ttft, ctx.route).observe(ctx.ttft)
                        elif last_sent:
                            m_gap.observe(now - last_sent)
                        last_sent = now
                        body, pending = b"".join(pending), []
                        await send({"type": "http.response.body", "body": body, "more_body": True})
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
            # Headers are gone: what passed the policies so far, an SSE error event, then close (no [DONE]).
            body = b"".join([*pending, b"data: ", err, b"\n\n"])
            await send({"type": "http.response.body", "body": body, "more_body": False})
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
        last: dict[int, int] | None = None,
        pos: int = 0,
    ) -> bytes | None:
        """Apply output policies to one chunk; None when nothing in it is left to send yet.

        ``last`` maps a choice to the position of its last text-bearing chunk in the current read (``pos`` is
        this chunk's): earlier text of that choice only joins the hold-back buffer, since it would leave in the
        same write anyway."""
        usage = chunk.get("usage")
        choices = chunk.get("choices")
        if usage:
            _usage(ctx, usage)
            if not choices and not client_usage:
                return None
            if not client_usage:
                chunk.pop("usage", None)
        if type(choices) is not list:
            return encode_json(chunk)
        keep = False
        for choice in choices:
            parts = _choice_text(choice, field)
            if parts is None:
                continue
            idx, holder, text = parts
            hb = holds.get(idx)
            if hb is None:
                hb = holds[idx] = HoldBack(policy, ctx.decisions)
            if type(text) is str and text:
                released = hb.push(text, evaluate=last is None or last.get(idx, pos) <= pos)
            else:
                released = ""
            finish = choice.get("finish_reason")
            if finish:
                released += hb.flush()
            if holder is not None and (type(text) is str or released):
                holder[field] = released
            if released:
                ctx.completion_parts.append(released)
                keep = True
            elif finish or choice.get("logprobs") or _has_other_fields(holder, field):
                keep = True
        if not keep and not (client_usage and usage):
            return None
        return encode_json(chunk)


def _choice_text(choice: Any, field: str) -> tuple[int, dict[str, Any] | None, Any] | None:
    """``(index, holder, text)`` of one streamed choice, where ``holder`` is the dict that carries ``field``
    (the delta for chat, the choice itself for completions); None when the choice is not an object."""
    if type(choice) is not dict:
        return None
    idx = choice.get("index", 0)
    holder = choice.get("delta") if field == "content" else choice
    if type(holder) is not dict:
        holder = None
    return (idx if type(idx) is int else 0), holder, (holder.get(field) if holder is not None else None)


def _has_other_fields(holder: dict[str, Any] | None, field: str) -> bool:
    """Whether a delta (or choice) carries something besides its text: a role, tool calls, …"""
    if holder is None:
        return False
    for k, v in holder.items():  # noqa: SIM110 - a plain loop: no generator per chunk on the hot path
        if k != field and v is not None and v != "" and v != [] and v != {}:
            return True
    return False


def _last_text_events(batch: list[dict[str, Any]], field: str) -> dict[int, int]:
    """For each choice index, the position in ``batch`` of the last chunk carrying text for it."""
    last: dict[int, int] = {}
    for j, chunk in enumerate(batch):
        choices = chunk.get("choices")
        for choice in choices if type(choices) is list else ():
            parts = _choice_text(choice, field)
            if parts is not None and type(parts[2]) is str and parts[2]:
                last[parts[0]] = j
    return last


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


