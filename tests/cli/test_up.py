"""`llmops up`: flags reach the core; the plan and its checks come before the question (known failures exit 1
without asking); --dry-run on this machine prints the full plan, changes nothing, and exits 1 when a step is
known to fail."""

from __future__ import annotations

import hashlib
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


def this_machine_can_run_k3s() -> bool:
    return os.path.isdir("/run/systemd/system") or os.path.exists("/sbin/openrc-run")


@pytest.mark.parametrize("gpu", ["on", "off"])
def test_dry_run_prints_the_full_plan_and_changes_nothing(fake_render: None, gpu: str) -> None:
    before = snapshot()
    r = run_cli("up", "--dry-run", "--gpu", gpu)
    assert snapshot() == before
    for step in (
        "install k3s",
        "write the llmops k3s config drop-in",
        "merge context llmops-llmops",
        "install Argo CD",
        "push the rendered tree",
        "apply the AppProject and root Application",
        "wait for every Argo CD Application",
        "hand Argo CD over to its own Application",
    ):
        assert step in r.stdout, step
    assert ("check the NVIDIA driver" in r.stdout) is (gpu == "on")
    assert ("run the GPU smoke Job" in r.stdout) is (gpu == "on")
    assert not (Path.home() / ".kube" / "config").exists()
    if not this_machine_can_run_k3s():  # this container: no init system, so the install is known to fail
        assert r.exit_code == 1, r.output
        assert "FAIL install k3s" in r.stderr and "no systemd or OpenRC" in r.stderr
        assert "nothing was changed" in r.stderr


def test_dry_run_json_lists_steps_and_the_known_failures(fake_render: None) -> None:
    r = run_cli("up", "--dry-run", "--gpu", "on", "-o", "json")
    envelope = json.loads(r.stdout)
    data = envelope["data"]
    assert data["dry_run"] is True and data["summary"]["gpu"] is True
    steps = {s["id"]: s for s in data["steps"]}
    assert steps["wait_applications_healthy"]["mutating"] is False
    if not os.path.exists("/usr/local/bin/nvidia-smi") and not os.path.exists("/usr/bin/nvidia-smi"):
        assert steps["check_nvidia_driver"]["status"] == "will-fail"
    assert (r.exit_code == 1) is bool(data["preflight"]), r.output
    assert envelope["status"] == ("error" if data["preflight"] else "ok")


def _prepared_on_a_good_laptop(monkeypatch: pytest.MonkeyPatch, executed: list) -> None:  # type: ignore[type-arg]
    """prepare_up as on a laptop that can run everything (facts of a good host; the real plan and render)."""
    from llmops_cli.cluster import up as up_mod
    from tests.cluster.conftest import make_facts

    real = up_mod.prepare_up

    def prepare(settings, **kw):  # type: ignore[no-untyped-def]
        kw["facts"] = make_facts()
        return real(settings, **kw)

    monkeypatch.setattr(up_mod, "prepare_up", prepare)
    monkeypatch.setattr(up_mod, "execute_up", lambda prepared, reporter: executed.append(prepared) or prepared.report())


def test_consent_comes_after_the_plan_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    executed: list = []  # type: ignore[type-arg]
    _prepared_on_a_good_laptop(monkeypatch, executed)
    r = run_cli("up")
    assert r.exit_code == 2 and "--yes" in r.stderr
    # What it would change was shown first: steps, restarts, files, packages.
    assert "`llmops up` will change this machine" in r.stderr
    assert (
        "install k3s" in r.stderr
        and "writes: " in r.stderr
        and "/etc/rancher/k3s/config.yaml.d/50-llmops.yaml" in r.stderr
    )
    assert "installs: k3s" in r.stderr
    assert r.stderr.index("will change this machine") < r.stderr.index("needs confirmation")
    assert executed == []
    assert run_cli("up", "--yes").exit_code == 0 and len(executed) == 1


def test_known_failures_stop_up_without_asking(monkeypatch: pytest.MonkeyPatch, fake_render: None) -> None:
    from dataclasses import replace

    from llmops_cli.cluster import up as up_mod
    from tests.cluster.conftest import make_facts

    real = up_mod.prepare_up
    monkeypatch.setattr(
        up_mod, "prepare_up", lambda s, **kw: real(s, **{**kw, "facts": replace(make_facts(), init_system="none")})
    )
    monkeypatch.setattr(up_mod, "execute_up", lambda *a, **k: pytest.fail("executed despite a known failure"))
    r = run_cli("up")  # no --yes, no TTY: it must not even ask
    assert r.exit_code == 1, r.output
    from llmops_cli.config.model import Settings

    pinned = Settings().cluster.k3s_version
    assert "needs confirmation" not in r.stderr and f"FAIL install k3s {pinned}: no systemd or OpenRC" in r.stderr
    assert "init: no systemd or OpenRC" not in r.stderr  # the doctor check saying the same is not repeated


