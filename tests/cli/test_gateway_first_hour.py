"""A newcomer's first hour with `gateway serve` (issue 23: first-hour items 2, 3, 4; house item 3): a busy port
or an address the machine lacks is one line and exit 1, nothing claims to listen before everything is checked,
Ctrl-C is 130 with "interrupted" (and a declined prompt says "cancelled"), upstream failures are logged without
flooding, and one precedence rule decides every gateway setting."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.gateway.conftest import SHIPPED
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    p = tmp_path / "gateway.yaml"
    p.write_text(SHIPPED.read_text())
    return p


# ------------------------------------------------------------------------------------------ item 2
def test_a_busy_port_is_one_line_and_exit_1_before_anything_listens(policy: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = run_cli("gateway", "serve", "--policies", str(policy), "--port", str(port))
    assert r.exit_code == 1, r.output
    assert r.stderr.strip().splitlines()[-1].endswith(f"127.0.0.1:{port} is already in use; pick another --port")
    assert "listening" not in r.output and "Traceback" not in r.output and "bug" not in r.output


def test_a_busy_metrics_port_names_its_flag(policy: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        r = run_cli("gateway", "serve", "--policies", str(policy), "--port", "0", "--metrics-port", str(busy))
    assert r.exit_code == 1 and "pick another --metrics-port" in r.stderr and "listening" not in r.output


@pytest.mark.parametrize(
    ("host", "says"),
    [("192.0.2.1", "this machine has no such address"), ("no-such-host.invalid", "unknown host")],
)
def test_an_address_this_machine_lacks_is_one_line_and_exit_1(policy: Path, host: str, says: str) -> None:
    r = run_cli("gateway", "serve", "--policies", str(policy), "--host", host, "--port", "0")
    assert r.exit_code == 1, r.output
    assert says in r.stderr and "pick another --host" in r.stderr and "listening" not in r.output


def test_a_bad_policy_is_reported_before_listening_and_without_a_sighup_hint(tmp_path: Path) -> None:
    """Nothing runs yet: telling the user to send SIGHUP would send them looking for a process."""
    bad = tmp_path / "g.yaml"
    bad.write_text("version: 1\nlimits:\n  max_messages: lots\n")
    r = run_cli("gateway", "serve", "--policies", str(bad), "--port", "0")
    assert r.exit_code == 2
    assert "listening" not in r.output and "SIGHUP" not in r.output and "reload" not in r.output


# ------------------------------------------------------------------------------------------ item 3
def _serve(policy: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PAC_RELOAD_INTERVAL": "0", "PAC_AUDIT_LOG": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmops_cli", "gateway", "serve", "--policies", str(policy), "--port", "0", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if "listening on http://" in line:
            return proc, line
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(proc.communicate()[1])


@pytest.mark.slow
@pytest.mark.timeout(90)
@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_on_serve_exits_130_saying_interrupted(policy: Path, workers: str) -> None:
    proc, line = _serve(policy, "--workers", workers)
    address = line.split("listening on http://", 1)[1].split()[0].rstrip(",")
    host, port = address.rsplit(":", 1)
    time.sleep(1.0 if workers == "1" else 3.0)  # workers up
    with socket.create_connection((host, int(port)), timeout=5):
        pass
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.rstrip().endswith("interrupted")


def test_ctrl_c_in_any_command_says_interrupted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Typer turns Ctrl-C into a silent exit 130: `govern check` (or anything) said nothing."""
    from llmops_cli.cli.govern import check

    def interrupted(*_: Any, **__: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(check, "get_session", interrupted)
    r = run_cli("govern", "check")
    assert r.exit_code == 130 and r.stderr.strip().endswith("interrupted")


def test_a_declined_prompt_says_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmops_cli.cli import session

    monkeypatch.setattr(session.Session, "interactive", property(lambda self: True))
    r = run_cli("down", input="n\n")
    assert r.exit_code == 1 and "cancelled" in r.stderr


# ------------------------------------------------------------------------------------------ item 4
@pytest.mark.anyio
async def test_upstream_failures_are_logged_once_per_kind_and_then_summed(caplog: pytest.LogCaptureFixture) -> None:
    import httpx

    from llmops_cli.gateway import failures
    from llmops_cli.gateway.app import create_app
    from llmops_cli.gateway.testing.fake_upstream import FakeUpstream
    from llmops_cli.gateway.upstream.http import HttpAdapter
    from tests.gateway.conftest import AUTH, chat, compiled

    now = [0.0]
    app = create_app(compiled(), HttpAdapter("http://u", transport=httpx.ASGITransport(FakeUpstream())))
    app.failures.clock = lambda: now[0]
    caplog.set_level(logging.WARNING, logger="llmops.gateway")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw", headers=AUTH) as c:
        for model in ["fault:500"] * 20 + ["fault:badjson"] * 20:
            await c.post("/v1/chat/completions", json={**chat("hi"), "model": model})
        now[0] += failures.LOG_EVERY_S
        await c.post("/v1/chat/completions", json={**chat("hi"), "model": "fault:500"})
    lines = [r.getMessage() for r in caplog.records if "upstream failure" in r.getMessage()]
    assert len(lines) == 3, lines
    assert lines[0].startswith("upstream failure upstream_http_500")
    assert lines[1].startswith("upstream failure upstream_protocol")
    assert "19 more since the last line" in lines[2]


# ------------------------------------------------------------------------------------------ house item 3
LAYERS = ("flag", "env", "config")
# setting -> (a value per layer); the config layer only for settings llmops.yaml has
CASES: dict[str, dict[str, Any]] = {
    "provider": {"flag": "litellm", "env": "http", "config": "litellm"},
    "busy_poll_ms": {"flag": 3.0, "env": "2", "config": 1.0},
    "port": {"flag": 9001, "env": "9002"},
    "upstream_url": {"flag": "http://flag:1", "env": "http://env:1"},
    "metrics_port": {"flag": 9101, "env": "9102"},
}


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(CASES)), st.sets(st.sampled_from(LAYERS)))
def test_one_precedence_rule_for_every_setting(name: str, present: set[str]) -> None:
    """flag > PAC_* variable > llmops.yaml > default, for each setting, whichever layers say something; and
    the sources say which one did."""
    from llmops_cli.gateway.settings import ENV, FLAGS, Configured, GatewayServerSettings, resolve

    values = CASES[name]
    flags = {name: values["flag"]} if "flag" in present else {}
    environ = {ENV[name]: values["env"]} if "env" in present else {}
    conf = (
        Configured({name: values["config"]}, {name: "llmops.yaml:3"})
        if "config" in present and "config" in values
        else None
    )
    s, sources = resolve(flags, environ, conf)
    winner = next((layer for layer in LAYERS if layer in present and layer in values), None)
    want = GatewayServerSettings.model_validate({name: values[winner]} if winner else {})
    assert getattr(s, name) == getattr(want, name)
    assert (
        sources[name]
        == {"flag": FLAGS[name], "env": f"env {ENV[name]}", "config": "llmops.yaml:3", None: "default"}[winner]
    )


