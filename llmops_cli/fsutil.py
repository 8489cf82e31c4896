"""Atomic file writes: a reader (or a crash) never sees a half-written file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: str | os.PathLike[str], data: str | bytes, *, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same directory, fsync, chmod, rename.

    The file gets ``mode`` before it becomes visible, so secrets (0600) are never world-readable, not even
    for an instant. Parent directories are created. When ``path`` is a symlink the link is kept and its
    target is replaced (temp file in the target's directory), like a plain ``open(path, "w")`` would, so
    whoever resolved the link (a running gateway, kubectl) sees the new content. A file that is replaced
    keeps its owner and group where the caller may set them (root editing a service's file), so the service
    can still read it. Returns ``path``.
    """
    given = Path(path)
    given.parent.mkdir(parents=True, exist_ok=True)
    # realpath follows every link (also in parent directories) and, unlike resolve(strict=True), also
    # resolves a dangling link to the file it names, which is then created.
    target = Path(os.path.realpath(given))
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        _keep_owner(fd, target)  # before fchmod: a chown may clear set-id bits
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return given


def _keep_owner(fd: int, target: Path) -> None:
    try:
        st = os.stat(target)
    except OSError:
        return  # a new file: the caller's owner, as always
    for uid, gid in ((st.st_uid, st.st_gid), (-1, st.st_gid)):
        try:
            os.fchown(fd, uid, gid)
            return
        except OSError:
            continue  # not root (or not in that group): keep what the temp file got
