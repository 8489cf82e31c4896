"""Test helpers shared across the suite."""

from __future__ import annotations

import contextlib
import io
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(*args: str, input: str | None = None) -> CliResult:
    """Run ``llmops`` in-process through the real error boundary (``__main__.main``)."""
    from llmops_cli.__main__ import main

    out, err = io.StringIO(), io.StringIO()
    old_in = sys.stdin
    sys.stdin = io.StringIO(input or "")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        sys.stdin = old_in
    return CliResult(code, out.getvalue(), err.getvalue())


def fake_llmops_checkout(root: Path) -> Path:
    """A directory laid out as a clone of llmops itself (pyproject named llmops, the package, the shipped
    policies), as the README's first steps meet it."""
    from llmops_cli.resources import policies_dir

    (root / "llmops_cli").mkdir(parents=True)
    (root / "llmops_cli" / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text('[project]\nname = "llmops"\n')
    (root / "policies").mkdir()
    for f in ("gateway.yaml", "governance.yaml"):
        (root / "policies" / f).write_bytes((policies_dir() / f).read_bytes())
    return root
