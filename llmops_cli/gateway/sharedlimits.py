"""Per-key rate limits shared by every worker and replica, in Redis (``PAC_REDIS_URL``).

Without it each worker process keeps its own buckets (``policy.limits``), so with N workers or N replicas behind
one Service a key gets up to N times its limit. With it, one Lua script per request does the same token-bucket
arithmetic as :class:`~llmops_cli.gateway.policy.limits.TokenBucket` atomically on the server, on the server's
clock (``TIME``), so every gateway draws from the same bucket:

- ``admit``: refill both buckets of the key (requests and tokens per minute) up to now, check the request slot
  and then the token reservation, and take both or neither. One round trip, before the request goes upstream.
- ``reconcile``: when the response ends, add back what was reserved but not used, or take the overrun. Sent
  without waiting for the answer (the response has already gone out).

A bucket lives in one hash, ``llmops:ratelimit:{<key id>}`` (the braces keep it in one Redis Cluster slot),
which expires when it would be full again: a missing bucket is a full one, so an idle key costs no memory.
A reload that lowers a limit clamps the stored level to it; debt is kept.

When Redis cannot answer (down, unreachable, slower than ``PAC_REDIS_TIMEOUT``), the request is admitted or
refused by this worker's own buckets instead: limits stay enforced, per worker, rather than failing every
request or none. Each failure counts in ``llmops_gateway_ratelimit_store_errors_total{kind}``, the first of a
run is logged, and the store is tried again after a second (``retry_s``), in the background: no request waits
for a connection. A request admitted against a bucket is reconciled against the same one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from llmops_cli.gateway.policy.limits import Limiter
from llmops_cli.gateway.redis_client import RedisClient, RespError, StoreError

log = logging.getLogger("llmops.gateway")

# ARGV: op ("admit" | "reconcile"), requests/min capacity (0 = no limit), tokens/min capacity (0 = no limit),
# then admit: tokens; reconcile: reserved, used. Returns {0, 0} admitted, {1, retry_ms} out of requests,
# {2, retry_ms} out of tokens.
SCRIPT = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local key = KEYS[1]
local rcap = tonumber(ARGV[2])
local tcap = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local v = redis.call('HMGET', key, 'r', 'rs', 't', 'ts')
local function level(l, s, cap)
  l = tonumber(l)
  if l == nil then return cap end
  return math.min(cap, l + math.max(0, now - tonumber(s)) * cap / 60)
end
local r = level(v[1], v[2], rcap)
local tk = level(v[3], v[4], tcap)
if ARGV[1] == 'admit' then
  local cost = tonumber(ARGV[4])
  if rcap > 0 and r < 1 then
    return {1, math.ceil((1 - r) * 60000 / rcap)}
  end
  if tcap > 0 and tk < cost then
    return {2, math.ceil((cost - tk) * 60000 / tcap)}
  end
  r = r - 1
  tk = tk - cost
else
  tk = math.min(tcap, tk + tonumber(ARGV[4]) - tonumber(ARGV[5]))
end
local ttl = 0
local ts = string.format('%.6f', now)
if rcap > 0 then
  redis.call('HSET', key, 'r', string.format('%.17g', r), 'rs', ts)
  ttl = math.max(ttl, (rcap - r) * 60 / rcap)
end
if tcap > 0 then
  redis.call('HSET', key, 't', string.format('%.17g', tk), 'ts', ts)
  ttl = math.max(ttl, (tcap - tk) * 60 / tcap)
end
redis.call('PEXPIRE', key, math.ceil(ttl * 1000) + 1000)
return {0, 0}
"""

_REASONS = {1: "requests_per_minute", 2: "tokens_per_minute"}


def bucket_key(key_id: str) -> str:
    return f"llmops:ratelimit:{{{key_id}}}"


