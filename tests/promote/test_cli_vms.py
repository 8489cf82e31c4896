"""`llmops promote` and `llmops doctor --host` from the command line, against stand-in VMs over real SSH, with a
real Git repository; "Argo CD" (the simulated cluster) reads the environment's branch from the bare origin."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.helpers import run_cli
from tests.promote.conftest import VmCluster, service_running
from tests.promote.k3s_standin import vm_files
from tests.promote.project import git, govern, make_project, set_model_version
from tests.sshvm import Vm, Vms, requires_vms
from tests.sudouser import ALL, User, make_user

pytestmark = [requires_vms]


@pytest.fixture
def three(group: Vms) -> list[Vm]:
    return [
        group.start(name, files=__import__("tests.promote.k3s_standin", fromlist=["x"]).vm_files())
        for name in ("vm1", "vm2", "vm3")
    ]


def project_for(tmp_path: Path, group: Vms, vms_: list[Vm], roles: list[str]) -> Path:
    hosts = [{"address": vm.address, "role": role} for vm, role in zip(vms_, roles, strict=True)]
    envs = {
        "dev": {"profile": "dev"},
        "prod": {"profile": "prod", "requires_evidence": True, "hosts": hosts, "ssh_config": str(group.ssh_config)},
    }
    return make_project(tmp_path / "p", environments=envs)


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[VmCluster]]:
    """The simulated cluster stands in for the first server's API (there is no kube-apiserver here)."""
    from llmops_cli.promote import remote

    made: list[VmCluster] = []

    def factory(api):  # type: ignore[no-untyped-def]
        return lambda: made[0].kube

    monkeypatch.setattr(remote, "remote_kube_factory", factory)
    yield made


def cli(project: Path, *args: str):  # type: ignore[no-untyped-def]
    return run_cli("-c", str(project / "llmops.yaml"), *args)


def test_unknown_host_keys_stop_promote_naming_every_fingerprint(group: Vms, three: list[Vm], tmp_path: Path) -> None:
    project = project_for(tmp_path, group, three, ["server", "agent", "agent"])
    r = cli(project, "promote", "prod", "--dry-run")
    assert r.exit_code == 1, r.output
    for vm in three:
        assert vm.fingerprint() in r.stderr
    assert "--accept-new-host-key" in r.stderr
    assert group.known_hosts.read_text() == ""


def test_dry_run_of_three_hosts_prints_their_plans_and_the_diff_and_changes_nothing(
    group: Vms, three: list[Vm], tmp_path: Path, bundle: Path
) -> None:
    project = project_for(tmp_path, group, three, ["server", "agent", "agent"])
    head = git(project, "rev-parse", "HEAD")
    r = cli(project, "promote", "prod", "--dry-run", "--accept-new-host-key", "--airgap-bundle", str(bundle))
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert f"== {three[0].address} (root@, init, vm1," in out
    assert f"== {three[1].address} (root@, agent, vm2," in out and f"== {three[2].address} (root@, agent, vm3," in out
    assert "install k3s" in out and f"write the join token for https://{three[0].address}:6443" in out
    assert "install Argo CD" in out and "wait for node vm3 to join and be Ready" in out
    assert "+++ b/manifests/prod/release.yaml" in out and "Llmops-Model-Version: 1.2.0" in out
    assert "gate: passes for credit-approval 1.2.0" in r.stderr and "dry run: nothing was changed" in r.stderr
    (tmp_path / "dry-run.txt").write_text(r.stdout + r.stderr)  # shown in the report
    # Nothing changed: no file on any VM, no commit; only the host keys the flag accepted.
    for vm in three:
        assert not vm.upper("/etc/rancher").exists() and vm.read("/var/log/llmops-standin/installer.log") is None
    assert git(project, "rev-parse", "HEAD") == head
    assert all(vm.host_pub.split()[1] in group.known_hosts.read_text() for vm in three)
    j = cli(project, "promote", "prod", "--dry-run", "-o", "json")
    data = json.loads(j.stdout)["data"]
    assert [h["role"] for h in data["cluster"]["hosts"]] == ["init", "agent", "agent"]
    assert data["gate"]["ok"] and data["release"]["diff"].startswith("diff --git")


