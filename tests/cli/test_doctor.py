"""`llmops doctor` on this real machine, through the real error boundary."""

from __future__ import annotations

import json

from tests.helpers import run_cli


def test_doctor_text_runs_for_real() -> None:
    r = run_cli("doctor")
    assert r.exit_code in (0, 1), r.output
    assert "os " in r.stderr and "nvidia" in r.stderr and "k3s" in r.stderr
    assert r.stdout == ""  # human text goes to stderr
    assert ("check(s) failed" in r.stderr) is (r.exit_code == 1)


def test_doctor_json_envelope() -> None:
    r = run_cli("doctor", "-o", "json")
    env = json.loads(r.stdout)
    assert env["llmops_result_version"] == "1" and env["command"] == "doctor"
    names = [c["name"] for c in env["data"]["checks"]]
    assert {
        "os",
        "kernel",
        "cgroups",
        "cpu",
        "memory",
        "disk",
        "ports",
        "swap",
        "k3s",
        "nvidia",
        "kubeconfig",
    } <= set(names)
    failed = any(c["status"] == "fail" for c in env["data"]["checks"])
    assert env["data"]["ok"] is not failed and r.exit_code == (1 if failed else 0)
    assert env["status"] == ("error" if failed else "ok")


def test_doctor_gpu_on_without_gpu_fails(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import shutil

    if shutil.which("nvidia-smi"):
        return
    monkeypatch.setenv("LLMOPS_GPU__MODE", "on")
    r = run_cli("doctor", "-o", "json")
    nvidia = next(c for c in json.loads(r.stdout)["data"]["checks"] if c["name"] == "nvidia")
    assert nvidia["status"] == "fail" and r.exit_code == 1
