"""External tools the render proofs and the gateway's shared-limit tests need (promtool, checkov, redis-server).

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
OVERRIDES = {name: os.environ.get(f"{name.upper()}_BIN") for name in ("promtool", "checkov")}
ROOT = Path(__file__).resolve().parents[2]

CANDIDATES: dict[str, list[str]] = {
    "promtool": ["promtool", "/usr/bin/promtool"],
    # `nox -s tests` builds checkov's own venv here and also passes CHECKOV_BIN.
    "checkov": ["checkov", str(ROOT / ".nox" / "_checkov" / "bin" / "checkov")],
    "redis-server": ["redis-server", "/usr/bin/redis-server"],
}
HINTS = {
    "promtool": "apt-get install -y --no-install-recommends prometheus",
    "redis-server": "apt-get install -y --no-install-recommends redis-server",
    "checkov": "run the tests through `nox -s tests` (it builds checkov's venv), or set CHECKOV_BIN=/path/to/checkov",
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
