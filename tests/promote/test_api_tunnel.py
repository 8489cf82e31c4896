"""The cluster's API reached through SSH: the first server's API listens on the VM's own 127.0.0.1:6443 only (as
behind a firewall, or on a host reached through a bastion), and promote's cluster steps still reach it, TLS
checked against the cluster's CA, through ``ssh -L``; the tunnel ends with the run, whatever ends the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmops_cli.errors import LlmopsError
from llmops_cli.promote.remote import ConnectOptions, close_hosts, connect_hosts, run_hosts
from llmops_cli.reporting import RecordingReporter
from tests.promote.conftest import VmCluster, connect_env, env_settings, environ_for, plan_for
from tests.promote.k3s_api import (
    K3S_SANS,
    ClusterApi,
    Pki,
    reachable_here,
    serve_in_vm,
    ssh_forwards,
    vm_files_with_api,
)
from tests.sshvm import Vm, Vms, requires_vms

pytestmark = [requires_vms]


def start(group: Vms, names: list[str], pki: Pki) -> list[Vm]:
    out = []
    for name in names:
        vm = group.start(name, files=vm_files_with_api(pki))
        group.trust(vm)
        out.append(vm)
    return out


def plan(settings, hosts, bundle: Path, environ, reporter, api_via: str = "auto"):  # type: ignore[no-untyped-def]
    return plan_for(settings, hosts, None, bundle, environ, reporter, api_via)


def test_cluster_steps_reach_an_api_on_the_first_servers_loopback_through_ssh(
    group: Vms, bundle: Path, tmp_path: Path
) -> None:
    vms_ = start(group, ["vm1", "vm2"], pki := Pki.make((*K3S_SANS, "vm1")))
    settings = env_settings(vms_, ["server", "agent"], ssh_config=str(group.ssh_config))
    cluster = VmCluster(vms_)
    environ = environ_for(tmp_path)
    reporter = RecordingReporter()
    with serve_in_vm(vms_[0], ClusterApi(cluster), pki) as api:
        # This machine cannot open the API: neither at the server's address nor on its own loopback.
        assert not reachable_here(vms_[0].address, 6443)
        hosts = connect_env(group, settings, reporter)
        try:
            cp = plan(settings, hosts, bundle, environ, reporter)
            out = run_hosts(cp, reporter)
            assert cp.api is not None and cp.api.via == "ssh"
            forwards = ssh_forwards(vms_[0].address)
            assert len(forwards) == 1, forwards
            # Host keys are checked on the tunnel's own connection too.
            assert "StrictHostKeyChecking=yes" in forwards[0][1]
        finally:
            close_hosts(hosts)
        assert ssh_forwards(vms_[0].address) == []  # closed with the hosts
    # The bootstrap went through the tunnel to the API inside the VM: Argo CD's Application, both nodes.
    assert any(m == "PATCH" and p.endswith("/applications/llmops-prod") for m, p, _, _ in api.log)
    assert cluster.sim.get("argoproj.io/v1alpha1", "Application", "llmops-prod", "argocd") is not None
    assert sorted(n["metadata"]["name"] for n in cluster.sim.list("v1", "Node")) == ["vm1", "vm2"]
    # The context merged for the user keeps the server's address (tls-san covers it); the note says how to
    # reach it where 6443 is closed.
    from llmops_cli.adapters import kubeconfig

    entry = kubeconfig.find_context("llmops-prod", environ)
    assert entry is not None and entry["clusters"][0]["cluster"]["server"] == f"https://{vms_[0].address}:6443"
    note = next(n for n in out.notes if "ssh -N" in n)
    assert f"-L 127.0.0.1:16443:127.0.0.1:6443 root@{vms_[0].address}" in note
    assert f"-F {group.ssh_config}" in note and "--server https://127.0.0.1:16443" in note


@pytest.mark.parametrize("sans", [("::1", "localhost", "vm1"), ("127.0.0.1", "localhost")])
def test_tls_through_the_tunnel_is_checked_against_the_cluster_ca(
    group: Vms, tmp_path: Path, sans: tuple[str, ...]
) -> None:
    """Through the tunnel the client talks to 127.0.0.1: a serving certificate that does not name it is refused
    (k3s's always does), and so is a server whose certificate another CA signed."""
    from llmops_cli.promote.remote import ApiAccess

    good = Pki.make(sans)
    other = Pki.make(K3S_SANS)
    for served, names_loopback in ((good, "127.0.0.1" in sans), (other, True)):
        [vm] = start(group, [f"vm{len(group.vms) + 1}"], good)
        vm.upper("/etc/rancher/k3s").mkdir(parents=True, exist_ok=True)
        vm.upper("/etc/rancher/k3s/k3s.yaml").write_text(good.k3s_yaml())
        vm.upper("/run/standin-systemd").mkdir(parents=True, exist_ok=True)
        vm.upper("/run/standin-systemd/k3s.active").touch()
        settings = env_settings([vm], ["server"])
        spec = settings.environments["prod"].hosts[0]
        hosts = connect_hosts(
            [spec], ConnectOptions(ssh_config=str(group.ssh_config)), password=None, reporter=RecordingReporter()
        )
        try:
            with serve_in_vm(vm, ClusterApi(VmCluster([vm])), served) as api:
                access = ApiAccess(hosts[vm.address], spec, f"https://{vm.address}:6443", "ssh")
                kube = access.kube_factory()
                if served is good and names_loopback:
                    kube.get("v1", "Namespace", "default")  # answered (found or not): TLS and client cert passed
                    assert api.requests > 0
                else:
                    with pytest.raises(LlmopsError):
                        kube.get("v1", "Namespace", "default")
                    assert api.requests == 0  # the handshake failed: no request reached the API
        finally:
            close_hosts(hosts)
        assert ssh_forwards(vm.address) == []


def test_the_tunnel_ends_when_the_run_fails(group: Vms, bundle: Path, tmp_path: Path) -> None:
    vms_ = start(group, ["vm1"], pki := Pki.make((*K3S_SANS, "vm1")))
    settings = env_settings(vms_, ["server"])
    cluster = VmCluster(vms_)
    reporter = RecordingReporter()
    with serve_in_vm(vms_[0], ClusterApi(cluster), pki):
        hosts = connect_env(group, settings, reporter)
        try:
            cp = plan(settings, hosts, bundle, environ_for(tmp_path), reporter, api_via="ssh")
            real = cp.kube_factory
            calls: list[int] = []

            def interrupted():  # type: ignore[no-untyped-def]
                kube = real()  # the tunnel is open now
                calls.append(1)
                if len(calls) == 1:
                    raise KeyboardInterrupt  # Ctrl-C in the middle of the cluster part
                return kube

            cp.kube_factory = interrupted
            with pytest.raises(KeyboardInterrupt):
                run_hosts(cp, reporter)
            assert len(ssh_forwards(vms_[0].address)) == 1
        finally:
            close_hosts(hosts)
        assert ssh_forwards(vms_[0].address) == []


CLI = """
import sys
from llmops_cli.adapters import upstream
from tests.promote.k3s_standin import installer_sha256
upstream.K3S_INSTALLER_SHA256 = installer_sha256()
from llmops_cli.promote import images
from tests.promote.conftest import StandInRegistry
images.registry_client = StandInRegistry  # as the autouse fixture does in-process: no registry lookups here
from llmops_cli.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("sig", ["SIGINT", "SIGKILL"])
def test_an_interrupted_or_killed_promote_leaves_no_tunnel(group: Vms, bundle: Path, tmp_path: Path, sig: str) -> None:
    """`llmops promote` as its own process, stopped while its tunnel comes up or is open: by SIGINT to it alone (a
    Ctrl-C its ssh child does not see), it cleans up and exits 130; by SIGKILL (no cleanup at all), its ssh ends
    by itself, its lifeline pipe closed."""
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import tempfile
    import time

    from tests.promote.project import make_project

    [vm] = start(group, ["vm1"], pki := Pki.make((*K3S_SANS, "vm1")))
    envs = {"prod": {"profile": "prod", "hosts": [{"address": vm.address}], "ssh_config": str(group.ssh_config)}}
    project = make_project(tmp_path / "p", environments=envs)
    args = ["-c", str(project / "llmops.yaml"), "promote", "prod", "--yes", "--airgap-bundle", str(bundle)]
    repo = Path(__file__).resolve().parents[2]
    private = tempfile.mkdtemp(prefix="llt-")  # its ssh control sockets: a killed process cannot remove them
    env = {**os.environ, "PYTHONPATH": str(repo), "TMPDIR": private, **environ_for(tmp_path)}
    try:
        with serve_in_vm(vm, ClusterApi(VmCluster([vm])), pki):
            proc = subprocess.Popen(
                [sys.executable, "-c", CLI, *args], env=env, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            try:
                deadline = time.monotonic() + 120
                while not ssh_forwards(vm.address) and proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert ssh_forwards(vm.address), proc.communicate(timeout=30)
                proc.send_signal(getattr(signal, sig))
                _, err = proc.communicate(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            deadline = time.monotonic() + 20
            while ssh_forwards(vm.address) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert ssh_forwards(vm.address) == []
        if sig == "SIGINT":
            assert proc.returncode == 130, err.decode()
            assert time.monotonic() < deadline  # cleaned up by promote itself, at once
    finally:
        shutil.rmtree(private, ignore_errors=True)


def test_a_server_behind_a_bastion_is_bootstrapped_through_proxyjump(group: Vms, bundle: Path, tmp_path: Path) -> None:
    """The first server is reachable only through a bastion (``ProxyJump`` in the user's ssh config, under an
    alias): its plan runs over SSH through the bastion, and so does the tunnel to its API."""
    from llmops_cli.config.model import Settings
    from tests.promote.conftest import REPO_URL

    pki = Pki.make((*K3S_SANS, "vm-private"))
    bastion = group.start("bastion")
    group.trust(bastion)
    inner = group.start("vm-private", behind=bastion, files=vm_files_with_api(pki))
    group.trust(inner)
    with group.ssh_config.open("a") as fh:
        fh.write(f"Host private-vm\n  HostName {inner.address}\n  User root\n  ProxyJump root@{bastion.address}\n")
    settings = Settings.model_validate(
        {
            "gitops": {"repo_url": REPO_URL},
            "environments": {
                "prod": {"profile": "prod", "hosts": [{"address": "private-vm"}], "ssh_config": str(group.ssh_config)}
            },
        }
    )
    cluster = VmCluster([inner])
    reporter = RecordingReporter()
    with serve_in_vm(inner, ClusterApi(cluster), pki):
        hosts = connect_env(group, settings, reporter)
        try:
            out = run_hosts(plan(settings, hosts, bundle, environ_for(tmp_path), reporter), reporter)
            [(_, cmdline)] = ssh_forwards("private-vm")
            assert f"-F {group.ssh_config}" in cmdline  # the user's config: its ProxyJump
        finally:
            close_hosts(hosts)
    assert ssh_forwards("private-vm") == []
    assert cluster.sim.get("argoproj.io/v1alpha1", "Application", "llmops-prod", "argocd") is not None
    assert any("ssh -N -F" in n and "private-vm" in n for n in out.notes)
