"""`llmops gateway serve` refuses settings it cannot serve with before any socket opens: one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli

from .conftest import SHIPPED, policy_with


@pytest.mark.parametrize("where", ["missing-dir/audit.jsonl", "."])
def test_unwritable_audit_log_is_a_usage_error_naming_the_path(tmp_path: Path, where: str) -> None:
    target = tmp_path / where
    r = run_cli(
        "gateway",
        "serve",
        "--policies",
        str(SHIPPED),
        "--audit-log",
        str(target),
        "--upstream",
        "http://127.0.0.1:9",
        "--port",
        "0",
    )
    assert r.exit_code == 2, r.output
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(target) in errors[0], r.stderr
    assert "--audit-log" in errors[0] and "Traceback" not in r.output


def test_blocked_pattern_the_matcher_cannot_compile_stops_serve_with_file_and_line(tmp_path: Path) -> None:
    policy = tmp_path / "gateway.yaml"
    bad = {"id": "bad", "pattern": "a(?i)b", "regex": True}  # a global flag not at the start: re refuses it
    ok = {"id": "ok", "pattern": "(?i)project falcon", "regex": True}
    policy.write_text(policy_with({"content.blocked_patterns": [ok, bad]}, validate=False))
    r = run_cli("gateway", "serve", "--policies", str(policy), "--upstream", "http://127.0.0.1:9", "--port", "0")
    assert r.exit_code == 2, r.output
    line = policy.read_text().splitlines().index("    pattern: a(?i)b") + 1
    assert f"{policy}:{line}:" in r.stderr and "content.blocked_patterns.1.pattern" in r.stderr
