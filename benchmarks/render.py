"""Render speed: every stack for dev and prod, beside the cost of starting `llmops --version`.

Goal (issue 3): rendering every stack for dev and prod takes under 300 ms (median).

    python benchmarks/render.py [--runs N]

Prints, in one run: the in-process render median (first call included separately: it pays the Jinja2
template compile), the end-to-end `llmops render --check` median as a subprocess, and the baseline
`llmops --version` subprocess median.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GOAL_MS = 300.0


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def in_process(runs: int) -> tuple[float, float, int]:
    from llmops_cli.config.model import Settings
    from llmops_cli.render.api import render_environment

    settings = Settings()
    t0 = time.perf_counter()
    files = sum(len(render_environment(settings, env)) for env in ("dev", "prod"))
    first = _ms(t0)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for env in ("dev", "prod"):
            render_environment(settings, env)
        times.append(_ms(t0))
    return first, statistics.median(times), files


def subprocess_median(argv: list[str], runs: int, cwd: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
        times.append(_ms(t0))
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    first, median, files = in_process(args.runs)
    cli = [sys.executable, "-m", "llmops_cli"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "tree"
        subprocess.run(
            [*cli, "render", "--out", str(out)],
            cwd=tmp,
            capture_output=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        e2e = subprocess_median([*cli, "render", "--out", str(out), "--check"], max(5, args.runs // 3), Path(tmp))
        version = subprocess_median([*cli, "--version"], max(5, args.runs // 3), Path(tmp))
    print(f"{'measure':<52} {'median ms':>10}")
    print(f"{'render dev+prod, every stack (' + str(files) + ' files), in-process':<52} {median:>10.1f}")
    print(f"{'  first call (compiles the templates)':<52} {first:>10.1f}")
    print(f"{'llmops render --check (dev+prod), subprocess':<52} {e2e:>10.1f}")
    print(f"{'baseline: llmops --version, subprocess':<52} {version:>10.1f}")
    print(f"{'render cost over the baseline (e2e - --version)':<52} {e2e - version:>10.1f}")
    verdict = "meets" if median < GOAL_MS else "MISSES"
    print(f"goal: median in-process render < {GOAL_MS:.0f} ms: {verdict}")
    return 0 if median < GOAL_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
