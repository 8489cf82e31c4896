"""`llmops gateway serve|keys`: wiring of flags and env to the core, and error handling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.gateway.conftest import SHIPPED
from tests.helpers import fake_llmops_checkout, run_cli


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    p = tmp_path / "gateway.yaml"
    p.write_text(SHIPPED.read_text())
    return p


def test_keys_create_prints_key_once_and_stores_hash(policy: Path) -> None:
    r = run_cli("gateway", "keys", "create", "team-a", "--models", "llama-*, qwen", "--policies", str(policy))
    assert r.exit_code == 0, r.output
    key = r.stdout.strip()
    assert key.startswith("llmops-") and key not in policy.read_text()
    assert "created key team-a" in r.stderr
    r = run_cli("gateway", "keys", "list", "--policies", str(policy), "-o", "json")
    data = json.loads(r.stdout)["data"]
    assert data == [
        {
            "id": "team-a",
            "name": "team-a",
            "models": ["llama-*", "qwen"],
            "created": data[0]["created"],
            "revoked": False,
        }
    ]
    assert key not in r.stdout
    r = run_cli("gateway", "keys", "revoke", "team-a", "--policies", str(policy))
    assert r.exit_code == 0, r.output
    r = run_cli("gateway", "keys", "list", "--policies", str(policy))
    assert "revoked" in r.stdout


def test_keys_create_json(policy: Path) -> None:
    r = run_cli("gateway", "keys", "create", "svc", "--policies", str(policy), "-o", "json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["data"]["key"].startswith("llmops-")


def test_policy_file_from_env(policy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAC_POLICY_FILE", str(policy))
    assert run_cli("gateway", "keys", "create", "env-key").exit_code == 0
    assert "env-key" in policy.read_text()


def test_keys_create_without_a_policy_file_says_what_to_do(workdir: Path) -> None:
    r = run_cli("gateway", "keys", "create", "x")
    assert r.exit_code == 2
    assert "policy file not found" in r.stderr and "--policies" in r.stderr


@pytest.mark.parametrize("how", ["cwd", "flag", "env"])
def test_keys_are_never_written_into_the_policy_llmops_ships(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """In a clone of llmops (no llmops.yaml: the tracked policies/gateway.yaml is the default), `keys create` wrote
    the key hash into the policy that ships in the wheel. However the file is named, it is refused untouched."""
    clone = fake_llmops_checkout(tmp_path / "clone")
    tracked = clone / "policies" / "gateway.yaml"
    before = tracked.read_bytes()
    monkeypatch.chdir(clone)
    args = {"cwd": [], "flag": ["--policies", "policies/gateway.yaml"], "env": []}[how]
    if how == "env":
        monkeypatch.setenv("PAC_POLICY_FILE", str(tracked))
    for argv in (["create", "demo", *args], ["revoke", "demo", *args]):
        r = run_cli("gateway", "keys", *argv)
        assert r.exit_code == 2, r.output
        assert "ships with llmops" in r.stderr and "llmops init --dir" in r.stderr
    assert tracked.read_bytes() == before


def test_revoking_a_revoked_key_says_so_and_changes_nothing(policy: Path) -> None:
    assert run_cli("gateway", "keys", "create", "team-a", "--policies", str(policy)).exit_code == 0
    r = run_cli("gateway", "keys", "revoke", "team-a", "--policies", str(policy))
    assert r.exit_code == 0 and "revoked key team-a" in r.stderr
    before = policy.read_bytes()
    r = run_cli("gateway", "keys", "revoke", "team-a", "--policies", str(policy))
    assert r.exit_code == 0, r.output
    assert "key team-a is already revoked; nothing changed" in r.stderr and "reload" not in r.stderr
    assert policy.read_bytes() == before
    r = run_cli("gateway", "keys", "revoke", "team-a", "--policies", str(policy), "-o", "json")
    assert json.loads(r.stdout)["data"] == {"id": "team-a", "revoked": True, "already_revoked": True}


def test_revoke_unknown_is_exit_2(policy: Path) -> None:
    r = run_cli("gateway", "keys", "revoke", "nope", "--policies", str(policy))
    assert r.exit_code == 2 and "no key with id 'nope'" in r.stderr


class _Prepared:
    """What ``serve.prepare`` returns, without sockets: the wiring tests bind nothing."""

    address = "127.0.0.1:1"
    metrics_address = None


def _capture(monkeypatch: pytest.MonkeyPatch, seen: dict[str, Any]) -> None:
    import llmops_cli.gateway.serve as core

    monkeypatch.setattr(core, "prepare", lambda s: seen.setdefault("s", s) and _Prepared())
    monkeypatch.setattr(core, "run", lambda p: None)


def test_serve_flags_override_env(policy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    _capture(monkeypatch, seen)
    monkeypatch.setenv("PAC_UPSTREAM_URL", "http://from-env:8000")
    monkeypatch.setenv("PAC_LLM_PROVIDER", "http")
    monkeypatch.setenv("PAC_PORT", "9999")
    r = run_cli(
        "gateway",
        "serve",
        "--policies",
        str(policy),
        "--host",
        "0.0.0.0",
        "--workers",
        "2",
        "--upstream",
        "http://flag:8000/v1",
        "--audit-log",
        "/tmp/a.jsonl",
    )
    assert r.exit_code == 0, r.output
    s = seen["s"]
    assert (s.upstream_url, s.host, s.port, s.workers, s.policy_file, s.provider, s.audit_log) == (
        "http://flag:8000/v1",
        "0.0.0.0",
        9999,
        2,
        str(policy),
        "http",
        "/tmp/a.jsonl",
    )


def test_serve_defaults_to_the_shipped_policy(monkeypatch: pytest.MonkeyPatch, workdir: Path) -> None:
    seen: dict[str, Any] = {}
    _capture(monkeypatch, seen)
    assert run_cli("gateway", "serve").exit_code == 0
    assert Path(seen["s"].policy_file).name == "gateway.yaml" and Path(seen["s"].policy_file).is_file()
    assert seen["s"].port == 8080


def test_serve_bad_policy_is_one_line_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "g.yaml"
    bad.write_text("version: 1\nlimits:\n  max_messages: lots\n")
    r = run_cli("gateway", "serve", "--policies", str(bad))
    assert r.exit_code == 2
    assert f"{bad}:3:17: limits.max_messages" in r.stderr
    assert "Traceback" not in r.output


def test_serve_litellm_not_installed_is_clear(policy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "litellm", None)  # import fails
    r = run_cli("gateway", "serve", "--policies", str(policy), "--provider", "litellm")
    assert r.exit_code == 1
    assert "`litellm` is not installed" in r.stderr and "PAC_LLM_PROVIDER=http" in r.stderr


def test_serve_bad_env_value(policy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAC_LLM_PROVIDER", "bedrock")
    r = run_cli("gateway", "serve", "--policies", str(policy))
    assert r.exit_code == 2 and "PAC_LLM_PROVIDER" in r.stderr


def test_help_lists_commands() -> None:
    r = run_cli("gateway", "--help")
    assert r.exit_code == 0
    for cmd in ("serve", "keys"):
        assert cmd in r.stdout


def test_a_bad_redis_url_is_exit_2_without_echoing_it(policy: Path) -> None:
    r = run_cli("gateway", "serve", "--policies", str(policy), "--redis-url", "redis://:hunter2@cache/zero")
    assert r.exit_code == 2
    assert "--redis-url" in r.stderr and "PAC_REDIS_URL" not in r.stderr and "database must be a number" in r.stderr
    assert "hunter2" not in r.output and "Traceback" not in r.output


def test_an_unreadable_redis_password_file_is_exit_2_before_serving(
    policy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAC_REDIS_PASSWORD_FILE", str(tmp_path / "missing"))
    r = run_cli("gateway", "serve", "--policies", str(policy), "--redis-url", "redis://127.0.0.1:1/0")
    assert r.exit_code == 2
    assert "cannot read the Redis password file" in r.stderr and str(tmp_path / "missing") in r.stderr


def test_redis_password_sources(tmp_path: Path) -> None:
    from llmops_cli.gateway.settings import redis_password

    f = tmp_path / "password"
    f.write_text("from-file\n")
    assert redis_password({"PAC_REDIS_PASSWORD_FILE": str(f), "PAC_REDIS_PASSWORD": "plain"}) == "from-file"
    assert redis_password({"PAC_REDIS_PASSWORD": "plain"}) == "plain"
    assert redis_password({}) is None
