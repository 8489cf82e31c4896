"""How core code reports progress without knowing about terminals.

The CLI implements :class:`Reporter` with rich; tests use :class:`RecordingReporter`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Status = Literal["ok", "skip", "warn", "fail", "running", "pending", "changed"]
CheckStatus = Literal["ok", "warn", "fail", "skip"]


@dataclass(frozen=True)
class CheckResult:
    """One check's result, for `doctor` (host checks) and `verify` (config, tree, live platform) alike: ``detail``
    says what was found, ``hint`` what to do about it (empty when nothing), ``component`` what was checked and
    ``seconds`` how long it took."""

    name: str
    status: str  # ok | warn | fail | skip (CheckStatus)
    detail: str
    hint: str = ""
    component: str = "host"
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "component": self.component,
            "status": self.status,
            "detail": self.detail,
            "hint": self.hint or None,
            "seconds": round(self.seconds, 3),
        }


class Reporter(Protocol):
    def phase(self, name: str) -> None:
        """A new phase starts (e.g. 'k3s', 'Argo CD'); the previous one ends."""

    def step(self, description: str, status: Status, detail: str = "") -> None:
        """A step finished (or was skipped) with a status."""

    def progress(self, key: str, text: str) -> None:
        """Update a live line identified by ``key`` (e.g. one per Argo CD Application)."""

    def info(self, message: str) -> None: ...

    def warn(self, message: str) -> None: ...


class NullReporter:
    def phase(self, name: str) -> None:
        pass

    def step(self, description: str, status: Status, detail: str = "") -> None:
        pass

    def progress(self, key: str, text: str) -> None:
        pass

    def info(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass


@dataclass
class RecordingReporter:
    """Keeps every event, for tests."""

    events: list[tuple[str, ...]] = field(default_factory=list)

    def phase(self, name: str) -> None:
        self.events.append(("phase", name))

    def step(self, description: str, status: Status, detail: str = "") -> None:
        self.events.append(("step", description, status, detail))

    def progress(self, key: str, text: str) -> None:
        self.events.append(("progress", key, text))

    def info(self, message: str) -> None:
        self.events.append(("info", message))

    def warn(self, message: str) -> None:
        self.events.append(("warn", message))
