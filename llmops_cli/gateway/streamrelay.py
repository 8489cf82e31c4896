"""The stream relay: upstream SSE in, policy-filtered SSE out through the hold-back window.

Output policies run on event boundaries (never on network
reads), and nothing redacted leaves before the window has seen the whole match.

Every streamed text goes through its own hold-back window: the content (or completions ``text``) of each
choice, and, when output PII policies are on, each choice's other string delta fields (``reasoning_content``,
``reasoning``, ``refusal``, and any field an upstream adds), the ``arguments`` of each of its tool calls (keyed
by choice index and tool-call index) and of a legacy ``function_call``. Arguments are JSON text and pass through
:class:`~llmops_cli.gateway.policy.jsontext.JsonEscapes` so that redaction keeps them valid JSON. What a
choice's side windows still hold leaves in its ``finish_reason`` chunk (or in the tail chunk before
``[DONE]``). Only content drives TTFT and the completion text.

Token ``logprobs`` are set to null in every streamed chunk while any output PII detector is set to
``redact`` or ``deny``: a chunk's logprobs spell out its tokens when they arrive, before the window has
decided what of that text may leave. (A non-streamed choice loses them only when a redaction changed it.)
A plain chunk (``replyfields.plain_chat_choice``: one choice whose delta holds text and a standard role, its
``id`` and ``model`` already checked in an earlier chunk; nearly every chunk of a chat stream) takes a short path
with the generic path's result (a property test compares them): one pass over its keys, its texts through their
windows, no walk of its other strings.

Once a stream's first token is out, each of its reads waits for its turn of the event loop
(``priority.LowPriority``), so that new requests and other streams' first tokens go first.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from llmops_cli.gateway.asgi import GATEWAY_HEADER, RequestRecord, Send, error_body, record_usage
from llmops_cli.gateway.busypoll import BusyPoll
from llmops_cli.gateway.failures import Failures
from llmops_cli.gateway.holdback import HoldBack
from llmops_cli.gateway.metrics import Metrics
from llmops_cli.gateway.plainchunk import CONTENT_KEY, PLAIN_TRIES, PlainText
from llmops_cli.gateway.policy.engine import CompiledPolicy, Decision, Denied
from llmops_cli.gateway.policy.jsontext import JsonEscapes
from llmops_cli.gateway.policy.replyfields import (
    DELTA_STRUCTURE_KEYS,
    ReplyShapeError,
    choices_fields,
    drop_token_fields,
    plain_chat_choice,
    reply_fields,
    routine_chunk,
)
from llmops_cli.gateway.priority import LowPriority
from llmops_cli.gateway.replies import upstream_code
from llmops_cli.gateway.sse import DONE, SSEParser, encode_json
from llmops_cli.gateway.upstream import Adapter, UpstreamError, UpstreamStream


class JsonHold:
    """A hold-back window over streamed JSON text (tool-call arguments): escapes are masked before the window
    sees them and restored as text leaves (see ``JsonEscapes``)."""

    __slots__ = ("hb", "js")

    def __init__(self, policy: CompiledPolicy, decisions: list[Decision]) -> None:
        self.hb = HoldBack(policy, decisions)
        self.js = JsonEscapes()

    @property
    def pending(self) -> str:
        return self.hb.pending + self.js.carry

    def push(self, text: str, *, evaluate: bool = True) -> str:
        return self.js.unmask(self.hb.push(self.js.mask(text), evaluate=evaluate))

    def flush(self) -> str:
        # The text ended inside an escape, or on a high surrogate: that rest is masked as it is.
        rest = self.hb.push(self.js.mask("", final=True), evaluate=False) if self.js.carry else ""
        return self.js.unmask(rest + self.hb.flush())


# A choice's windows: content under the choice index; the side texts under (index, delta field) or
# (index, "tool_calls", tool-call index).
HoldKey = int | tuple[int, str] | tuple[int, str, int]
Holds = dict[HoldKey, HoldBack | JsonHold]


async def _close(chunks: object) -> None:
    """Close an adapter's body iterator that is an async generator (httpx's, LiteLLM's). Left suspended at
    ``[DONE]``, it would be closed by the event loop's finalizer hook: a thread-safe wake-up of the loop and a
    task running ``aclose()``, for every stream."""
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()


class _Relayed:
    """One stream's state while it is relayed."""

    __slots__ = ("holds", "pending", "plain", "plain_tries", "seen", "started", "template")

    def __init__(self) -> None:
        self.plain: PlainText | None = None  # the raw JSON around the text of this stream's plain chunks
        self.plain_tries = 0
        self.started = False  # the 200 and the SSE headers went out
        self.holds: Holds = {}
        self.seen: dict[str, str] = {}  # strings every chunk repeats (id, model), as checked
        self.template: dict[str, Any] | None = None  # the first chunk: the tail chunk copies its id, model, ...
        self.pending: list[bytes] = []  # filtered events of the current network read, not yet written