def test_the_policy_file_follows_the_same_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmops_cli.errors import ConfigError
    from llmops_cli.gateway.settings import Configured, resolve_policy_file

    project = tmp_path / "policies" / "gateway.yaml"
    conf = Configured(project_policy=str(project))
    assert resolve_policy_file(None, {}, conf).endswith("gateway.yaml") and not Path(
        resolve_policy_file(None, {}, conf)
    ).is_relative_to(tmp_path)  # no project policy: the shipped one
    project.parent.mkdir()
    project.write_text(SHIPPED.read_text())
    assert resolve_policy_file(None, {}, conf) == str(project)
    assert resolve_policy_file(None, {"PAC_POLICY_FILE": "/env.yaml"}, conf) == "/env.yaml"
    assert resolve_policy_file("/flag.yaml", {"PAC_POLICY_FILE": "/env.yaml"}, conf) == "/flag.yaml"
    missing = Configured({"policy_file": str(tmp_path / "nope.yaml")}, {"policy_file": "llmops.yaml:4"}, str(project))
    with pytest.raises(ConfigError, match="nope.yaml: policy file not found"):  # configured: no silent fallback
        resolve_policy_file(None, {}, missing)


def test_serve_help_states_the_rule_and_config_show_explains_it(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = run_cli("gateway", "serve", "--help")
    assert "flag, its PAC_* environment variable, llmops.yaml" in " ".join(r.stdout.split())
    (workdir / "llmops.yaml").write_text("version: 1\nstacks:\n  gateway:\n    provider: litellm\n")
    monkeypatch.setenv("PAC_PORT", "9100")
    monkeypatch.setenv("PAC_UPSTREAM_API_KEY", "sk-secret-value")
    r = run_cli("config", "show", "--sources")
    assert r.exit_code == 0, r.output
    rows = {line.split("  ")[0]: line for line in r.stdout.splitlines() if line.startswith("gateway serve: ")}
    assert "llmops.yaml:4" in rows["gateway serve: provider"] and '"litellm"' in rows["gateway serve: provider"]
    assert "env PAC_PORT" in rows["gateway serve: port"] and "9100" in rows["gateway serve: port"]
    assert "# default" in rows["gateway serve: host"]
    assert '"(set)"' in rows["gateway serve: upstream_api_key"] and "sk-secret" not in r.output
