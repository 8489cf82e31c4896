"""JSON-lines audit log (a file, or stdout for Loki): one line per request.

Prompts and completions are stored as SHA-256 hashes by default; ``audit.store_text: true`` in the policy
stores the redacted text instead (what left the gateway, never the original).
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from typing import IO, Any

import orjson


def text_hash(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class AuditLog:
    def __init__(self, target: str | None = None) -> None:
        """``target``: a file path, ``-`` for stdout, or None/empty to disable."""
        self._lock = threading.Lock()
        self._fh: IO[bytes] | None
        self._own = False
        if not target:
            self._fh = None
        elif target == "-":
            self._fh = sys.stdout.buffer
        else:
            self._fh = open(target, "ab", buffering=0)  # noqa: SIM115 - kept open for the process lifetime
            self._own = True

    @property
    def enabled(self) -> bool:
        return self._fh is not None

    def write(self, record: dict[str, Any]) -> None:
        if self._fh is None:
            return
        record.setdefault("time", time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z")
        line = orjson.dumps(record) + b"\n"
        with self._lock:
            self._fh.write(line)
            if not self._own:
                self._fh.flush()

    def close(self) -> None:
        if self._own and self._fh is not None:
            self._fh.close()
        self._fh = None