class StreamRelay:
    def __init__(
        self, adapter: Adapter, failures: Failures, metrics: Metrics, busy: BusyPoll | None, later: LowPriority
    ) -> None:
        self.adapter = adapter
        self.failures = failures
        self.metrics = metrics
        self.busy = busy
        self.later = later  # streams' chunks after their first token (see ``priority``)

    async def relay(
        self,
        send: Send,
        ctx: RequestRecord,
        policy: CompiledPolicy,
        route: str,
        upstream_path: str,
        out: bytes,
        client_usage: bool,
    ) -> None:
        st = _Relayed()
        try:
            async with self.adapter.stream(upstream_path, out) as up:
                ctx.upstream_status = up.status
                # As for non-streamed replies: another 2xx streams like 200; anything else is rebuilt as an error.
                if not 200 <= up.status < 300:
                    body = await up.aread()
                    retry = getattr(up, "retry_after", None)  # what adapters know of the upstream's headers
                    return await self.failures.upstream_refused(send, ctx, policy, up.status, body, retry)
                await send({"type": "http.response.start", "status": 200, "headers": _sse_headers(ctx)})
                st.started = True
                ctx.status = 200
                await self._pump(send, up, st, ctx, policy, route, client_usage)
        except (UpstreamError, Denied, orjson.JSONDecodeError, ValueError) as e:  # ReplyShapeError included
            await self._fail(send, st, ctx, e)
        except (TypeError, AttributeError, KeyError, IndexError) as e:
            # A value of a type the relay does not expect where it reads a reply's structure (a `finish_reason`
            # that is a list, an `object` that is an object): a reply it cannot check, as the unary path says.
            await self._fail(send, st, ctx, ReplyShapeError(f"a value of an unexpected type ({type(e).__name__})"))
        except asyncio.CancelledError:
            ctx.status, ctx.error = 499, "client_disconnected"
            raise

    async def _pump(
        self,
        send: Send,
        up: UpstreamStream,
        st: _Relayed,
        ctx: RequestRecord,
        policy: CompiledPolicy,
        route: str,
        client_usage: bool,
    ) -> None:
        """Relay the upstream's events until ``[DONE]``, then what the windows still hold."""
        field = "content" if route == "chat" else "text"
        holds = st.holds
        last_sent = 0.0
        m_gap = self.metrics.child(self.metrics.gap, ctx.route)
        busy = self.busy
        later = self.later
        parser = SSEParser()
        done = False
        chunks = up.aiter_raw()
        try:
            async for raw in chunks:
                if busy is not None:
                    busy.poke()
                if ctx.ttft is not None:
                    await later.turn()  # the first token is out: new requests and first tokens go first
                # Events that arrived in one read leave in one write: nothing waits for later data. The hold-back
                # window is evaluated once per choice per read, at its last text in the read.
                batch: list[dict[str, Any] | tuple[PlainText, str]] = []  # parsed chunks; plain ones' texts
                for data in parser.feed_data(raw):
                    if data == "[DONE]":
                        done = True
                        break
                    plain = st.plain
                    if plain is not None and (text := plain.text_of(data)) is not None:
                        batch.append((plain, text))
                        continue
                    chunk = orjson.loads(data)
                    if not isinstance(chunk, dict):
                        raise UpstreamError("protocol", "upstream sent a non-object event")
                    if "error" in chunk or chunk.get("object") == "error":  # OpenAI's shape, and vLLM's older one
                        raise UpstreamError("protocol", "upstream reported an error mid-stream")
                    st.template = st.template or chunk
                    if (
                        st.plain_tries < PLAIN_TRIES
                        and field == "content"
                        and policy.pii_out
                        and st.template is not chunk
                        and CONTENT_KEY in data
                    ):
                        choice = plain_chat_choice(chunk, st.seen)
                        if choice is not None and (new := PlainText.of(data, chunk, choice)) is not None:
                            st.plain = new
                            st.plain_tries += 1
                    batch.append(chunk)
                last = _last_text_events(batch, field) if len(batch) > 1 else None
                released_before = len(ctx.completion_parts)  # released text always goes into a payload
                pending = st.pending
                for j, item in enumerate(batch):
                    if isinstance(item, tuple):
                        plain, text = item
                        hb = _window(holds, plain.idx, policy, ctx.decisions, False)
                        payload = plain.filter(text, hb, ctx, last is None or last.get(plain.idx, j) <= j)
                    else:
                        payload = filter_chunk(item, holds, policy, ctx, field, client_usage, last, j, st.seen)
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
                    body, st.pending = b"".join(pending), []
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                if done:
                    break
        finally:
            await _close(chunks)
        if not done:
            raise UpstreamError("protocol", "upstream closed the stream before [DONE]")
        # Choices that never sent finish_reason still hold text: release it before [DONE].
        rest = {i: h.flush() for i, h in holds.items() if h.pending}
        if rest and st.template is not None:
            tail = _tail_chunk(st.template, rest, route, field)
            if policy.pii_out:  # its id, model, … come from the first chunk, which may never have gone out
                _check_in_place(tail, route, policy, ctx.decisions, st.seen)
            ctx.completion_parts.extend(t for i, t in rest.items() if type(i) is int)
            await send({"type": "http.response.body", "body": encode_json(tail), "more_body": True})
        await send({"type": "http.response.body", "body": DONE, "more_body": False})

    async def _fail(self, send: Send, st: _Relayed, ctx: RequestRecord, e: UpstreamError | Denied | ValueError) -> None:
        """Before the 200: an error response. After it: what passed the policies so far, an SSE error event,
        then close (no ``[DONE]``)."""
        if isinstance(e, Denied):
            status, code, err = e.status, e.code, error_body(e.message, e.err_type, e.code)
        elif isinstance(e, UpstreamError):
            status, code, err = (
                e.status,
                upstream_code(e.kind),
                error_body(str(e), "upstream_error", upstream_code(e.kind)),
            )
        else:
            code = upstream_code("protocol")
            what = f"a reply the gateway cannot check ({e})" if isinstance(e, ReplyShapeError) else "an invalid event"
            status, err = 502, error_body(f"Upstream sent {what}.", "upstream_error", code)
        if not st.started:
            return await self.failures.error_response(send, ctx, status, code, body=err)
        self.failures.note(ctx, code, detail=f"{e} (mid-stream)")  # the request stays a 200: that is what went out
        if status >= 500:
            # This counter is the 5xx the request would have been, which the 5xx alert and dashboard add. A
            # policy refusal is no failure.
            self.metrics.child(self.metrics.stream_errors, ctx.route, code).inc()
        body = b"".join([*st.pending, b"data: ", err, b"\n\n"])
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _sse_headers(ctx: RequestRecord) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"text/event-stream"),
        (b"cache-control", b"no-cache"),
        (b"x-accel-buffering", b"no"),
        (b"x-request-id", ctx.request_id.encode()),
        GATEWAY_HEADER,
    ]


