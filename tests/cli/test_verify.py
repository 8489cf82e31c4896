from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

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
    assert set(checks) == {"config", "governance policies", "gateway policy", "rendered tree", "cluster"}
    assert all(c["status"] == "ok" for n, c in checks.items() if n != "cluster"), checks
    # No kubeconfig context llmops-llmops: the live checks are reported as skipped, with what to do.
    assert checks["cluster"]["status"] == "skip" and "llmops up" in checks["cluster"]["hint"]


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


OFFLINE = {"config", "governance policies", "gateway policy", "rendered tree"}


def test_offline_runs_only_the_offline_checks(workdir: Path) -> None:
    _project(workdir)
    r = run_cli("verify", "--offline", "-o", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)["data"]
    assert {c["name"] for c in data["checks"]} == OFFLINE and data["mode"] == "offline"
    assert all(isinstance(c["seconds"], float) for c in data["checks"])


CLOSED = "127.0.0.1:9"  # nothing listens there: a check that contacted it would fail


def test_a_disabled_stack_is_reported_as_skipped_and_not_contacted(workdir: Path) -> None:
    (workdir / "llmops.yaml").write_text(
        "version: 1\nstacks:\n  pgvector:\n    enabled: false\n  observability:\n    enabled: false\n"
    )
    r = run_cli(
        "verify", "--live-only", "-o", "json", "--timeout", "2",
        "--pg-dsn", f"postgresql://llmops:pw@{CLOSED}/llmops", "--prometheus-url", f"http://{CLOSED}",
        "--grafana-url", f"http://{CLOSED}", "--loki-url", f"http://{CLOSED}",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    checks = {c["name"]: c for c in json.loads(r.stdout)["data"]["checks"]}
    assert set(checks) == {"expected state", "pgvector", "prometheus", "grafana", "loki"}, checks
    assert {n: c["status"] for n, c in checks.items() if n != "expected state"} == dict.fromkeys(
        ["pgvector", "prometheus", "grafana", "loki"], "skip"
    )
    assert checks["pgvector"]["detail"] == "disabled (stacks.pgvector.enabled is false)"
    # Grafana and Loki are off because the whole stack is: the detail names that key, not theirs.
    for name in ("prometheus", "grafana", "loki"):
        assert checks[name]["detail"] == "disabled (stacks.observability.enabled is false)", checks[name]


def test_only_the_disabled_part_of_a_stack_is_skipped(workdir: Path) -> None:
    (workdir / "llmops.yaml").write_text("version: 1\nstacks:\n  observability:\n    grafana: false\n")
    r = run_cli(
        "verify", "--live-only", "-o", "json", "--timeout", "2",
        "--grafana-url", f"http://{CLOSED}", "--loki-url", f"http://{CLOSED}",
    )  # fmt: skip
    checks = {c["name"]: c for c in json.loads(r.stdout)["data"]["checks"]}
    assert checks["grafana"]["status"] == "skip"
    assert checks["grafana"]["detail"] == "disabled (stacks.observability.grafana is false)"
    # Loki is enabled, so it is checked, and nothing answers at its URL.
    assert checks["loki gateway logs"]["status"] == "fail" and r.exit_code == 1


@pytest.mark.parametrize(
    "args",
    [
        ["--offline", "--live-only"],
        ["--offline", "--gateway-url", "http://127.0.0.1:9"],
        ["--offline", "--context", "llmops-prod"],
        ["--context", "llmops-prod", "--vllm-url", "http://127.0.0.1:9"],
    ],
)
def test_contradicting_flags_are_usage_errors(workdir: Path, args: list[str]) -> None:
    r = run_cli("verify", *args)
    assert r.exit_code == 2, r.output
    assert len([line for line in r.stderr.splitlines() if line.startswith("error:")]) == 1


class _Captured:
    options: Any = None


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> _Captured:
    """run_verify replaced by one that records its options and reports one failing live check."""
    import llmops_cli.verify as core
    from llmops_cli.verify.model import CheckResult

    cap = _Captured()

    def fake(loaded: Any, options: Any, *, environ: Any, kube_factory: Any = None, on_result: Any = None) -> Any:
        cap.options = options
        r = CheckResult("pgvector extension", "fail", "not installed", "CREATE EXTENSION vector", "pgvector", 0.012)
        if on_result is not None:
            on_result(r)
        return core.Report("endpoints", "dev", [r])

    monkeypatch.setattr(core, "run_verify", fake)
    return cap


def test_every_endpoint_flag_reaches_the_core(workdir: Path, captured: _Captured) -> None:
    r = run_cli(
        "verify",
        "--env",
        "prod",
        "--live-only",
        "--gateway-url",
        "http://gw",
        "--gateway-metrics-url",
        "http://gw:9090/metrics",
        "--api-key",
        "k1",
        "--vllm-url",
        "http://vllm",
        "--pg-dsn",
        "postgresql://u:p@db/x",
        "--prometheus-url",
        "http://prom",
        "--grafana-url",
        "http://a:b@graf",
        "--loki-url",
        "http://loki",
        "--timeout",
        "3",
    )
    assert r.exit_code == 1, r.output
    o = captured.options
    assert o.envs == ("prod",) and o.live_only and not o.offline and o.timeout == 3
    e = o.endpoints
    assert (e.gateway_url, e.gateway_metrics_url, e.api_key) == ("http://gw", "http://gw:9090/metrics", "k1")
    assert (e.vllm_url, e.pg_dsn, e.prometheus_url) == ("http://vllm", "postgresql://u:p@db/x", "http://prom")
    assert (e.grafana_url, e.loki_url) == ("http://a:b@graf", "http://loki")
    # Text: the check, its time, its hint, and the summary line.
    assert "✗ pgvector extension" in r.stderr and "0.01s" in r.stderr
    assert "hint: CREATE EXTENSION vector" in r.stderr
    assert "0 passed, 1 failed, 0 skipped, 0 warnings" in r.stderr


def test_secrets_come_from_the_environment(workdir: Path, captured: _Captured, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMOPS_API_KEY", "from-env")
    monkeypatch.setenv("LLMOPS_PG_DSN", "postgresql://u:secret@db/x")
    monkeypatch.setenv("LLMOPS_GRAFANA_URL", "http://admin:pw@graf")
    r = run_cli("verify", "-o", "json")
    assert r.exit_code == 1
    e = captured.options.endpoints
    assert (e.api_key, e.pg_dsn, e.grafana_url) == ("from-env", "postgresql://u:secret@db/x", "http://admin:pw@graf")
    assert json.loads(r.stdout)["status"] == "fail"
    assert "secret" not in r.stdout + r.stderr


def test_the_context_flag_reaches_the_core(workdir: Path, captured: _Captured) -> None:
    r = run_cli("verify", "--live-only", "--context", "llmops-prod")
    assert r.exit_code == 1, r.output
    assert captured.options.context == "llmops-prod" and captured.options.live_only


def test_a_context_the_kubeconfig_lacks_is_bad_input_naming_those_it_has(workdir: Path) -> None:
    """Exit 2 before any check runs, with the contexts kubectl would offer."""
    import os

    from llmops_cli.adapters import kubeconfig as kc

    _project(workdir)
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [
            {"name": "work", "context": {"cluster": "c", "user": "u"}},
            {"name": "llmops-staging", "context": {"cluster": "c", "user": "u"}},
        ],
        "current-context": "work",
    }
    path = Path(os.environ["KUBECONFIG"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(kc.dump(cfg))
    r = run_cli("verify", "--context", "llmops-prod", "-o", "json")
    assert r.exit_code == 2, r.output
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "llmops-prod" in errors[0]
    assert "work, llmops-staging" in r.stderr
    assert json.loads(r.stdout)["data"] is None  # no check ran
