"""Governance stages: pure functions from inputs to metrics (JSON-able dicts).

Stages never render reports: ``govern.api`` pairs each stage with its renderer in ``govern.reports``, so the
reports may read the stages' metric names without the two importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class StageResult:
    """What a stage produced: metrics that policies read, and artefacts (file name -> text)."""

    name: str
    metrics: dict[str, Any]
    artefacts: dict[str, str] = field(default_factory=dict)
