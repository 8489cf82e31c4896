"""Byte-identical output across processes (hash randomisation must not leak into file contents)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _render(out: Path, seed: str) -> dict[str, bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": seed, "NO_COLOR": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "llmops_cli", "render", "--all", "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_two_processes_with_different_hash_seeds_write_identical_trees(tmp_path):
    a = _render(tmp_path / "a", "1")
    b = _render(tmp_path / "b", "4242")
    assert a == b
    assert len(a) > 50