def test_promote_then_rollback_through_the_cli(
    group: Vms, three: list[Vm], tmp_path: Path, bundle: Path, cluster: list[VmCluster]
) -> None:
    vms_ = three[:2]
    for vm in vms_:
        group.trust(vm)
    project = project_for(tmp_path, group, vms_, ["server", "agent"])
    cluster.append(VmCluster(vms_, origin=tmp_path / "p" / "origin.git"))
    r = cli(project, "promote", "prod", "--yes", "--push", "--airgap-bundle", str(bundle), "--timeout", "120")
    assert r.exit_code == 0, r.output
    first = git(project, "rev-parse", "HEAD").strip()
    assert git(project, "rev-parse", "origin/main").strip() == first
    assert service_running(vms_[0], "k3s") and service_running(vms_[1], "k3s-agent")
    assert f"{first} promote prod: credit-approval 1.2.0" in r.stdout
    assert "Argo CD: " in r.stderr and "llmops-prod Synced/Healthy" in r.stderr
    app = cluster[0].sim.get("argoproj.io/v1alpha1", "Application", "llmops-prod", "argocd") or {}
    assert app["status"]["sync"]["revision"] == first
    # The next release, then the rollback: each a commit with its record, each synced by "Argo CD".
    set_model_version(project, "1.3.0")
    govern(project)
    git(project, "push", "-q", "origin", "main")
    r = cli(project, "promote", "prod", "--yes", "--push", "--timeout", "120")
    assert r.exit_code == 0, r.output
    second = git(project, "rev-parse", "HEAD").strip()
    r = cli(project, "promote", "prod", "--rollback", "--yes", "--push", "--timeout", "120")
    assert r.exit_code == 0, r.output
    rolled = git(project, "rev-parse", "HEAD").strip()
    record = git(project, "log", "-1", "--format=%B")
    (tmp_path / "records.txt").write_text(git(project, "log", "-3", "--format=commit %H%n%B", "--", "manifests/prod"))
    assert f"Llmops-Rollback-Of: {second}" in record and f"Llmops-Restores: {first}" in record
    assert "Llmops-Model-Version: 1.2.0" in record
    assert app is not None
    live = cluster[0].sim.get("argoproj.io/v1alpha1", "Application", "llmops-prod", "argocd") or {}
    assert live["status"]["sync"]["revision"] == rolled
    release = yaml.safe_load(git(project, "show", f"{rolled}:manifests/prod/release.yaml"))
    assert release["model"]["version"] == "1.2.0"


def test_doctor_over_ssh(group: Vms, tmp_path: Path) -> None:
    vm = group.start("vm1")
    cfg = str(group.ssh_config)
    r = run_cli("doctor", "--host", f"root@{vm.address}", "--ssh-config", cfg)
    assert r.exit_code == 1 and vm.fingerprint() in r.stderr and "--accept-new-host-key" in r.stderr
    r = run_cli("doctor", "--host", f"root@{vm.address}", "--ssh-config", cfg, "--accept-new-host-key")
    assert f"checks on root@{vm.address} (vm1) over SSH" in r.stderr
    assert "  os " in r.stdout and "k3s" in r.stdout and "kubeconfig" not in r.stdout
    (tmp_path / "doctor.txt").write_text(r.stderr + r.stdout)
    j = run_cli("doctor", "--host", f"root@{vm.address}", "--ssh-config", cfg, "-o", "json")
    data = json.loads(j.stdout)["data"]
    assert data["facts"]["hostname"] == "vm1" and data["facts"]["init_system"] == "systemd"
    assert {c["name"] for c in data["checks"]} >= {"os", "kernel", "cgroups", "k3s", "init"}
    r = run_cli("doctor", "--port", "22")
    assert r.exit_code == 2 and "go with --host" in r.stderr
    assert os.environ.get("KUBECONFIG")  # hermetic: the local kubeconfig was never read for the remote host


# ------------------------------------------------------------------------------------------------ sudo, kills
@pytest.fixture
def password_user() -> Iterator[User]:
    yield from make_user(ALL)


