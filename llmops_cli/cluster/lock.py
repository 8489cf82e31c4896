"""One `up`, `down` or `sync` at a time per cluster: an exclusive lock in the state directory.

The lock is ``fcntl.flock`` on ``<state dir>/<cluster>.lock`` (released by the kernel when the process ends,
however it ends, so a crashed run never blocks the next one), and the file names the holder: its PID, command
and start time, which the refusal quotes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from llmops_cli.cluster.state import state_dir
from llmops_cli.errors import LlmopsError


class RunLocked(LlmopsError):
    code = "locked"


def lock_path(cluster: str, environ: Mapping[str, str] | None = None) -> Path:
    return state_dir(environ) / f"{cluster}.lock"


@contextlib.contextmanager
def run_lock(cluster: str, command: str, environ: Mapping[str, str] | None = None) -> Iterator[None]:
    path = lock_path(cluster, environ)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _held(path, cluster) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "command": command, "started": time.time()}).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _held(path: Path, cluster: str) -> RunLocked:
    try:
        holder = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        holder = {}
    pid = holder.get("pid")
    what = f"`llmops {holder['command']}`" if holder.get("command") else "another llmops"
    since = f", started {time.time() - holder['started']:.0f}s ago" if isinstance(holder.get("started"), float) else ""
    who = f"{what} (PID {pid}{since})" if pid else what
    return RunLocked(
        f"{who} is changing cluster {cluster}: one up/down/sync at a time",
        hint=f"wait for it to finish{f', or stop it (kill {pid})' if pid else ''}; the lock is {path}",
    )
