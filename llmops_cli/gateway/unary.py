"""Non-streamed completions and embeddings: forward the checked body, apply the output policies to the reply,
answer with the serialisation of the object they checked."""

from __future__ import annotations

import orjson

from llmops_cli.gateway.asgi import RequestRecord, Send, record_usage, respond
from llmops_cli.gateway.busypoll import BusyPoll
from llmops_cli.gateway.failures import Failures
from llmops_cli.gateway.policy.engine import CompiledPolicy, Denied
from llmops_cli.gateway.policy.replyfields import ReplyShapeError
from llmops_cli.gateway.upstream import Adapter, UpstreamError


class UnaryRelay:
    def __init__(self, adapter: Adapter, failures: Failures, busy: BusyPoll | None) -> None:
        self.adapter = adapter
        self.failures = failures
        self.busy = busy

    async def relay(
        self, send: Send, ctx: RequestRecord, policy: CompiledPolicy, route: str, upstream_path: str, out: bytes
    ) -> None:
        try:
            up = await self.adapter.request("POST", upstream_path, out)
        except UpstreamError as e:
            return await self.failures.upstream_failed(send, ctx, e)
        if self.busy is not None:
            self.busy.poke()
        ctx.upstream_status = up.status
        # Another 2xx (201, 203 from a proxy in between) carrying a completion is one: checked and answered
        # like 200. Anything else is rebuilt as an error (see ``replies``).
        if not 200 <= up.status < 300:
            return await self.failures.upstream_refused(send, ctx, policy, up.status, up.body, up.retry_after)
        try:
            payload = orjson.loads(up.body)
            if not isinstance(payload, dict):
                raise TypeError("not an object")
            policy.redact_output(route, payload, ctx.decisions)
            # Always the serialisation of the object the output policies checked, never the upstream's bytes:
            # those may say more than the parsed object (a repeated key: only its last value was checked).
            body = orjson.dumps(payload)
        except Denied as d:
            return await self.failures.denied(send, ctx, d)
        except ReplyShapeError as e:
            return await self.failures.upstream_invalid(send, ctx, f"reply: one the gateway cannot check ({e})")
        except (orjson.JSONDecodeError, orjson.JSONEncodeError, TypeError, AttributeError):
            return await self.failures.upstream_invalid(send, ctx)
        record_usage(ctx, payload.get("usage"))
        choices = payload.get("choices")
        for choice in choices if type(choices) is list else ():
            if isinstance(choice, dict):
                msg = choice.get("message")
                text = msg.get("content") if isinstance(msg, dict) else choice.get("text")
                if isinstance(text, str):
                    ctx.completion_parts.append(text)
        ctx.status = 200
        await respond(send, 200, body, rid=ctx.request_id)
