"""Admission: everything a request passes before it may go upstream, cheapest first, and the settling of its
token reservation afterwards.

1. ``receive``: auth (a hash lookup; two credentials that disagree are refused) → one request from the key's
   requests-per-minute budget, and no debt in its tokens bucket → the key's slot (``max_concurrency_per_key``:
   its requests being read or in flight) → the declared size → the body, read within ``body_timeout`` and
   ``max_body_bytes``. Nothing is parsed or scanned yet, and a request refused from here on has spent its
   request: a flood of refused requests costs its key, not everyone.
2. The worker's in-flight slot (``max_concurrency``), taken only now that a whole body has arrived (``enter``):
   connections that never finish their body hold no slot.
3. ``admit``: strict parse (once) → input policies (scans) → an injection classifier, where one is set → the
   token reservation: prompt estimate + what the upstream may generate (``max_tokens`` × ``max(n, best_of)``
   × prompts). A request the policies or the reservation refuse is charged what it cost to scan (its body's
   size / 4, as debt).

A refusal raises :class:`~llmops_cli.gateway.policy.engine.Denied`; what was admitted comes back as
:class:`Admitted`, whose ``body`` is the object the policies checked (the only thing that is forwarded).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from llmops_cli.gateway.asgi import DUPLICATED, Receive, RequestRecord, strict_loads
from llmops_cli.gateway.metrics import Metrics
from llmops_cli.gateway.policy.engine import CompiledPolicy, Decision, Denied
from llmops_cli.gateway.policy.limits import Limiter
from llmops_cli.gateway.policy.model import ApiKey
from llmops_cli.gateway.sharedlimits import SharedLimiter

ANONYMOUS = "-"  # the bucket of requests without a key (auth.required: false)


class InjectionClassifier(Protocol):
    """A prompt-injection classifier on an inference server (issue 22, item 6): called once per admitted
    request, after the input policies, with what anyone but the operator wrote, as the model will see it.
    Returns the decisions to record; raises Denied to refuse (its own timeout and fail-open/closed choice
    included)."""

    async def classify(self, texts: list[str], policy: CompiledPolicy) -> list[Decision]: ...


class PolicyClassifier:
    """The classifier the request's policy configures (``content.injection.classifier``: TEI's /predict, see
    ``policy.classifier``); no call when it sets none. Read per request, so a policy reload switches it."""

    async def classify(self, texts: list[str], policy: CompiledPolicy) -> list[Decision]:
        return await policy.screen_injection(texts)


@dataclass(slots=True)
class Received:
    """A request whose key is known, whose request budget is spent and whose body has arrived."""

    key: ApiKey | None
    bucket: str
    raw: bytes
    rpm: int | None
    tpm: int | None
    shared: bool  # the shared buckets (not this worker's) took the request


@dataclass(slots=True)
class Admitted:
    """A request the gateway will forward: its checked body, and the token reservation to settle."""

    body: dict[str, Any]
    stream: bool
    bucket: str = ANONYMOUS
    reserved: int = 0
    rpm: int | None = None
    tpm: int | None = None
    shared: bool = False  # the shared buckets (not this worker's) admitted the tokens


class Admission:
    def __init__(
        self,
        limiter: Limiter,
        shared: SharedLimiter | None,
        metrics: Metrics,
        classifier: InjectionClassifier | None = None,
        body_timeout: float = 30.0,
    ) -> None:
        self.limiter = limiter
        self.shared = shared
        self.metrics = metrics
        self.classifier: InjectionClassifier = classifier or PolicyClassifier()
        self.deadlines = BodyDeadlines(body_timeout)
        self.in_flight = 0
        self.by_key: dict[str, int] = {}  # requests of each key being read or in flight

    # ------------------------------------------------------------------ 1. cheap, before the body
    async def receive(
        self, ctx: RequestRecord, policy: CompiledPolicy, headers: dict[bytes, str], receive: Receive
    ) -> Received:
        """Authenticate, spend one request, take the key's slot and read the body. Raises Denied; once the key's
        slot is taken (``ctx.key_slot``), :meth:`release` must give it back."""
        key = authenticate(policy, headers)
        ctx.key_id = key.id if key is not None else None
        bucket = ctx.key_id or ANONYMOUS
        lim = policy.policy.limits
        rpm = key.requests_per_minute if key and key.requests_per_minute else lim.requests_per_minute
        tpm = key.tokens_per_minute if key and key.tokens_per_minute else lim.tokens_per_minute
        # One request, and (tokens 0) a tokens bucket out of debt: a key that overran waits before anything of
        # its request is read.
        if self.shared is None:
            reason, retry = self.limiter.admit(bucket, rpm, tpm, 0)
            shared = False
        else:
            reason, retry, shared = await self.shared.admit(bucket, rpm, tpm, 0)
        if reason is not None:
            raise _limited(reason, retry)
        cap = key.max_concurrency if key is not None and key.max_concurrency else lim.max_concurrency_per_key
        active = self.by_key.get(bucket, 0)
        if active >= cap:
            raise Denied(
                429,
                "too_many_concurrent_requests",
                f"This key has {cap} requests in flight on this gateway worker; retry when one has finished.",
                err_type="rate_limit_error",
                retry_after=1,
                decisions=[Decision("limit:concurrency", "deny")],
            )
        self.by_key[bucket] = active + 1
        ctx.key_slot = bucket
        raw = await read_body(headers, receive, lim.max_body_bytes, self.deadlines)
        return Received(key, bucket, raw, rpm, tpm, shared)

    def release(self, ctx: RequestRecord) -> None:
        """Give back the key's slot, if the request took one."""
        bucket = ctx.key_slot
        if bucket is None:
            return
        ctx.key_slot = None
        n = self.by_key.get(bucket, 1) - 1
        if n:
            self.by_key[bucket] = n
        else:
            self.by_key.pop(bucket, None)

    # ------------------------------------------------------------------ 2. the worker's slot
    def enter(self, policy: CompiledPolicy) -> bool:
        """Take an in-flight slot; False when the worker is at ``limits.max_concurrency``."""
        if self.in_flight >= policy.policy.limits.max_concurrency:
            return False
        self.in_flight += 1
        if self.metrics.shared:  # other workers answer scrapes too: keep this worker's gauge current
            self.metrics.in_flight.set(self.in_flight)
        return True

    def leave(self) -> None:
        self.in_flight -= 1
        if self.metrics.shared:
            self.metrics.in_flight.set(self.in_flight)

    @staticmethod
    def overloaded() -> Denied:
        return Denied(
            503, "overloaded", "The gateway is at capacity; retry shortly.", err_type="overloaded_error", retry_after=1
        )

    # ------------------------------------------------------------------ 3. parse, scan, reserve
    async def admit(
        self, ctx: RequestRecord, policy: CompiledPolicy, got: Received, route: str, forced_stream: bool | None
    ) -> Admitted:
        """Parse and check the body and reserve its tokens. Raises Denied; the decisions made so far are in
        ``ctx.decisions`` either way, and a request the policies refused is charged its scan."""
        model = None
        try:
            obj = parse_json(got.raw)
            if forced_stream is not None:
                obj["stream"] = forced_stream
            stream = obj.get("stream", False)
            if not isinstance(stream, bool):
                raise Denied(400, "invalid_stream", "`stream` must be a boolean.")
            model = obj.get("model")
            check = policy.admit_request(route, obj, got.key)
            ctx.model = model  # its name passed the model checks
            ctx.decisions = check.decisions
            if check.user_texts:
                ctx.decisions.extend(await self.classifier.classify(check.user_texts, policy))
        except Denied:
            if ctx.model is None:
                # The audit record and metrics get the name only where it is a plain one, free of personal data
                # and blocked phrases (and at most 256 characters): it is the client's free text.
                ctx.model = policy.recordable_model(model, got.key)
            self._charge(got, len(got.raw) // 4 + 1)
            raise
        ctx.prompt_text = "\n".join(check.texts)
        ctx.prompt_tokens = check.prompt_tokens
        reserved = ctx.prompt_tokens + policy.completion_budget(route, obj)
        shared = False
        if self.shared is None:
            reason, retry = self.limiter.admit(got.bucket, None, got.tpm, reserved)
        else:
            reason, retry, shared = await self.shared.admit(got.bucket, None, got.tpm, reserved)
        if reason is not None:
            # Refused after its scan: it pays for that as a request the policies refused does (else a key could
            # have megabyte bodies scanned at the requests-per-minute rate, each asking for too many tokens).
            self._charge(got, len(got.raw) // 4 + 1)
            raise _limited(reason, retry)
        if route != "embeddings":
            policy.bind_max_tokens(obj)
        return Admitted(obj, stream, got.bucket, reserved, got.rpm, got.tpm, shared)

    def _charge(self, got: Received, tokens: int) -> None:
        """Take ``tokens`` from the key's tokens bucket as debt (a refused request's scan)."""
        if not got.tpm:
            return
        if self.shared is None:
            self.limiter.reconcile(got.bucket, 0, tokens)
        else:
            self.shared.reconcile(got.bucket, got.rpm, got.tpm, 0, tokens, got.shared)

    def settle(self, ctx: RequestRecord, adm: Admitted | None) -> None:
        """At the end of a request: estimate the completion when the upstream reported no usage, and give back
        (or take) the difference between the tokens reserved and those used."""
        if not ctx.completion_tokens and ctx.completion_parts:
            # No usage from the upstream (a stream cut short by the client or by an upstream failure, or an
            # upstream that does not report it): charge and record what was released, estimated like the prompt.
            ctx.completion_tokens = sum(map(len, ctx.completion_parts)) // 4 + 1
        if adm is None or not adm.reserved:
            return
        used = ctx.prompt_tokens + ctx.completion_tokens
        if self.shared is None:
            self.limiter.reconcile(adm.bucket, adm.reserved, used)
        else:
            self.shared.reconcile(adm.bucket, adm.rpm, adm.tpm, adm.reserved, used, adm.shared)


def authenticate(policy: CompiledPolicy, headers: dict[bytes, str]) -> ApiKey | None:
    """The caller's key (see ``CompiledPolicy.authenticate``); a request that repeats `Authorization` or
    `x-api-key` is refused: which of two keys counts would depend on who reads the headers."""
    if DUPLICATED in headers:
        raise Denied(
            400,
            "ambiguous_credentials",
            f"The request has more than one `{headers[DUPLICATED]}` header; send one.",
            err_type="authentication_error",
        )
    return policy.authenticate(headers.get(b"authorization"), headers.get(b"x-api-key"))


def _limited(reason: str, retry: float) -> Denied:
    return Denied(
        429,
        reason,
        f"Rate limit exceeded ({reason}).",
        err_type="rate_limit_error",
        retry_after=retry,
        decisions=[Decision(f"limit:{reason}", "deny")],
    )


class BodyDeadlines:
    """Each body read ends within ``timeout`` seconds: one sweep a second cancels the reads that are over it
    (their request is answered 408). A dictionary entry per read instead of a timer per request: arming and
    cancelling a timer cost 6-10 µs a request with uvloop on the benchmark machine."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.reading: dict[asyncio.Task[Any], float] = {}
        self.expired: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    def add(self, task: asyncio.Task[Any]) -> None:
        loop = task.get_loop()
        self.reading[task] = loop.time()
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = loop.create_task(self._sweep())

    def remove(self, task: asyncio.Task[Any]) -> bool:
        """Stop watching ``task``; True when it was cancelled for running over."""
        self.reading.pop(task, None)
        if task in self.expired:
            self.expired.discard(task)
            return True
        return False

    async def _sweep(self) -> None:
        interval = min(1.0, self.timeout / 4)
        while self.reading:
            await asyncio.sleep(interval)
            now = asyncio.get_running_loop().time()
            for task, started in list(self.reading.items()):
                if now - started > self.timeout and task not in self.expired:
                    self.expired.add(task)
                    task.cancel()

    def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()


# A request refused before its body was read leaves the body on the wire. Closing at once would make the kernel
# answer the body's late bytes with a reset, which can throw away the refusal before the client (or a
# port-forward or proxy between) reads it. Go's net/http server reads and drops up to 256 KiB of an unread body
# to keep the connection (src/net/http/server.go, ``maxPostHandlerReadBytes``); so does the gateway. uvicorn
# (0.55, ``protocols/http/httptools_impl.py``, ``on_body``) drops the body of a request already answered, so
# keeping the connection is all it takes.
KEEP_ALIVE_UNREAD_BODY = 256 << 10


def close_after_refusal(headers: dict[bytes, str], d: Denied) -> bool:
    """Whether a request refused before its whole body was read should close its connection: when its body was
    being read (a deadline or size refusal), is chunked or is declared over ``KEEP_ALIVE_UNREAD_BODY``."""
    if d.status == 408 or d.code == "body_too_large":
        return True
    if b"transfer-encoding" in headers:
        return True
    declared = headers.get(b"content-length")
    return declared is not None and not (declared.isdigit() and int(declared) <= KEEP_ALIVE_UNREAD_BODY)


async def read_body(headers: dict[bytes, str], receive: Receive, limit: int, deadlines: BodyDeadlines) -> bytes:
    """The request body, within ``limit`` bytes and the deadline. Raises Denied."""

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
    me = asyncio.current_task()
    assert me is not None
    deadlines.add(me)
    try:
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
    except asyncio.CancelledError:
        # The sweep cancels a read only while it waits in ``receive`` (its one suspension point), so its
        # cancellation always lands here.
        if deadlines.remove(me):
            me.uncancel()
            raise Denied(
                408, "request_timeout", f"The request body did not arrive within {deadlines.timeout:g} s."
            ) from None
        raise
    finally:
        deadlines.remove(me)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_json(raw: bytes) -> dict[str, Any]:
    """A request body parsed strictly into a JSON object. Raises Denied."""
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
