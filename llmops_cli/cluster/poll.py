"""The one way `up`, `down` and `sync` wait: poll a probe until it answers, with a deadline and a message.

A probe that cannot reach the API yet (k3s stopped or restarting, its kubeconfig not written yet, a CRD not
installed yet) counts as "not yet", whatever the init system: the wait ends with a :class:`WaitTimeout` that
names what it waited for and what was seen, never with the first connection error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from llmops_cli.errors import ClusterError, LlmopsError, WaitTimeout

T = TypeVar("T")
TRANSIENT_CODES = frozenset({"unreachable", "not_found"})


def transient(error: LlmopsError) -> bool:
    """An error that says "not yet" rather than "never": the API or the object is not there yet."""
    return isinstance(error, ClusterError) and error.code in TRANSIENT_CODES


def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    describe: Callable[[], Iterable[str]] | None = None,
    hint: str = "raise --timeout, or inspect with `llmops status` / kubectl describe",
    interval: float = 2.0,
) -> T:
    """Call ``probe`` until it returns a value (not None) or ``timeout`` seconds pass on ``clock``."""
    deadline = clock() + timeout
    last_error: str | None = None
    while True:
        try:
            value = probe()
        except LlmopsError as e:
            if not transient(e):
                raise
            value, last_error = None, e.message
        if value is not None:
            return value
        if clock() >= deadline:
            lines: list[str] = []
            if describe is not None:
                try:
                    lines = list(describe())
                except LlmopsError as e:
                    lines = [e.message]
            if last_error and last_error not in lines:
                lines.append(f"last answer: {last_error}")
            detail = ("\n  " + "\n  ".join(lines)) if lines else ""
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what}{detail}", hint=hint)
        sleep(interval)
