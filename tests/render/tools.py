"""External tools the render proofs need (promtool, checkov).

A test that needs one skips only when the tool is absent AND ``CI`` is unset; in CI (CI=true) a missing
tool fails the test, so the proof cannot silently disappear.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Read at import (collection) time: the autouse hermetic fixture removes CI from each test's environment.
IN_CI = bool(os.environ.get("CI"))
OVERRIDES = {name: os.environ.get(f"LLMOPS_{name.upper()}") for name in ("promtool", "checkov")}

CANDIDATES: dict[str, list[str]] = {
    "promtool": ["promtool", "/usr/bin/promtool"],
    "checkov": ["checkov", "/work/checkov-venv/bin/checkov", ".nox/scan/bin/checkov"],
}
HINTS = {
    "promtool": "apt-get install -y --no-install-recommends prometheus",
    "checkov": "python3 -m venv /work/checkov-venv && /work/checkov-venv/bin/pip install checkov "
    "(or set LLMOPS_CHECKOV=/path/to/checkov)",
}


def require_tool(name: str) -> str:
    """Path of ``name``; skip (outside CI) or fail (in CI) when it is missing."""
    override = OVERRIDES.get(name)
    for cand in ([override] if override else []) + CANDIDATES.get(name, [name]):
        found = shutil.which(cand) or (cand if Path(cand).is_file() and os.access(cand, os.X_OK) else None)
        if found:
            return found
    message = f"{name} is not installed: {HINTS.get(name, '')}"
    if IN_CI:
        pytest.fail(message + " (CI is set: this proof must run)")
    pytest.skip(message)
