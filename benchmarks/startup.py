"""Startup time of the CLI: median wall time of `llmops --help`, `llmops --version`, a group's `--help` and
`python -c pass`.

Run: python benchmarks/startup.py [--runs N]. Prints the figures side by side in one run; the baseline is
the bare interpreter. Goal: `llmops --help` well under 150 ms on a 2-core machine. The root's help and version
answer without importing Typer (``llmops_cli/cli/roothelp.py``); `llmops config --help` shows what a command
that goes through Typer pays to start.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def llmops_argv() -> list[str]:
    exe = shutil.which("llmops")
    return [exe] if exe else [sys.executable, "-m", "llmops_cli"]


def median_ms(argv: list[str], runs: int, env: dict[str, str]) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9) - 1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=21)
    args = ap.parse_args()
    env = dict(os.environ, NO_COLOR="1", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    # An installed CLI runs from compiled .pyc files (pip writes them); let the warm-up run write ours too.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cli = llmops_argv()
    cases = [
        ("python -c pass (baseline)", [sys.executable, "-c", "pass"]),
        ("llmops --version", [*cli, "--version"]),
        ("llmops --help", [*cli, "--help"]),
        ("llmops config --help (Typer)", [*cli, "config", "--help"]),
    ]
    for _, argv in cases:  # warm the page cache and .pyc files
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    print(f"{'command':<28} {'median ms':>10} {'p90 ms':>8}   ({args.runs} runs, {' '.join(cli)})")
    for name, argv in cases:
        med, p90 = median_ms(argv, args.runs, env)
        print(f"{name:<28} {med:>10.1f} {p90:>8.1f}")


if __name__ == "__main__":
    main()
