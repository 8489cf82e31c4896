"""Latency-critical work first: a stream's later chunks take turns behind new requests and first tokens.

Why: one worker's event loop runs whatever is ready in arrival order. With many streams in flight, every turn
of the loop holds a batch of later chunks (each a read, the SSE parse, the output policies and a write), and a
request that arrives meanwhile waits behind the whole batch twice: before its policies run, and again when its
own first chunk comes back. That wait, not the policies, was most of the time to first token the gateway added
at 100 streams in flight (``benchmarks/gateway.py`` section 2). A chunk that reaches a reader 100 µs later is
invisible at 50 tokens/s; a first token that waits behind 20 other streams' chunks is not.

How: once a stream has sent its first token, each of its later reads awaits :meth:`LowPriority.turn` before
it is processed. One waiter is released per turn of the event loop, and the loop polls for I/O between turns,
so a request or a first chunk that arrives meanwhile runs after at most one later chunk instead of after all
of them. Nothing is dropped or reordered within a stream, and the loop never idles while a waiter is queued
(the queue drains at the loop's full speed), so throughput and the total time of each stream stay the same.
New requests, non-streamed answers and everything up to a stream's first token never wait here.

Cost: a future and one more task step per later chunk, and one zero-timeout poll per turn while chunks are
queued.
"""

from __future__ import annotations

import asyncio
from collections import deque


class LowPriority:
    """A FIFO of waiters, released one per turn of the running event loop."""

    __slots__ = ("_loop", "_scheduled", "_waiters")

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._scheduled = False

    def __len__(self) -> int:
        return len(self._waiters)

    def turn(self) -> asyncio.Future[None]:
        """A future that completes on this waiter's turn (await it). Cancelling it gives up the turn."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # Another event loop (an app reused across ``asyncio.run`` calls, in tests): what waited on the old
            # one died with it.
            self._loop = loop
            self._waiters.clear()
            self._scheduled = False
        f: asyncio.Future[None] = loop.create_future()
        self._waiters.append(f)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._release)
        return f

    def _release(self) -> None:
        # Callbacks scheduled from here (this one again, and the released task's step) run on the next turn,
        # after the loop has polled for I/O: what arrived meanwhile is queued before the next waiter.
        waiters = self._waiters
        while waiters:
            f = waiters.popleft()
            if not f.done():  # a cancelled waiter (its client went away) gives up its turn
                f.set_result(None)
                break
        if waiters and self._loop is not None:
            self._loop.call_soon(self._release)
        else:
            self._scheduled = False
