"""Admission: everything a request passes before it may go upstream, and the settling of its token
reservation afterwards.

Order: concurrency gate → auth → body size → strict parse (once) → input policies → rate limits. A refusal
raises :class:`~llmops_cli.gateway.policy.engine.Denied`; what was admitted comes back as :class:`Admitted`,
whose ``body`` is the object the policies checked (the only thing that is forwarded).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from llmops_cli.gateway.asgi import Receive, RequestRecord, strict_loads
from llmops_cli.gateway.metrics import Metrics
from llmops_cli.gateway.policy.engine import CompiledPolicy, Decision, Denied
from llmops_cli.gateway.policy.limits import Limiter
from llmops_cli.gateway.sharedlimits import SharedLimiter


class InjectionClassifier(Protocol):
    """A prompt-injection classifier on an inference server (issue 22, item 6): called once per admitted
    request, after the input policies, with what anyone but the operator wrote, as the model will see it.
    Returns the decisions to record; raises Denied to refuse (its own timeout and fail-open/closed choice
    included)."""

    async def classify(self, texts: list[str], policy: CompiledPolicy) -> list[Decision]: ...


@dataclass(slots=True)
class Admitted:
    """A request the gateway will forward: its checked body, and the token reservation to settle."""

    body: dict[str, Any]
    stream: bool
    key_id: str | None = None
    reserved: int = 0
    rpm: int | None = None
    tpm: int | None = None
    shared: bool = False  # the shared buckets (not this worker's) admitted it


class Admission:
    def __init__(
        self,
        limiter: Limiter,
        shared: SharedLimiter | None,
        metrics: Metrics,
        classifier: InjectionClassifier | None = None,
    ) -> None:
        self.limiter = limiter
        self.shared = shared
        self.metrics = metrics
        self.classifier = classifier
        self.in_flight = 0

    # ------------------------------------------------------------------ concurrency
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

    # ------------------------------------------------------------------ admission
    async def admit(
        self,
        ctx: RequestRecord,
        policy: CompiledPolicy,
        headers: dict[bytes, str],
        receive: Receive,
        route: str,
        forced_stream: bool | None,
    ) -> Admitted:
        """Authenticate, read, parse and check the request and take its rate-limit cost. Raises Denied; the
        decisions made so far are in ``ctx.decisions`` either way."""
        key = policy.authenticate(headers.get(b"authorization"), headers.get(b"x-api-key"))
        key_id = ctx.key_id = key.id if key is not None else None
        obj = await read_json(headers, receive, policy)
        if forced_stream is not None:
            obj["stream"] = forced_stream
        stream = obj.get("stream", False)
        if not isinstance(stream, bool):
            raise Denied(400, "invalid_stream", "`stream` must be a boolean.")
        ctx.model = obj.get("model") if isinstance(obj.get("model"), str) else None
        check = policy.admit_request(route, obj, key)
        ctx.decisions = check.decisions
        if self.classifier is not None and check.user_texts:
            ctx.decisions.extend(await self.classifier.classify(check.user_texts, policy))
        ctx.prompt_text = "\n".join(check.texts)
        ctx.prompt_tokens = check.prompt_tokens
        reserved = ctx.prompt_tokens + (policy.max_tokens(obj) if route != "embeddings" else 0)
        lim = policy.policy.limits
        rpm = key.requests_per_minute if key and key.requests_per_minute else lim.requests_per_minute
        tpm = key.tokens_per_minute if key and key.tokens_per_minute else lim.tokens_per_minute
        shared = False
        if self.shared is None:
            reason, retry = self.limiter.admit(key_id or "-", rpm, tpm, reserved)
        else:
            reason, retry, shared = await self.shared.admit(key_id or "-", rpm, tpm, reserved)
        if reason is not None:
            raise Denied(
                429,
                reason,
                f"Rate limit exceeded ({reason}).",
                err_type="rate_limit_error",
                retry_after=retry,
                decisions=[Decision(f"limit:{reason}", "deny")],
            )
        if route != "embeddings":
            policy.bind_max_tokens(obj)
        return Admitted(obj, stream, key_id, reserved, rpm, tpm, shared)

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
            self.limiter.reconcile(adm.key_id or "-", adm.reserved, used)
        else:
            self.shared.reconcile(adm.key_id or "-", adm.rpm, adm.tpm, adm.reserved, used, adm.shared)


async def read_json(headers: dict[bytes, str], receive: Receive, policy: CompiledPolicy) -> dict[str, Any]:
    """The request body, within ``limits.max_body_bytes``, parsed strictly into a JSON object. Raises Denied."""
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