def filter_chunk(
    chunk: dict[str, Any],
    holds: Holds,
    policy: CompiledPolicy,
    ctx: RequestRecord,
    field: str,
    client_usage: bool,
    last: dict[int, int] | None = None,
    pos: int = 0,
    seen: dict[str, str] | None = None,
) -> bytes | None:
    """Apply output policies to one chunk; None when nothing in it is left to send yet. Raises Denied, or
    ``replyfields.ReplyShapeError`` for a chunk it cannot check.

    Text that streams in pieces goes through the choices' windows; every other string of the chunk is checked
    where it stands (``fields``: the rule non-streamed replies follow too). ``seen`` remembers strings every
    chunk repeats (``id``, ``model``), so each is checked once. ``last`` maps a choice to the position of its
    last text-bearing chunk in the current read (``pos`` is this chunk's): earlier text of that choice only
    joins the hold-back buffer, since it would leave in the same write anyway."""
    if seen is not None and field == "content" and policy.pii_out:
        choice = plain_chat_choice(chunk, seen)
        if choice is not None:
            return _filter_plain(chunk, choice, holds, policy, ctx, last, pos)
    usage = chunk.get("usage")
    choices = chunk.get("choices")
    if usage:
        record_usage(ctx, usage)
        if not choices and not client_usage:
            return None
        if not client_usage:
            chunk.pop("usage", None)
    strip = policy.strip_logprobs
    if strip:
        drop_token_fields(chunk)
    listed = choices if type(choices) is list else None
    keep = listed is None  # a chunk without choices goes out (checked) as it is
    for choice in listed or ():
        parts = _choice_text(choice, field)
        if parts is None:
            continue
        idx, holder, text = parts
        hb = _window(holds, idx, policy, ctx.decisions, False)
        if type(text) is str and text:
            released = hb.push(text, evaluate=last is None or last.get(idx, pos) <= pos)
        else:
            released = ""
        finish = choice.get("finish_reason")
        if finish:
            released += hb.flush()
        if holder is not None and (type(text) is str or released):
            holder[field] = released
        # Other texts of a chat delta (tool-call arguments, reasoning, refusal) through their own windows. A
        # delta of content alone (nearly every chunk) costs a len() and one lookup here.
        if (
            (finish or (holder is not None and (len(holder) != 1 or field not in holder)))
            and field == "content"
            and policy.pii_out
        ):
            holder = _filter_side_texts(choice, holder, idx, holds, policy, ctx.decisions, bool(finish))
        if strip:
            drop_token_fields(choice)
        lp = choice.get("logprobs")
        if released:
            ctx.completion_parts.append(released)
            keep = True
        elif finish or lp or _has_other_fields(holder, field):
            keep = True
    if not keep and not (client_usage and usage):
        return None
    if policy.pii_out:
        _check_in_place(chunk, "chat" if field == "content" else "completions", policy, ctx.decisions, seen)
    return encode_json(chunk)


