"""The state file that lets a failed `up` continue where it stopped, and remembers what `up` did.

One JSON file per cluster under ``$XDG_STATE_HOME/llmops/clusters/``: finished steps with the fingerprint
they finished with, the step that failed last, flags carried between steps (a pending k3s restart), the
choices `up` rendered the tree with (``choices``: environment, GPU decision; `sync` renders with the same), and
the ledger of what `up` changed on the host (``host``: files, packages, an install of k3s, backups), which
`down` reports and `down --purge` undoes. Written atomically after every step, so a crash or Ctrl-C loses at
most the step in flight.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops_cli.fsutil import atomic_write

STATE_VERSION = 1


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME", str(Path.home()))) / ".local" / "state")
    return Path(base) / "llmops" / "clusters"


@dataclass
class State:
    path: Path | None
    done: dict[str, str] = field(default_factory=dict)
    flags: dict[str, Any] = field(default_factory=dict)
    failed: str | None = None

    @classmethod
    def load(cls, cluster: str, environ: Mapping[str, str] | None = None) -> State:
        return cls.from_path(state_dir(environ) / f"{cluster}.json")

    @classmethod
    def from_path(cls, path: Path) -> State:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError):
            # A corrupt state file only costs re-checking every step; never block `up` on it.
            return cls(path)
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            return cls(path)
        return cls(
            path,
            done={str(k): str(v) for k, v in (data.get("done") or {}).items()},
            flags=dict(data.get("flags") or {}),
            failed=data.get("failed"),
        )

    @classmethod
    def memory(cls) -> State:
        """A state that is never written (dry runs, tests)."""
        return cls(None)

    def is_done(self, step_id: str, fingerprint: str) -> bool:
        return self.done.get(step_id) == fingerprint

    def mark_done(self, step_id: str, fingerprint: str) -> None:
        self.done[step_id] = fingerprint
        if self.failed == step_id:
            self.failed = None
        self.save()

    def mark_failed(self, step_id: str) -> None:
        self.failed = step_id
        self.save()

    def set_flag(self, key: str, value: Any) -> None:
        self.flags[key] = value
        self.save()

    def save(self) -> None:
        if self.path is None:
            return
        data = {
            "version": STATE_VERSION,
            "done": self.done,
            "flags": self.flags,
            "failed": self.failed,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        atomic_write(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n", mode=0o600)

    # ---------------------------------------------------------------- choices and the host ledger
    def remember_choices(self, **choices: Any) -> None:
        self.set_flag("choices", dict(choices))

    @property
    def choices(self) -> dict[str, Any]:
        return dict(self.flags.get("choices") or {})

    @property
    def host(self) -> dict[str, Any]:
        """What `up` changed on the host (see the module docstring)."""
        return dict(self.flags.get("host") or {})

    def record_host(self, key: str, value: Any) -> None:
        ledger = self.host
        if value is None:
            ledger.pop(key, None)
        else:
            ledger[key] = value
        self.set_flag("host", ledger)

    def clear_run(self) -> None:
        """Forget the steps, choices and flags of the last runs; keep the host ledger (for `down --purge`)."""
        host = self.host
        self.done.clear()
        self.flags.clear()
        self.failed = None
        if host:
            self.flags["host"] = host
            self.save()
        elif self.path is not None:
            self.path.unlink(missing_ok=True)

    def clear(self) -> None:
        self.done.clear()
        self.flags.clear()
        self.failed = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)
