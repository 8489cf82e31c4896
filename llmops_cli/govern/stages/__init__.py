"""Governance stages: pure functions from inputs to metrics (JSON-able dicts).

Stages never render reports: ``govern.api`` pairs each stage with its renderer in ``govern.reports``, so the
reports may read the stages' metric names without the two importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ReadFile:
    """A file a stage read beyond its named inputs whose content decides the verdict (a control's evidence,
    the FRIA, an evaluation suite), with the SHA-256 of what the stage read: recorded as a manifest input
    ``<role>:<path>``, so ``govern verify --project`` re-hashes it and the signature covers it."""

    role: str
    path: Path
    sha256: str


@dataclass(frozen=True)
class StageResult:
    """What a stage produced: metrics that policies read, artefacts (file name -> text) and the files it read."""

    name: str
    metrics: dict[str, Any]
    artefacts: dict[str, str] = field(default_factory=dict)
    read: tuple[ReadFile, ...] = ()