def test_promote_as_a_user_whose_sudo_needs_a_password(
    group: Vms,
    tmp_path: Path,
    bundle: Path,
    cluster: list[VmCluster],
    password_user: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vm = group.start("vm1", files=vm_files(), users=(password_user.name,))
    group.trust(vm)
    envs = {
        "prod": {
            "profile": "prod",
            "hosts": [{"address": vm.address, "user": password_user.name}],
            "ssh_config": str(group.ssh_config),
        }
    }
    project = make_project(tmp_path / "p", environments=envs)
    cluster.append(VmCluster([vm], origin=tmp_path / "p" / "origin.git"))
    # No terminal and no variable: refused before anything changes, naming the way out.
    r = cli(project, "promote", "prod", "--yes", "--airgap-bundle", str(bundle))
    assert r.exit_code == 1 and "--sudo-password-env" in r.stderr, r.output
    assert not vm.upper("/etc/rancher/k3s").exists()
    monkeypatch.setenv("HOST_SUDO_PW", password_user.password)
    r = cli(
        project,
        "promote",
        "prod",
        "--yes",
        "--push",
        "--airgap-bundle",
        str(bundle),
        "--sudo-password-env",
        "HOST_SUDO_PW",
        "--timeout",
        "120",
    )
    assert r.exit_code == 0, r.output
    assert service_running(vm, "k3s")
    conf = vm.upper("/etc/rancher/k3s/config.yaml.d/50-llmops.yaml")
    assert conf.stat().st_uid == 0 and conf.stat().st_mode & 0o777 == 0o600
    assert password_user.password not in r.output


KILLER = """
import json, sys
from pathlib import Path
from llmops_cli.adapters import upstream
from tests.promote.k3s_standin import installer_sha256
upstream.K3S_INSTALLER_SHA256 = installer_sha256()
from llmops_cli.promote import remote
from tests.promote.conftest import StandInRegistry, VmCluster
from llmops_cli.promote import images
images.registry_client = StandInRegistry
from tests.sshvm import Vm
vms = [Vm(hostname=v["hostname"], dir=Path(v["dir"]), netns="", veth="", address=v["address"], gateway="")
       for v in json.loads(sys.argv[1])]
cluster = VmCluster(vms)
remote.remote_kube_factory = lambda api: (lambda: cluster.kube)
from llmops_cli.__main__ import main
sys.exit(main(sys.argv[2:]))
"""


def test_a_promote_killed_mid_plan_resumes(group: Vms, tmp_path: Path, bundle: Path, cluster: list[VmCluster]) -> None:
    import shutil
    import signal
    import subprocess
    import sys
    import tempfile
    import time

    vms_ = [group.start(n, files=vm_files()) for n in ("vm1", "vm2")]
    for vm in vms_:
        group.trust(vm)
    project = project_for(tmp_path, group, vms_, ["server", "agent"])
    spec = json.dumps([{"hostname": v.hostname, "dir": str(v.dir), "address": v.address} for v in vms_])
    args = ["-c", str(project / "llmops.yaml"), "promote", "prod", "--yes", "--airgap-bundle", str(bundle)]
    repo = Path(__file__).resolve().parents[2]
    # Its private files (ssh control sockets) in a folder the test removes: a killed process cannot. Short: a
    # socket's path has room for about 100 bytes.
    private = tempfile.mkdtemp(prefix="llt-")
    env = {**os.environ, "PYTHONPATH": str(repo), "TMPDIR": private}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLER, spec, *args], env=env, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    token = vms_[1].upper("/etc/rancher/k3s/llmops-join-token")
    state_file = Path(os.environ["XDG_STATE_HOME"]) / "llmops" / "clusters" / "promote-prod" / f"{vms_[1].address}.json"

    def token_step_recorded() -> bool:
        # The token is written before its step is recorded: kill once the record is there (the file is written
        # atomically, so a read sees the whole of it or none).
        try:
            return "write_join_token" in json.loads(state_file.read_text()).get("done", [])
        except (OSError, ValueError):
            return False

    deadline = time.monotonic() + 120
    while not token_step_recorded() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # no handler, no cleanup: as the machine or the OOM killer would
    proc.wait()
    shutil.rmtree(private, ignore_errors=True)
    assert token.exists(), proc.stderr.read().decode() if proc.stderr else ""
    state = json.loads(state_file.read_text())
    assert "write_join_token" in state["done"] and "start_k3s" not in state["done"]
    cluster.append(VmCluster(vms_, origin=tmp_path / "p" / "origin.git"))
    r = cli(project, "promote", "prod", "--yes", "--push", "--airgap-bundle", str(bundle), "--timeout", "120")
    assert r.exit_code == 0, r.output
    assert f"[{vms_[1].address}] write the join token for https://{vms_[0].address}:6443  already done" in r.stderr
    assert service_running(vms_[1], "k3s-agent")
    runs = (vms_[0].read("/var/log/llmops-standin/installer.log") or "").count("run:")
    assert runs == 1  # the first server was finished before the kill: not installed again
