"""JSON-lines audit log (a file, or stdout for Loki): one line per request.

Prompts and completions are stored as keyed hashes (HMAC-SHA256) by default: a bare SHA-256 of a short or
guessable prompt can be reversed by hashing candidates, a keyed one only by whoever holds the key. The key
comes from ``PAC_AUDIT_HMAC_KEY_FILE`` (a mounted Secret: hashes compare across restarts and replicas), or is
drawn at random when the gateway starts (hashes compare within that run). Each record names the key by a
fingerprint (``hmac_key``). ``audit.store_text: true`` in the policy stores the redacted text instead (what left
the gateway, never the original).

The file is created 0600 and opened for appending; ``reopen`` (on SIGHUP) opens it again, for log rotation.
A write that fails (a full disk, a closed pipe) is counted (``on_error``) and logged once per failure run, and
the log is *failing* until a write succeeds again: while it is, the gateway refuses requests (``audit.on_failure:
refuse``, the default) rather than serve them unrecorded, and tries a write at most once a second.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import orjson

log = logging.getLogger("llmops.gateway")

HMAC_KEY_ENV = "PAC_AUDIT_HMAC_KEY"  # set by `serve` for its workers only
HMAC_KEY_FILE_ENV = "PAC_AUDIT_HMAC_KEY_FILE"
RETRY_S = 1.0  # while failing, at most one write is tried per this many seconds


def hmac_key(environ: dict[str, str] | os._Environ[str] | None = None) -> bytes:
    """The audit hash key: the file ``PAC_AUDIT_HMAC_KEY_FILE`` names, else ``PAC_AUDIT_HMAC_KEY`` (hex, from the
    serving process), else a random one. ValueError naming the file when it cannot be read or is too short."""
    env = os.environ if environ is None else environ
    path = env.get(HMAC_KEY_FILE_ENV)
    if path:
        try:
            key = Path(path).read_bytes().strip()
        except OSError as e:
            raise ValueError(f"cannot read the audit hash key file {path}: {e.strerror or e}") from e
        if len(key) < 16:
            raise ValueError(f"the audit hash key in {path} is shorter than 16 bytes")
        return key
    given = env.get(HMAC_KEY_ENV)
    if given:
        return bytes.fromhex(given)
    return secrets.token_bytes(32)


class AuditLog:
    def __init__(
        self, target: str | None = None, *, key: bytes | None = None, on_error: Callable[[], None] | None = None
    ) -> None:
        """``target``: a file path, ``-`` for stdout, or None/empty to disable. ``key``: the HMAC key (random
        when None). ``on_error``: called for each write that fails."""
        self.target = target or None
        self._lock = threading.Lock()
        self._own = False
        self._fh: IO[bytes] | _TextOut | None = None
        self.on_error = on_error
        self.failing = False
        self._last_try = 0.0
        self._partial = False  # a failed write may have left part of a line: the next one starts afresh
        self._key = key if key is not None else secrets.token_bytes(32)
        self.key_id = hashlib.sha256(self._key).hexdigest()[:12]
        if self.target == "-":
            self._fh = getattr(sys.stdout, "buffer", None) or _TextOut(sys.stdout)
        elif self.target:
            self._fh = _open(self.target)
            self._own = True

    @property
    def enabled(self) -> bool:
        return self.target is not None

    def digest(self, text: str) -> str:
        """The keyed hash of ``text`` stored in place of a prompt or completion."""
        mac = hmac.new(self._key, text.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return "hmac-sha256:" + mac.hexdigest()

    def write(self, record: dict[str, Any]) -> bool:
        """Append one record; False when it was not written (the log is failing, or this write failed)."""
        if self.target is None:
            return True
        now = time.monotonic()
        if self.failing and now - self._last_try < RETRY_S:
            return False
        record.setdefault("time", time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z")
        line = orjson.dumps(record) + b"\n"
        with self._lock:
            self._last_try = now
            try:
                if self._fh is None:  # a reopen that failed: try again
                    self._fh = _open(self.target)
                if self._partial:
                    line = b"\n" + line
                _write_all(self._fh, line)
                if not self._own:
                    self._fh.flush()
            except (OSError, ValueError) as e:  # ValueError: a closed file
                self._partial = True
                self._failed(e)
                return False
            self._partial = False
            if self.failing:
                self.failing = False
                log.warning("audit log %s is writable again", self.target)
        return True

    def _failed(self, e: Exception) -> None:
        if self.on_error is not None:
            self.on_error()
        if not self.failing:
            self.failing = True
            reason = getattr(e, "strerror", None) or str(e)
            log.error(
                "cannot write the audit log %s: %s; requests are refused until it is writable", self.target, reason
            )

    def reopen(self) -> bool:
        """Open the file again (after rotation; on SIGHUP). True when it is open; stdout needs no reopening."""
        if not self._own or self.target is None:
            return True
        with self._lock:
            old, self._fh = self._fh, None
            if old is not None:
                try:
                    old.close()
                except OSError:
                    pass
            try:
                self._fh = _open(self.target)
            except OSError as e:
                self._failed(e)
                return False
            self._partial = False
            self._last_try = 0.0  # a new file: the next record tells at once whether it takes writes
            if self.failing:
                self.failing = False
                log.warning("audit log %s reopened", self.target)
        return True

    def close(self) -> None:
        if self._own and self._fh is not None:
            try:
                self._fh.close()
            except OSError:
                pass
        self._fh = None
        self.target = None


class _TextOut:
    """A text stream (stdout replaced by one without a byte buffer) that takes the log's bytes."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, data: bytes | memoryview) -> int:
        self.stream.write(bytes(data).decode("utf-8"))
        return len(data)

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        pass


def _open(path: str) -> IO[bytes]:
    """Open ``path`` for appending, created 0600 (an existing file keeps its mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    return os.fdopen(fd, "ab", buffering=0)


def _write_all(fh: IO[bytes] | _TextOut, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = fh.write(view)
        if n is None:  # a non-blocking stream that took nothing
            raise OSError("the audit stream would block")
        view = view[n:]
