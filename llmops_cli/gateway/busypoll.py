"""Opt-in busy polling (``--busy-poll MS``): the event loop polls without sleeping for a while after activity.

Why: a core that goes idle between events is slow to come back, on virtual machines above all (the vCPU halts
and the host runs something else on it; caches are cold when it returns). On the 2-core benchmark VM the request
policy check takes about 30 us back to back and 140 us right after 5 ms idle, and a lightly loaded gateway pays
that on every hop. In three paired runs of ``benchmarks/gateway.py`` there, the time to first token the gateway
added at 100 streams in flight (p50, upstream latency 10 to 100 ms) averaged 0.95 ms with polling off (0.71 to
1.36) and 0.67 ms with ``--busy-poll 25`` (0.26 to 1.05). HAProxy's ``busy-polling`` makes the same trade.

How: while active, one callback re-schedules itself with ``call_soon`` on every turn of the loop, which makes
the loop poll for I/O with a zero timeout instead of sleeping in it. Activity (a request arriving, a read of a
streamed response, an upstream answer) extends the window; once ``window`` seconds pass without any, the
callback stops and the loop sleeps as usual, so an idle gateway costs nothing.

Cost: while active, the worker keeps its core 100 % busy. Use it only where each worker has a whole core
(Kubernetes: a CPU limit of at least 1 per worker, best with the static CPU manager policy; what
``stacks.gateway.busy_poll_ms`` in ``llmops.yaml`` renders). Under a smaller CPU
limit the spinning uses up the quota and the container is throttled, which costs far more than it saves. A
CPU-utilisation autoscaler would read the polling as load and scale out.
"""

from __future__ import annotations

import asyncio


class BusyPoll:
    __slots__ = ("_loop", "_running", "_until", "turns", "window")

    def __init__(self, window: float) -> None:
        if window <= 0:
            raise ValueError("the busy-poll window must be positive")
        self.window = window
        self.turns = 0  # loop turns spent polling (tests and curiosity)
        self._until = 0.0
        self._running = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def running(self) -> bool:
        return self._running

    def poke(self) -> None:
        """Activity now: keep polling for the next ``window`` seconds. Called from the event loop's thread."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        self._until = loop.time() + self.window
        if not self._running:
            self._running = True
            loop.call_soon(self._turn)

    def _turn(self) -> None:
        loop = self._loop
        assert loop is not None
        if loop.time() < self._until:
            self.turns += 1
            loop.call_soon(self._turn)
        else:
            self._running = False

    def stop(self) -> None:
        """Stop polling at the next turn (shutdown)."""
        self._until = 0.0
