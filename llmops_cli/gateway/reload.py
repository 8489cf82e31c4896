"""Hot policy reload: SIGHUP or a change of the file (ConfigMap symlink swaps included).

Requests read ``holder.current`` once when they start, so a reload never changes the rules under a request in
flight and never drops one. A policy that fails validation is logged and the previous one stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path

from llmops_cli.errors import LlmopsError
from llmops_cli.gateway.policy.engine import CompiledPolicy
from llmops_cli.gateway.policy.loader import load_policy

log = logging.getLogger("llmops.gateway")


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()  # follows symlinks: a ConfigMap update swaps the ..data link
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class PolicyHolder:
    def __init__(self, current: CompiledPolicy, path: str | os.PathLike[str] | None = None) -> None:
        self.current = current
        self.path = Path(path) if path else None
        self._stamp = _stamp(self.path) if self.path else None
        self.last_error: str | None = None

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> PolicyHolder:
        return cls(CompiledPolicy(load_policy(path), str(path)), path)

    def reload(self) -> bool:
        """Load the file again; True when the new policy is in force. Never raises: whatever goes wrong (an
        invalid policy, or a bug) is logged and recorded in ``last_error``, and the previous policy stays."""
        if self.path is None:
            return False
        self._stamp = _stamp(self.path)
        try:
            self.current = CompiledPolicy(load_policy(self.path), str(self.path))
        except LlmopsError as e:
            self.last_error = str(e)
            log.error("policy reload failed, keeping the previous policy (it is read again on SIGHUP or change): %s", e)
            return False
        except Exception as e:  # a reload must never take the gateway (or its watcher) down
            self.last_error = f"{self.path}: unexpected error: {type(e).__name__}: {e}"
            log.exception("policy reload failed unexpectedly, keeping the previous policy")
            return False
        self.last_error = None
        log.info("policy reloaded from %s", self.path)
        return True

    def changed(self) -> bool:
        return self.path is not None and _stamp(self.path) != self._stamp

    def reload_and_report(self, on_reload: object) -> None:
        ok = self.reload()
        if callable(on_reload):
            try:
                on_reload(ok)
            except Exception:
                log.exception("policy reload callback failed")

    async def watch(self, interval: float, on_reload: object = None) -> None:
        """Poll the file every ``interval`` seconds (cheap stat; works on every filesystem). Runs until
        cancelled: no error in a reload ends it."""
        while True:
            await asyncio.sleep(interval)
            try:
                if self.changed():
                    self.reload_and_report(on_reload)
            except Exception:  # keep watching
                log.exception("policy file watch failed; still watching")
                if callable(on_reload):
                    with contextlib.suppress(Exception):
                        on_reload(False)

    def install_sighup(self, on_reload: object = None, also: object = None) -> bool:
        """Reload on SIGHUP, then call ``also`` (main thread only; returns False where signals cannot be
        installed)."""

        def on_sighup() -> None:
            self.reload_and_report(on_reload)
            if callable(also):
                try:
                    also()
                except Exception:
                    log.exception("SIGHUP handler failed")

        try:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGHUP, on_sighup)
        except (RuntimeError, ValueError, NotImplementedError):
            return False
        return True
