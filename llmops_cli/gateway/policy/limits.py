"""Per-key rate limits as token buckets.

Algorithm: a bucket holds up to ``capacity`` units (the per-minute limit) and refills continuously at
``capacity / 60`` units per second, computed lazily from a monotonic clock on each access (no timers).
A request is admitted when the bucket holds at least its cost; the cost is then taken. Requests per minute
cost 1. Tokens per minute cost ``prompt estimate + max_tokens`` up front (streams cannot know their length);
when the response ends, :meth:`TokenBucket.reconcile` adds back what was reserved but not used, or takes the
overrun (the balance may go negative, which delays later requests of that key: debt is paid, not forgiven).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal


class TokenBucket:
    """``level=None`` (the default) is a fresh bucket, full; any number, debt (negative) included, is kept."""

    __slots__ = ("capacity", "clock", "level", "stamp")

    def __init__(
        self, capacity: float, clock: Callable[[], float] = time.monotonic, level: float | None = None
    ) -> None:
        self.capacity = capacity
        self.clock = clock
        self.level: float = capacity if level is None else level
        self.stamp = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.capacity / 60.0)
        self.stamp = now

    def try_take(self, cost: float) -> bool:
        self._refill()
        if self.level >= cost:
            self.level -= cost
            return True
        return False

    def reconcile(self, reserved: float, used: float) -> None:
        self._refill()
        self.level = min(self.capacity, self.level + reserved - used)

    def retry_after(self, cost: float) -> float:
        """Seconds until ``cost`` units are available."""
        self._refill()
        return max(0.0, (cost - self.level) * 60.0 / self.capacity)


class Limiter:
    """Buckets by key id; they survive policy reloads (a reload that changes a limit resizes the bucket)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._rpm: dict[str, TokenBucket] = {}
        self._tpm: dict[str, TokenBucket] = {}

    def _bucket(self, table: dict[str, TokenBucket], key: str, capacity: int) -> TokenBucket:
        b = table.get(key)
        if b is None:
            b = table[key] = TokenBucket(float(capacity), self.clock)
        elif b.capacity != capacity:
            # a reload changed the limit: carry the balance over (refilled up to now, at the old rate), debt
            # included; only what exceeds the new capacity goes
            b._refill()
            b = table[key] = TokenBucket(float(capacity), self.clock, min(b.level, float(capacity)))
        return b

    def admit(self, key: str, rpm: int | None, tpm: int | None, tokens: int) -> tuple[str | None, float]:
        """Take one request and ``tokens`` from the key's buckets: (None, 0) or (reason, retry_after_s)."""
        tb = self._bucket(self._tpm, key, tpm) if tpm else None
        if tb is not None and tokens > tb.capacity:
            return "request_exceeds_tokens_per_minute", 0.0
        rb = self._bucket(self._rpm, key, rpm) if rpm else None
        if rb is not None and not rb.try_take(1):
            return "requests_per_minute", rb.retry_after(1)
        if tb is not None and not tb.try_take(tokens):
            if rb is not None:
                rb.reconcile(1, 0)  # give the request slot back
            return "tokens_per_minute", tb.retry_after(tokens)
        return None, 0.0

    def balance(self, key: str, limit: Literal["rpm", "tpm"]) -> tuple[float, float] | None:
        """The key's bucket for ``limit`` as (level, capacity), the level as of its last use (negative: in debt),
        or None when the key has no such bucket yet."""
        b = (self._rpm if limit == "rpm" else self._tpm).get(key)
        return None if b is None else (b.level, b.capacity)

    def reconcile(self, key: str, reserved: int, used: int) -> None:
        b = self._tpm.get(key)
        if b is not None:
            b.reconcile(reserved, used)
