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
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    capacity: float
    clock: Callable[[], float] = time.monotonic
    level: float = field(default=-1.0)
    stamp: float = 0.0

    def __post_init__(self) -> None:
        if self.level < 0:
            self.level = self.capacity
        self.stamp = self.clock()

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
        if b is None or b.capacity != capacity:
            level = min(b.level, capacity) if b is not None else -1.0
            b = TokenBucket(float(capacity), self.clock, level)
            table[key] = b
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

    def reconcile(self, key: str, reserved: int, used: int) -> None:
        b = self._tpm.get(key)
        if b is not None:
            b.reconcile(reserved, used)
