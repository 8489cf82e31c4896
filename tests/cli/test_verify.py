from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.helpers import run_cli

ROOT = Path(__file__).parents[2]


def _project(workdir: Path) -> Path:
    assert run_cli("init", "--yes").exit_code == 0
    assert run_cli("render").exit_code == 0
    return workdir


def test_verify_passes_on_a_fresh_rendered_project(workdir: Path) -> None:
    _project(workdir)
    r = run_cli("verify", "-o", "json")
    assert r.exit_code == 0, r.output
    checks = {c["name"]: c for c in json.loads(r.stdout)["data"]["checks"]}
    assert set(checks) == {"config", "governance policies", "gateway policy", "rendered tree"}
    assert all(c["status"] == "ok" for c in checks.values()), checks


def test_verify_fails_on_drift_and_names_it(workdir: Path) -> None:
    _project(workdir)
    victim = next((workdir / "manifests" / "dev").rglob("*.yaml"))
    victim.write_text(victim.read_text() + "# edited by hand\n")
    r = run_cli("verify")
    assert r.exit_code == 1
    assert "rendered tree" in r.stderr and "stale" in r.stderr
    assert victim.name in r.stderr


def test_verify_reports_every_broken_policy_without_stopping(workdir: Path) -> None:
    _project(workdir)
    (workdir / "policies" / "governance.yaml").write_text(
        "rules:\n  - id: x\n    stage: bias\n    expr: 'bias.nope > 1'\n"
    )
    (workdir / "policies" / "gateway.yaml").write_text("version: 1\nbogus_key: 1\n")
    r = run_cli("verify", "-o", "json")
    assert r.exit_code == 1
    checks = {c["name"]: c for c in json.loads(r.stdout)["data"]["checks"]}
    assert checks["governance policies"]["status"] == "fail"
    assert "governance.yaml:" in checks["governance policies"]["detail"]
    assert checks["gateway policy"]["status"] == "fail"
    assert "gateway.yaml:" in checks["gateway policy"]["detail"]
    assert checks["rendered tree"]["status"] in ("ok", "fail")


def test_verify_without_rendered_tree_warns(workdir: Path) -> None:
    assert run_cli("init", "--yes").exit_code == 0
    r = run_cli("verify")
    assert r.exit_code == 0, r.output
    assert "llmops render" in r.stderr


def test_verify_unknown_env_is_usage_error(workdir: Path) -> None:
    r = run_cli("verify", "--env", "nope")
    assert r.exit_code == 2
    assert "dev, prod" in r.stderr


def test_repository_itself_verifies(tmp_path: Path) -> None:
    # The repo's own manifests/ and policies/ are what `llmops verify` expects from built-in defaults.
    shutil.copytree(ROOT / "manifests", tmp_path / "manifests")
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    (tmp_path / "llmops.yaml").write_text("version: 1\n")
    r = run_cli("-c", str(tmp_path / "llmops.yaml"), "verify")
    assert r.exit_code == 0, r.output
