"""End to end on a real Linux host: `llmops up`, then `status`, `up` again (no changes), `sync`, `down`.

Opt-in (it installs k3s!): `nox -s e2e` or `pytest tests/e2e --with-e2e`. Needs a disposable Linux machine or
VM with systemd, root or passwordless sudo, and internet access (or LLMOPS_E2E_AIRGAP=<bundle dir>).
LLMOPS_E2E_GPU=on runs the GPU path (NVIDIA driver + container toolkit required); the default is auto.
LLMOPS_E2E_TIMEOUT (seconds, default 1800) bounds each `up`. The suite ends with `down --uninstall-k3s`
unless LLMOPS_E2E_KEEP=1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

TIMEOUT = int(os.environ.get("LLMOPS_E2E_TIMEOUT", "1800"))
GPU = os.environ.get("LLMOPS_E2E_GPU", "auto")


def llmops(*args: str, timeout: int = TIMEOUT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess, with the user's real HOME and KUBECONFIG (not the hermetic test ones)."""
    return subprocess.run(
        [sys.executable, "-m", "llmops_cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )


@pytest.fixture(scope="module")
def real_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("e2e-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMOPS_")}
    env.update(HOME=str(home), KUBECONFIG=str(home / ".kube" / "config"), NO_COLOR="1")
    env.pop("CI", None)
    yield env
    if os.environ.get("LLMOPS_E2E_KEEP") != "1":
        llmops("down", "--yes", "--uninstall-k3s", env=env, timeout=900)


def test_doctor_passes(real_env: dict[str, str]) -> None:
    r = llmops("doctor", "-o", "json", env=real_env, timeout=120)
    data = json.loads(r.stdout)["data"]
    failing = [c for c in data["checks"] if c["status"] == "fail"]
    assert r.returncode == 0 and not failing, failing


def test_dry_run_changes_nothing(real_env: dict[str, str]) -> None:
    r = llmops("up", "--dry-run", "--gpu", GPU, "-o", "json", env=real_env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert not Path(real_env["KUBECONFIG"]).exists()


def test_up_then_status(real_env: dict[str, str]) -> None:
    args = ["up", "--yes", "--gpu", GPU, "--timeout", str(TIMEOUT), "-o", "json"]
    if os.environ.get("LLMOPS_E2E_AIRGAP"):
        args += ["--airgap-bundle", os.environ["LLMOPS_E2E_AIRGAP"]]
    r = llmops(*args, env=real_env, timeout=TIMEOUT + 300)
    assert r.returncode == 0, r.stderr[-3000:]
    data = json.loads(r.stdout)["data"]
    assert all(v == "Synced/Healthy" for v in data["results"]["applications"].values())
    if GPU == "on":
        assert data["results"]["gpu_allocatable"] >= 1 and "NVIDIA" in data["results"]["gpu_smoke"]
    cfg = Path(real_env["KUBECONFIG"])
    assert cfg.stat().st_mode & 0o777 == 0o600
    s = llmops("status", "-o", "json", env=real_env, timeout=120)
    assert s.returncode == 0, s.stdout
    assert json.loads(s.stdout)["data"]["healthy"] is True


def test_second_up_changes_nothing_and_is_fast(real_env: dict[str, str]) -> None:
    t0 = time.monotonic()
    r = llmops("up", "--yes", "--gpu", GPU, "-o", "json", env=real_env, timeout=600)
    elapsed = time.monotonic() - t0
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout)["data"]["changed"] == 0
    assert elapsed < 60, f"a no-op up took {elapsed:.0f}s"


def test_sync_is_a_no_op_when_nothing_changed(real_env: dict[str, str]) -> None:
    r = llmops("sync", "-o", "json", env=real_env, timeout=600)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["data"]["changed"] is False


def test_down_removes_the_platform_and_context(real_env: dict[str, str]) -> None:
    if os.environ.get("LLMOPS_E2E_KEEP") == "1":
        pytest.skip("LLMOPS_E2E_KEEP=1")
    r = llmops("down", "--yes", "-o", "json", env=real_env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    text = Path(real_env["KUBECONFIG"]).read_text() if Path(real_env["KUBECONFIG"]).exists() else ""
    assert "llmops-llmops" not in text
