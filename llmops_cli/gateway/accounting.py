"""What a finished request leaves behind: its metrics and its audit record (one JSON line).

Requests refused for their credentials (no key, a wrong one, two of them) cost their sender nothing but a
connection: their audit records are rate-limited (a bucket of 60 refilled at one a second, per worker), so
nobody can fill the disk with them. Those left out are counted in
``llmops_gateway_audit_records_suppressed_total{reason="unauthenticated"}`` and in the next such record
(``suppressed_before``); the metrics count every request."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from llmops_cli.gateway.asgi import RequestRecord
from llmops_cli.gateway.audit import AuditLog
from llmops_cli.gateway.metrics import Metrics
from llmops_cli.gateway.policy.engine import CompiledPolicy, Decision
from llmops_cli.gateway.policy.limits import TokenBucket

UNAUTHENTICATED = frozenset({"missing_api_key", "invalid_api_key", "ambiguous_credentials"})


class Accounting:
    def __init__(self, metrics: Metrics, audit: AuditLog) -> None:
        self.metrics = metrics
        self.audit = audit
        self.unauthenticated = TokenBucket(60.0)  # audit lines of refused credentials: 1 a second, bursts of 60
        self.suppressed = 0

    def finish(self, ctx: RequestRecord, policy: CompiledPolicy) -> None:
        """Count the request in the metrics and write its audit record."""
        elapsed = time.perf_counter() - ctx.t0
        m = self.metrics
        # A model name takes one of the bounded label slots only once the upstream served it: names the
        # allowlist refused, or the upstream did not know, are the client's free choice.
        if ctx.error == "model_not_allowed":
            model = "denied"
        elif not ctx.model:
            model = ""
        else:
            model = m.model_label(ctx.model, ctx.upstream_status == 200 or ctx.status == 200)
        m.child(m.requests, ctx.route, model, str(ctx.status)).inc()
        m.child(m.duration, ctx.route).observe(elapsed)
        if ctx.prompt_tokens and ctx.status == 200:
            m.child(m.tokens, "in", model).inc(ctx.prompt_tokens)
        if ctx.completion_tokens:
            m.child(m.tokens, "out", model).inc(ctx.completion_tokens)
        taken = _taken(ctx.decisions)
        for (rule, action), n in taken.items():
            m.child(m.decisions, rule, action).inc(n)
        if not self.audit.enabled:
            return
        if ctx.error in UNAUTHENTICATED and not self.unauthenticated.try_take(1):
            self.suppressed += 1
            m.child(m.audit_suppressed, "unauthenticated").inc()
            return
        completion = "".join(ctx.completion_parts)
        rec: dict[str, Any] = {
            "request_id": ctx.request_id,
            "client_request_id": ctx.client_request_id,
            "key_id": ctx.key_id,
            "model": ctx.model,
            "route": ctx.route,
            "status": ctx.status,
            "upstream_status": ctx.upstream_status,
            "decisions": [
                {"rule": rule, "action": action, "count": n} if n > 1 else {"rule": rule, "action": action}
                for (rule, action), n in taken.items()
            ],
            "tokens": {"prompt": ctx.prompt_tokens, "completion": ctx.completion_tokens},
            "latency_ms": round(elapsed * 1000, 3),
            "ttft_ms": round(ctx.ttft * 1000, 3) if ctx.ttft is not None else None,
            "error": ctx.error,
        }
        if policy.policy.audit.store_text:
            rec["prompt"] = ctx.prompt_text  # already redacted by the input policies
            rec["completion"] = completion
        else:
            audit = self.audit
            rec["prompt_hmac"] = audit.digest(ctx.prompt_text) if ctx.prompt_text else None
            rec["completion_hmac"] = audit.digest(completion) if completion else None
            rec["hmac_key"] = audit.key_id
        suppressed = self.suppressed if ctx.error in UNAUTHENTICATED else 0
        if suppressed:
            rec["suppressed_before"] = suppressed
        if self.audit.write(rec) and suppressed:
            self.suppressed -= suppressed


def _taken(decisions: list[Decision]) -> Counter[tuple[str, str]]:
    """Each (rule, action) of ``decisions`` once, in the order first taken, with how many times: a request of a
    hundred thousand short e-mail addresses makes as many decisions, and its record would be megabytes long
    (and the metrics incremented as often)."""
    return Counter((d.rule, d.action) for d in decisions)
