"""End to end on two real VMs: `llmops promote` provisions a k3s server and an agent over SSH, releases a
governed model through Git, and rolls it back.

Opt-in (it installs k3s on the VMs!): `nox -s e2e` or `pytest tests/e2e --with-e2e`, with
LLMOPS_E2E_VMS="ubuntu@203.0.113.10,ubuntu@203.0.113.11" (the first becomes the server, the second an agent;
disposable VMs with systemd, internet access or LLMOPS_E2E_AIRGAP=<bundle>, root or sudo). Optional:
LLMOPS_E2E_SSH_KEY (a private key file), LLMOPS_E2E_SUDO_PASSWORD (when sudo asks for one), LLMOPS_E2E_TIMEOUT
(seconds per promote, default 1800), LLMOPS_E2E_KEEP=1 (leave k3s on the VMs). Host keys are accepted on first
contact (--accept-new-host-key): run it only against VMs you just created.

The project is the governance example with its evidence signed and the environment in local GitOps mode, so
Argo CD on the VMs reads the release from the in-cluster Git server: no hosted repository is needed. In order:
doctor --host on each VM; a dry run; a promotion (both nodes Ready, kubectl through the merged context, every
Application Synced and Healthy, the commit record); a second promotion (model 1.3.0); a rollback to 1.2.0;
then the VMs are cleaned (k3s uninstalled) unless LLMOPS_E2E_KEEP=1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e

VMS = [v for v in os.environ.get("LLMOPS_E2E_VMS", "").split(",") if v]
TIMEOUT = int(os.environ.get("LLMOPS_E2E_TIMEOUT", "1800"))
AIRGAP = os.environ.get("LLMOPS_E2E_AIRGAP")
KEY = os.environ.get("LLMOPS_E2E_SSH_KEY")
PASSWORD = os.environ.get("LLMOPS_E2E_SUDO_PASSWORD")


def llmops(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmops_cli", "-c", str(project / "llmops.yaml"), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
        check=False,
        cwd=project,
    )


def git(project: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(project), *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    if len(VMS) < 2:
        pytest.skip("set LLMOPS_E2E_VMS=user@server,user@agent (two disposable VMs)")
    from tests.promote.project import make_project

    root = tmp_path_factory.mktemp("promote-e2e")
    hosts = []
    for i, spec in enumerate(VMS[:2]):
        user, _, address = spec.rpartition("@")
        host = {"address": address, "user": user or "root", "role": "server" if i == 0 else "agent"}
        if KEY:
            host["ssh_key"] = KEY
        hosts.append(host)
    project = make_project(
        root,
        environments={"prod": {"profile": "prod", "requires_evidence": True, "hosts": hosts}},
    )
    cfg = yaml.safe_load((project / "llmops.yaml").read_text())
    cfg["gitops"] = {}  # local GitOps mode: the in-cluster Git server on the first server
    (project / "llmops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    git(project, "commit", "-q", "-am", "local GitOps mode")
    home = root / "home"
    home.mkdir()
    env = {
        **os.environ,
        "KUBECONFIG": str(home / "kubeconfig"),
        "XDG_STATE_HOME": str(home / "state"),
        "NO_COLOR": "1",
    }
    if PASSWORD:
        env["LLMOPS_E2E_SUDO_PASSWORD"] = PASSWORD
    yield project, env
    if os.environ.get("LLMOPS_E2E_KEEP") == "1":
        return
    for spec in reversed(VMS[:2]):  # the agent first, then the server
        ssh = ["ssh", *(["-i", KEY] if KEY else []), "-o", "BatchMode=yes", spec]
        for script in ("/usr/local/bin/k3s-agent-uninstall.sh", "/usr/local/bin/k3s-uninstall.sh"):
            subprocess.run(
                [*ssh, "sh", "-c", f"test -x {script} && sudo -n {script} || true"], check=False, timeout=600
            )


def promote_args(*extra: str) -> list[str]:
    args = ["promote", "prod", "--yes", "--accept-new-host-key", "--timeout", str(TIMEOUT), *extra]
    if AIRGAP:
        args += ["--airgap-bundle", AIRGAP]
    if PASSWORD:
        args += ["--sudo-password-env", "LLMOPS_E2E_SUDO_PASSWORD"]
    return args


def test_doctor_over_ssh_on_each_vm(world: tuple[Path, dict[str, str]]) -> None:
    project, env = world
    for spec in VMS[:2]:
        args = ["doctor", "--host", spec, "--accept-new-host-key", "-o", "json", *(["-i", KEY] if KEY else [])]
        r = llmops(project, env, *args)
        data = json.loads(r.stdout)["data"]
        assert data["facts"]["init_system"] in ("systemd", "openrc"), r.stderr
        assert not [c for c in data["checks"] if c["status"] == "fail"], data["checks"]


def test_dry_run_changes_nothing(world: tuple[Path, dict[str, str]]) -> None:
    project, env = world
    head = git(project, "rev-parse", "HEAD")
    r = llmops(project, env, *[a for a in promote_args("--dry-run") if a != "--yes"])
    assert r.returncode == 0, r.stderr
    assert "+++ b/manifests/prod/release.yaml" in r.stdout and "dry run: nothing was changed" in r.stderr
    assert git(project, "rev-parse", "HEAD") == head


def test_promote_provisions_both_vms_and_syncs_the_release(world: tuple[Path, dict[str, str]]) -> None:
    project, env = world
    r = llmops(project, env, *promote_args())
    assert r.returncode == 0, r.stderr[-4000:]
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed"
    nodes = subprocess.run(
        [kubectl, "--context", "llmops-prod", "get", "nodes", "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    items = json.loads(nodes.stdout)["items"]
    assert len(items) == 2
    for n in items:
        ready = {c["type"]: c["status"] for c in n["status"]["conditions"]}["Ready"]
        assert ready == "True", n["metadata"]["name"]
    apps = subprocess.run(
        [kubectl, "--context", "llmops-prod", "-n", "argocd", "get", "applications", "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    for app in json.loads(apps.stdout)["items"]:
        st = app["status"]
        assert (st["sync"]["status"], st["health"]["status"]) == ("Synced", "Healthy"), app["metadata"]["name"]
    record = git(project, "log", "-1", "--format=%B")
    assert "Llmops-Model-Version: 1.2.0" in record and "Llmops-Evidence-Digest: sha256:" in record


def test_a_new_version_then_a_rollback(world: tuple[Path, dict[str, str]]) -> None:
    from tests.promote.project import govern, set_model_version

    project, env = world
    first = git(project, "rev-parse", "HEAD").strip()
    set_model_version(project, "1.3.0")
    govern(project)
    r = llmops(project, env, *promote_args())
    assert r.returncode == 0, r.stderr[-4000:]
    second = git(project, "rev-parse", "HEAD").strip()
    r = llmops(project, env, *promote_args("--rollback"))
    assert r.returncode == 0, r.stderr[-4000:]
    record = git(project, "log", "-1", "--format=%B")
    assert f"Llmops-Rollback-Of: {second}" in record and f"Llmops-Restores: {first}" in record