def _filter_plain(
    chunk: dict[str, Any],
    choice: dict[str, Any],
    holds: Holds,
    policy: CompiledPolicy,
    ctx: RequestRecord,
    last: dict[int, int] | None,
    pos: int,
) -> bytes | None:
    """:func:`filter_chunk` of a chunk of the plain shape (``replyfields.plain_chat_choice``, nearly every chunk
    of a chat stream), with the same result: its texts through their windows, token fields nulled, and no walk
    of its other strings (each was checked in an earlier chunk and is in ``seen``)."""
    idx = choice.get("index", 0)
    delta = choice["delta"]
    hb = _window(holds, idx, policy, ctx.decisions, False)
    text = delta.get("content")
    released = ""
    if type(text) is str:
        if text:
            released = hb.push(text, evaluate=last is None or last.get(idx, pos) <= pos)
        delta["content"] = released
    other = False  # a role, or reasoning text the window released: the chunk goes out even without content
    if len(delta) != 1 or text is None:
        for name, v in delta.items():
            if name == "content" or not v:
                continue
            if name != "role":
                v = delta[name] = _window(holds, (idx, name), policy, ctx.decisions, False).push(v)
            other = other or bool(v)
    if policy.strip_logprobs:
        drop_token_fields(choice)
    if released:
        ctx.completion_parts.append(released)
    elif not other and not choice.get("logprobs"):
        return None
    return encode_json(chunk)


def _check_in_place(
    chunk: dict[str, Any], route: str, policy: CompiledPolicy, decisions: list[Decision], seen: dict[str, str] | None
) -> None:
    """The output PII policies on every string of a chunk that does not stream through a window."""
    if seen is not None and routine_chunk(chunk, route, seen):
        return
    fields = reply_fields(chunk, route)
    choices = chunk.get("choices")
    if type(choices) is list:
        fields += choices_fields(choices, route, streamed=True)
    for get, put in fields:
        value = get()
        new = seen.get(value) if seen is not None else None
        if new is None:
            new = policy.apply_pii(value, policy.pii_out, "output", decisions)
            if seen is not None and len(seen) < _SEEN_MAX:
                seen[value] = new
        if new != value:
            put(new)


_SEEN_MAX = 64  # strings remembered per stream: a few repeat in every chunk; an upstream may vary them


def _window(
    holds: Holds, key: HoldKey, policy: CompiledPolicy, decisions: list[Decision], json: bool
) -> HoldBack | JsonHold:
    h = holds.get(key)
    if h is None:
        h = holds[key] = JsonHold(policy, decisions) if json else HoldBack(policy, decisions)
    return h


