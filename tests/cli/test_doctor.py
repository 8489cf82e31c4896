"""`llmops doctor` through the real error boundary: on this machine, and on hosts described by their facts."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys

import pytest

from llmops_cli.adapters.hostfacts import HostFacts
from tests.cluster.conftest import make_facts
from tests.helpers import run_cli

CHECKS = {"os", "kernel", "cgroups", "cpu", "memory", "disk", "ports", "swap", "k3s", "nvidia", "kubeconfig"}


@pytest.fixture
def host_facts(monkeypatch: pytest.MonkeyPatch) -> list[HostFacts]:
    """doctor sees the facts the test puts here instead of this machine's."""
    from llmops_cli.adapters import hostfacts

    given = [make_facts()]
    monkeypatch.setattr(hostfacts, "gather_facts", lambda host, **kw: given[0])
    return given


def test_doctor_runs_for_real_and_reports_on_stdout() -> None:
    r = run_cli("doctor")
    assert r.exit_code in (0, 1), r.output
    assert all(name in r.stdout for name in ("os ", "nvidia", "k3s"))
    assert ("check(s) failed" in r.stdout) is (r.exit_code == 1)


def test_a_ready_host_is_reported_on_stdout_with_exit_0(host_facts: list[HostFacts]) -> None:
    """The report is the command's output: `llmops doctor | less` showed nothing when it went to stderr."""
    r = run_cli("doctor")
    assert r.exit_code == 0, r.output
    assert "ready for `llmops up`" in r.stdout and "k3s" in r.stdout and r.stderr == ""


def test_a_failed_check_is_exit_1_and_an_error_in_the_envelope(
    host_facts: list[HostFacts], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`doctor -o json` said `status: error` with `errors: []`: each failed check is now one error."""
    monkeypatch.setenv("LLMOPS_GPU__MODE", "on")  # the host has no GPU
    r = run_cli("doctor", "-o", "json")
    assert r.exit_code == 1
    env = json.loads(r.stdout)
    assert env["llmops_result_version"] == "1" and env["command"] == "doctor"
    assert CHECKS <= {c["name"] for c in env["data"]["checks"]}
    failed = [c for c in env["data"]["checks"] if c["status"] == "fail"]
    assert [c["name"] for c in failed] == ["nvidia"] and env["data"]["ok"] is False
    assert env["status"] == "error"
    assert env["errors"] == [{"code": "check_failed", "message": f"nvidia: {failed[0]['detail']}"}]
    text = run_cli("doctor")
    assert text.exit_code == 1 and "FAIL  nvidia" in text.stdout and "1 check(s) failed" in text.stdout


def test_a_ready_host_has_no_errors_in_the_envelope(host_facts: list[HostFacts]) -> None:
    r = run_cli("doctor", "-o", "json")
    env = json.loads(r.stdout)
    assert r.exit_code == 0 and env["status"] == "ok" and env["errors"] == [] and env["data"]["ok"] is True


def test_the_report_is_coloured_on_a_terminal_and_plain_with_no_color(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """On a terminal each status has its colour; --no-color (anywhere on the line) and NO_COLOR turn it off."""

    def run_on_tty(*args: str, no_color_env: bool = False) -> str:
        env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | {"TERM": "xterm-256color"}
        if no_color_env:
            env["NO_COLOR"] = "1"
        main, child = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "llmops_cli", "doctor", *args],
            stdout=child,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=tmp_path,
        )
        os.close(child)
        chunks = []
        while True:
            try:
                data = os.read(main, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        proc.wait(timeout=60)
        os.close(main)
        return b"".join(chunks).decode()

    colour = re.compile(r"\x1b\[[0-9;]*\b(3[0-7]|9[0-7]|38;[0-9;]+)m")  # SGR foreground colours
    coloured, flag, env = run_on_tty(), run_on_tty("--no-color"), run_on_tty(no_color_env=True)
    assert all("nvidia" in out for out in (coloured, flag, env)), (coloured, flag, env)
    assert colour.search(coloured)
    assert not colour.search(flag) and not colour.search(env)