class SharedLimiter:
    def __init__(
        self,
        client: RedisClient,
        local: Limiter,
        *,
        on_error: Callable[[str], None] | None = None,
        retry_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.local = local
        self.on_error = on_error
        self.retry_s = retry_s
        self.clock = clock
        self.up = False
        self._retry_at = 0.0
        self._down_logged = False
        self._connecting: asyncio.Task[None] | None = None

    @property
    def available(self) -> bool:
        """The store takes checks: connected, and the connection has run the script."""
        return self.up and self.client.connected

    @property
    def state(self) -> str:
        """For /readyz: ``shared`` or ``local`` (falling back to this worker's buckets)."""
        return "shared" if self.available else "local"

    async def start(self) -> None:
        """Connect at startup; a store that is down only means local buckets until it answers."""
        self._retry_at = self.clock() + self.retry_s
        await self._connect()

    async def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        self.client.close()

    async def _connect(self) -> None:
        try:
            await self.client.connect()
            # A no-op run of the script (no limits, a key that does not exist): it proves the server runs Lua
            # scripts (EVAL can be disabled) and caches the script, before any request relies on it. A store
            # that connects but cannot run it stays "down", and is not logged as back every second.
            await self.client.script(SCRIPT, [bucket_key("-")], ["reconcile", 0, 0, 0, 0])
        except (StoreError, RespError) as e:
            self._failed(e)
        else:
            self._ok()
        finally:
            self._connecting = None

    def _ready(self) -> bool:
        """Whether the store can take this request's check now. A lost connection is opened again in the
        background, at most once per ``retry_s``; no request waits for it (they use local buckets meanwhile, and
        until the new connection has run the script once)."""
        if self.available:
            return True
        now = self.clock()
        if now >= self._retry_at and self._connecting is None:
            self._retry_at = now + self.retry_s
            self._connecting = asyncio.get_running_loop().create_task(self._connect())
        return False

    def _failed(self, e: StoreError | RespError) -> None:
        kind = e.kind if isinstance(e, StoreError) else "error"
        if self.on_error is not None:
            self.on_error(kind)
        if not self._down_logged:
            log.warning(
                "shared rate limits unavailable (%s); each worker enforces the limits with its own buckets "
                "until the store answers again, retried every %g s",
                e,
                self.retry_s,
            )
            self._down_logged = True
        self.up = False
        self.client.close()  # slow or broken: stop sending; the next try after retry_s opens a fresh one
        self._retry_at = self.clock() + self.retry_s

    def _ok(self) -> None:
        if not self.up:
            if self._down_logged:
                log.warning("shared rate limits available again at %s", self.client.url.safe())
            self._down_logged = False
            self.up = True

    async def admit(self, key: str, rpm: int | None, tpm: int | None, tokens: int) -> tuple[str | None, float, bool]:
        """(None, 0, shared) or (reason, retry_after_s, shared); ``shared`` says which buckets took the cost,
        for :meth:`reconcile`."""
        if not rpm and not tpm:
            return None, 0.0, False
        if tpm and tokens > tpm:
            return "request_exceeds_tokens_per_minute", 0.0, False
        if self._ready():
            try:
                res = await self.client.script(SCRIPT, [bucket_key(key)], ["admit", rpm or 0, tpm or 0, tokens])
                code, retry_ms = int(res[0]), int(res[1])
            except (StoreError, RespError) as e:
                self._failed(e)
            except (TypeError, ValueError, IndexError):
                self._failed(StoreError("unexpected reply to the rate-limit script", "protocol"))
            else:
                self._ok()
                if code == 0:
                    return None, 0.0, True
                return _REASONS.get(code, "requests_per_minute"), retry_ms / 1000, True
        reason, retry = self.local.admit(key, rpm, tpm, tokens)
        return reason, retry, False

    def reconcile(self, key: str, rpm: int | None, tpm: int | None, reserved: int, used: int, shared: bool) -> None:
        """Settle a finished request's token reservation with the buckets that admitted it."""
        if not shared:
            self.local.reconcile(key, reserved, used)
            return
        if not tpm or reserved == used:
            return
        # The request bucket is passed too: the script rewrites it as it stands (refilled) and sets the hash's
        # expiry for both, so the expiry never cuts a bucket short.
        args: list[Any] = ["reconcile", rpm or 0, tpm, reserved, used]
        try:
            fut = self.client.script_send(SCRIPT, [bucket_key(key)], args)
        except StoreError as e:
            self._failed(e)
            return

        def done(f: Any) -> None:
            if f.cancelled():
                return
            e = f.exception()
            if isinstance(e, RespError) and str(e).startswith("NOSCRIPT"):  # the server restarted meanwhile
                try:
                    self.client.send(b"EVAL", SCRIPT, 1, bucket_key(key), *args).add_done_callback(done)
                except StoreError as err:
                    self._failed(err)
            elif isinstance(e, (StoreError, RespError)):
                self._failed(e)

        fut.add_done_callback(done)
