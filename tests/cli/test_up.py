"""`llmops up`: flags reach the core, and --dry-run on this machine prints the full plan without changes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.cli.fake_render import FakeRenderer
from tests.helpers import run_cli


@pytest.fixture
def fake_render(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmops_cli.cluster import up as up_mod

    monkeypatch.setattr(up_mod, "default_renderer", lambda: FakeRenderer())


def snapshot() -> dict[str, float]:
    paths = ["/etc/rancher", "/usr/local/bin/k3s", "/var/lib/rancher", os.path.expanduser("~/.kube")]
    return {p: os.stat(p).st_mtime for p in paths if os.path.exists(p)}


@pytest.mark.parametrize("gpu", ["on", "off"])
def test_dry_run_prints_the_full_plan_and_changes_nothing(fake_render: None, gpu: str) -> None:
    before = snapshot()
    r = run_cli("up", "--dry-run", "--gpu", gpu)
    assert r.exit_code == 0, r.output
    assert snapshot() == before
    assert "dry run: nothing was changed" in r.stderr
    for step in (
        "install k3s",
        "write the llmops k3s config drop-in",
        "merge context llmops-llmops",
        "install Argo CD",
        "push the rendered tree",
        "apply the AppProject and root Application",
        "wait for every Argo CD Application",
    ):
        assert step in r.stdout, step
    assert ("check the NVIDIA driver" in r.stdout) is (gpu == "on")
    assert ("run the GPU smoke Job" in r.stdout) is (gpu == "on")
    assert not (Path.home() / ".kube" / "config").exists()


def test_dry_run_json_lists_steps_with_status(fake_render: None) -> None:
    r = run_cli("up", "--dry-run", "--gpu", "on", "-o", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)["data"]
    assert data["dry_run"] is True and data["summary"]["gpu"] is True
    steps = {s["id"]: s for s in data["steps"]}
    assert steps["install_k3s"]["status"] in ("todo", "done", "will-fail")
    if not os.path.exists("/usr/local/bin/nvidia-smi") and not os.path.exists("/usr/bin/nvidia-smi"):
        assert steps["check_nvidia_driver"]["status"] == "will-fail"
    assert steps["wait_applications_healthy"]["mutating"] is False


def test_up_without_tty_and_without_yes_names_the_flag(fake_render: None) -> None:
    r = run_cli("up")
    assert r.exit_code == 2 and "--yes" in r.stderr


def test_flags_reach_the_core(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from llmops_cli.cluster import up as up_mod

    seen: dict = {}

    def fake_up(settings, **kw):  # type: ignore[no-untyped-def]
        seen["settings"] = settings
        seen.update(kw)
        raise SystemExit(0)

    monkeypatch.setattr(up_mod, "up", fake_up)
    monkeypatch.setenv("LLMOPS_GIT_TOKEN", "tok")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for name in ("k3s", "install.sh", "k3s-airgap-images-amd64.tar.zst"):
        (bundle / name).write_text("x")
    r = run_cli(
        "up",
        "--yes",
        "--gpu",
        "off",
        "--timeout",
        "42",
        "--env",
        "prod",
        "--install-toolkit",
        "--switch-context",
        "--show-password",
        "--airgap-bundle",
        str(bundle),
    )
    assert r.exit_code == 0, r.output
    s = seen["settings"]
    assert s.gpu.mode == "off" and s.gpu.install_toolkit and s.cluster.switch_context
    o = seen["options"]
    assert o.timeout == 42 and o.show_password and o.git_token == "tok" and o.airgap.path == bundle
    assert seen["env"] == "prod" and seen["dry_run"] is False


def test_bad_airgap_bundle_is_a_usage_error(tmp_path: Path) -> None:
    r = run_cli("up", "--dry-run", "--airgap-bundle", str(tmp_path))
    assert r.exit_code == 2 and "lacks k3s, install.sh" in r.stderr


def test_unknown_env_is_a_usage_error(fake_render: None) -> None:
    r = run_cli("up", "--dry-run", "--env", "nope")
    assert r.exit_code == 2 and "unknown environment 'nope'" in r.stderr


@pytest.mark.parametrize("gpu", ["on", "off"])
def test_dry_run_with_the_real_renderer(gpu: str) -> None:
    """Integration: the real render package feeds the plan; the printed plan names the rendered objects."""
    before = snapshot()
    r = run_cli("up", "--dry-run", "--gpu", gpu, "-o", "json")
    assert r.exit_code == 0, r.output
    assert snapshot() == before
    data = json.loads(r.stdout)["data"]
    steps = {s["id"]: s for s in data["steps"]}
    assert "HelmChart/kube-system/argo-cd" in steps["apply_argocd_install"]["changes"]
    assert "Application/argocd/llmops-dev" in steps["apply_root_application"]["changes"]
    assert "manifests/dev" in steps["seed_local_git"]["changes"]
    assert ("run_gpu_smoke_job" in steps) is (gpu == "on")
    assert {
        "create_secret_llmops_llmops-pgvector",
        "create_secret_llmops_llmops-gateway",
        "create_secret_monitoring_llmops-grafana-admin",
    } <= set(steps)