def test_flags_reach_the_core(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import hashlib

    from llmops_cli import versions
    from llmops_cli.adapters import upstream
    from llmops_cli.cluster import up as up_mod

    seen: dict = {}

    def fake_prepare(settings, **kw):  # type: ignore[no-untyped-def]
        seen["settings"] = settings
        seen.update(kw)
        raise SystemExit(0)

    monkeypatch.setattr(up_mod, "prepare_up", fake_prepare)
    monkeypatch.setenv("LLMOPS_GIT_TOKEN", "tok")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    sums = []
    for name in ("k3s", "install.sh", "k3s-airgap-images-amd64.tar.zst"):
        text = f"x {name} {versions.K3S_VERSION}" if name == "k3s" else f"x {name}"  # the binary holds its version
        (bundle / name).write_text(text)
        sums.append(f"{hashlib.sha256(text.encode()).hexdigest()}  {name}")
    (bundle / "sha256sum-amd64.txt").write_text("\n".join(sums) + "\n")
    monkeypatch.setattr(upstream, "K3S_INSTALLER_SHA256", hashlib.sha256(b"x install.sh").hexdigest())
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
    assert seen["env"] == "prod"


def test_bad_airgap_bundle_is_a_usage_error(tmp_path: Path) -> None:
    r = run_cli("up", "--dry-run", "--airgap-bundle", str(tmp_path))
    assert r.exit_code == 2 and "lacks k3s, install.sh" in r.stderr and "sha256sum-<arch>.txt" in r.stderr


def test_a_bundled_chart_of_another_version_is_a_one_line_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmops_cli import versions
    from llmops_cli.adapters import upstream
    from tests.cluster.bundles import chart_archive, write_bundle
    from tests.cluster.conftest import INSTALLER_TEXT

    monkeypatch.setattr(upstream, "K3S_INSTALLER_SHA256", hashlib.sha256(INSTALLER_TEXT.encode()).hexdigest())
    b = write_bundle(tmp_path / "b", {"loki-1.0.0.tgz": chart_archive("loki", "1.0.0")})
    r = run_cli("up", "--dry-run", "--airgap-bundle", str(b))
    assert r.exit_code == 2, r.output
    error = [line for line in r.stderr.splitlines() if "loki-1.0.0.tgz" in line]
    assert len(error) == 1 and f"not the pinned {versions.LOKI_VERSION}" in error[0]
    assert "Traceback" not in r.stderr


def test_up_with_a_bundle_of_every_chart_pushes_them_and_warns_of_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmops_cli.adapters import upstream
    from tests.cluster.bundles import pinned_charts, write_bundle
    from tests.cluster.conftest import INSTALLER_TEXT

    monkeypatch.setattr(upstream, "K3S_INSTALLER_SHA256", hashlib.sha256(INSTALLER_TEXT.encode()).hexdigest())
    charts = pinned_charts()
    full = write_bundle(tmp_path / "full", charts)
    r = run_cli("up", "--dry-run", "--gpu", "off", "--airgap-bundle", str(full), "-o", "json")
    data = json.loads(r.stdout)["data"]
    assert not any("no archive of" in w for w in data["warnings"]), data["warnings"]
    steps = {s["id"]: s for s in data["steps"]}
    assert f"{len(charts)} bundled chart(s) under charts/" in steps["seed_local_git"]["changes"]
    del charts[next(n for n in charts if n.startswith("loki-"))]
    partial = write_bundle(tmp_path / "partial", charts)
    r = run_cli("up", "--dry-run", "--gpu", "off", "--airgap-bundle", str(partial), "-o", "json")
    (warning,) = [w for w in json.loads(r.stdout)["data"]["warnings"] if "no archive of" in w]
    assert "loki" in warning and "grafana-community.github.io" in warning


def test_unknown_env_is_a_usage_error(fake_render: None) -> None:
    r = run_cli("up", "--dry-run", "--env", "nope")
    assert r.exit_code == 2 and "unknown environment 'nope'" in r.stderr


def test_a_second_up_while_one_runs_names_its_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmops_cli.cluster.lock import run_lock

    with run_lock("llmops", "up"):
        r = run_cli("up", "--yes")
    assert r.exit_code == 1 and f"`llmops up` (PID {os.getpid()}" in r.stderr


@pytest.mark.parametrize("gpu", ["on", "off"])
def test_dry_run_with_the_real_renderer(gpu: str) -> None:
    """Integration: the real render package feeds the plan; the printed plan names the rendered objects."""
    before = snapshot()
    r = run_cli("up", "--dry-run", "--gpu", gpu, "-o", "json")
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


def test_up_and_sync_push_the_tree_render_writes_with_the_projects_incidents(
    fake_render: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tree `up` seeds the local Git server with (and `sync` pushes) is the tree `llmops render` commits: read
    from the project of llmops.yaml, so the incident index (and a release record) ship with it; a tree rendered
    without the project shipped an empty index, and the gateway's incident gauges read zero."""
    from llmops_cli.cluster import sync as sync_mod
    from tests.riskfixtures import incident_index

    project = tmp_path / "project"
    (project / "incidents").mkdir(parents=True)
    (project / "llmops.yaml").write_text("gitops:\n  path: manifests\n")
    index = incident_index()
    (project / "incidents" / "index.json").write_text(index.to_json())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # paths in llmops.yaml resolve against its folder, not the working directory
    config = str(project / "llmops.yaml")

    trees: list[dict[str, str]] = []
    real = FakeRenderer.render_environment

    def spy(self, settings, env, **kw):  # type: ignore[no-untyped-def]
        trees.append(real(self, settings, env, **kw))
        return trees[-1]

    monkeypatch.setattr(FakeRenderer, "render_environment", spy)
    r = run_cli("-c", config, "up", "--dry-run", "--gpu", "off")
    assert trees, r.output
    assert run_cli("-c", config, "render", "--env", "dev").exit_code == 0
    written = {
        str(p.relative_to(project / "manifests" / "dev")): p.read_text()
        for p in (project / "manifests" / "dev").rglob("*")
        if p.is_file()
    }
    assert trees[-1] == written
    assert [i for i in index.incidents if i.id in "".join(written.values())]

    got: dict[str, object] = {}

    def fake_sync(settings, **kw):  # type: ignore[no-untyped-def]
        got.update(kw)
        return {"changed": False, "files": 0}

    monkeypatch.setattr(sync_mod, "sync", fake_sync)
    assert run_cli("-c", config, "sync").exit_code == 0
    assert got["project_dir"] == project