def _filter_side_texts(
    choice: dict[str, Any],
    delta: dict[str, Any] | None,
    idx: int,
    holds: Holds,
    policy: CompiledPolicy,
    decisions: list[Decision],
    finish: bool,
) -> dict[str, Any] | None:
    """Pass a chat delta's texts other than ``content`` through their windows, in place (every string field
    outside ``DELTA_STRUCTURE_KEYS``: ``reasoning_content``, ``reasoning``, ``refusal``, ``tool_call_id``, any
    field an upstream adds, each with a window of its own; and tool-call arguments); at ``finish``, add what the
    choice's side windows still hold. Returns the delta (created when text must go out in it). Objects in a
    delta are checked chunk by chunk (``replyfields.message_fields``), without a window."""
    if delta is not None:
        for name, v in delta.items():
            if name in DELTA_STRUCTURE_KEYS:
                continue
            if type(v) is str and v:
                delta[name] = _window(holds, (idx, name), policy, decisions, False).push(v)
        calls = delta.get("tool_calls")
        if type(calls) is list:
            kept = []
            for call in calls:
                fn = call.get("function") if type(call) is dict else None
                if type(fn) is dict and type(fn.get("arguments")) is str:
                    if fn["arguments"]:
                        t = call.get("index", 0)
                        key = (idx, "tool_calls", t if type(t) is int else 0)
                        fn["arguments"] = _window(holds, key, policy, decisions, True).push(fn["arguments"])
                    if not fn["arguments"] and len(fn) == 1 and call.keys() <= {"index", "function"}:
                        continue  # all of it is held back: nothing to send
                kept.append(call)
            if len(kept) != len(calls):
                if kept:
                    delta["tool_calls"] = kept
                else:
                    del delta["tool_calls"]
        fc = delta.get("function_call")
        if type(fc) is dict and type(fc.get("arguments")) is str and fc["arguments"]:
            fc["arguments"] = _window(holds, (idx, "function_call"), policy, decisions, True).push(fc["arguments"])
    if finish:
        rest: dict[HoldKey, str] = {}
        for k, h in holds.items():
            if type(k) is tuple and k[0] == idx and h.pending:
                rest[k] = h.flush()
        if rest:
            if delta is None:
                delta = choice["delta"] = {}
            _add_side_texts(delta, rest)
    return delta


def _add_side_texts(delta: dict[str, Any], rest: dict[HoldKey, str]) -> None:
    """Append what side windows released (keys as in ``Holds``) to a chat delta."""
    for key, text in rest.items():
        if type(key) is not tuple or not text:
            continue
        name = key[1]
        if name == "tool_calls":
            calls = delta.get("tool_calls")
            if type(calls) is not list:
                calls = delta["tool_calls"] = []
            for call in calls:
                if type(call) is dict and call.get("index", 0) == key[-1] and type(call.get("function")) is dict:
                    fn = call["function"]
                    fn["arguments"] = (fn.get("arguments") or "") + text
                    break
            else:
                calls.append({"index": key[-1], "function": {"arguments": text}})
        elif name == "function_call":
            fc = delta.get("function_call")
            if type(fc) is not dict:
                fc = delta["function_call"] = {}
            fc["arguments"] = (fc.get("arguments") or "") + text
        else:
            v = delta.get(name)
            delta[name] = (v if type(v) is str else "") + text


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


def _last_text_events(batch: list[dict[str, Any] | tuple[PlainText, str]], field: str) -> dict[int, int]:
    """For each choice index, the position in ``batch`` of the last chunk carrying text for it."""
    last: dict[int, int] = {}
    for j, chunk in enumerate(batch):
        if isinstance(chunk, tuple):  # the text of a plain chunk and its ``PlainText``
            if chunk[1]:
                last[chunk[0].idx] = j
            continue
        choices = chunk.get("choices")
        for choice in choices if type(choices) is list else ():
            parts = _choice_text(choice, field)
            if parts is not None and type(parts[2]) is str and parts[2]:
                last[parts[0]] = j
    return last


def _tail_chunk(template: dict[str, Any], rest: dict[HoldKey, str], route: str, field: str) -> dict[str, Any]:
    by_choice: dict[int, dict[str, Any]] = {}
    for key, text in rest.items():
        if type(key) is int:
            by_choice.setdefault(key, {})[field] = text
    for k, text in rest.items():
        if type(k) is tuple:
            _add_side_texts(by_choice.setdefault(k[0], {}), {k: text})
    choices = [
        {"index": i, "delta": d, "finish_reason": None}
        if route == "chat"
        else {"index": i, "text": d.get(field, ""), "finish_reason": None}
        for i, d in by_choice.items()
    ]
    return {k: template[k] for k in ("id", "object", "created", "model") if k in template} | {"choices": choices}
