"""The cluster part of `promote` over real SSH on stand-in VMs: the plan `up` runs, per host, by role."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from llmops_cli.adapters import kubeconfig
from llmops_cli.cluster.model import UpOptions
from llmops_cli.cluster.up import inspect_airgap_bundle
from llmops_cli.promote.remote import ConnectOptions, close_hosts, connect_hosts, plan_cluster, run_hosts, run_waits
from llmops_cli.reporting import RecordingReporter
from tests.cluster.fakes import FakeClock
from tests.promote.conftest import REPO_URL, VmCluster, env_settings, service_running, start_vms
from tests.sshvm import Vm, Vms, requires_vms

pytestmark = [requires_vms]


def installer_runs(vm: Vm) -> list[str]:
    text = vm.read("/var/log/llmops-standin/installer.log") or ""
    return [ln for ln in text.splitlines() if ln.startswith("run:")]


def plan(settings, hosts, cluster: VmCluster, bundle: Path, environ, reporter):  # type: ignore[no-untyped-def]
    cp = plan_cluster(
        settings,
        "prod",
        hosts,
        options=UpOptions(timeout=120, airgap=inspect_airgap_bundle(bundle)),
        environ=environ,
        reporter=reporter,
        kube_factory=lambda: cluster.kube,
    )
    clock = FakeClock()
    cp.sleep, cp.clock = clock.sleep, clock.now
    return cp


def test_three_hosts_get_k3s_by_role_and_join_the_first_server(group: Vms, bundle: Path, tmp_path: Path) -> None:
    vms_ = start_vms(group, ["vm1", "vm2", "vm3"])
    settings = env_settings(vms_, ["server", "server", "agent"])
    environ = {"KUBECONFIG": str(tmp_path / "kubeconfig"), "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path)}
    cluster = VmCluster(vms_)
    reporter = RecordingReporter()
    opts = ConnectOptions(ssh_config=str(group.ssh_config))
    hosts = connect_hosts(settings.environments["prod"].hosts, opts, password=None, reporter=reporter)
    try:
        cp = plan(settings, hosts, cluster, bundle, environ, reporter)
        assert [n.role.kind for n in cp.nodes] == ["init", "server", "agent"]
        assert "2 servers" in cp.warnings[0]
        run = run_hosts(cp, reporter)
    finally:
        close_hosts(hosts)
    vm1, vm2, vm3 = vms_
    # The first server: its own config (cluster-init for HA, tls-san = every server's address), installed as a
    # server from the uploaded bundle.
    first = yaml.safe_load(vm1.read("/etc/rancher/k3s/config.yaml.d/50-llmops.yaml") or "")
    assert first["cluster-init"] is True
    assert first["tls-san+"] == [vm1.address, vm2.address]
    assert "server" not in first and "token-file" not in first
    assert installer_runs(vm1) == ["run: "]  # no arguments: install.sh's default command, server
    assert service_running(vm1, "k3s")
    # A server that joins: server URL and token file in its drop-in; its token is the first server's.
    second = yaml.safe_load(vm2.read("/etc/rancher/k3s/config.yaml.d/50-llmops.yaml") or "")
    assert second["server"] == f"https://{vm1.address}:6443"
    assert second["token-file"] == "/etc/rancher/k3s/llmops-join-token"
    token = vm1.read("/var/lib/rancher/k3s/server/token")
    assert token and vm2.read("/etc/rancher/k3s/llmops-join-token") == token
    assert vm2.upper("/etc/rancher/k3s/llmops-join-token").stat().st_mode & 0o777 == 0o600
    assert service_running(vm2, "k3s")
    # The agent: node settings only, installed as `agent` (service k3s-agent), the same token.
    third = yaml.safe_load(vm3.read("/etc/rancher/k3s/config.yaml.d/50-llmops.yaml") or "")
    assert set(third) <= {"server", "token-file", "node-label+", "node-ip"}
    assert installer_runs(vm3) == ["run: agent"]
    assert vm3.read("/etc/rancher/k3s/llmops-join-token") == token
    assert service_running(vm3, "k3s-agent") and not service_running(vm3, "k3s")
    assert vm3.read("/etc/systemd/system/k3s-agent.service") is not None
    # The token never travelled on a command line or into a service environment or the state files.
    secret = token.split("::server:")[1].strip()
    for vm in vms_:
        for f in ("/var/log/llmops-standin/installer.log", "/var/log/llmops-standin/systemctl.log"):
            assert secret not in (vm.read(f) or "")
        for unit in ("k3s", "k3s-agent"):
            assert secret not in (vm.read(f"/etc/systemd/system/{unit}.service.env") or "")
    for state in (tmp_path / "llmops" / "clusters" / "promote-prod").glob("*.json"):
        assert secret not in state.read_text()
    # Every node joined the cluster; the kubeconfig names the first server's address (parsed, not replaced).
    assert sorted(n["metadata"]["name"] for n in cluster.sim.list("v1", "Node")) == ["vm1", "vm2", "vm3"]
    entry = kubeconfig.find_context("llmops-prod", environ)
    assert entry is not None and entry["clusters"][0]["cluster"]["server"] == f"https://{vm1.address}:6443"
    assert (tmp_path / "kubeconfig").stat().st_mode & 0o777 == 0o600
    # Progress lines name their host; the joining hosts ran their own plans.
    steps = [e[1] for e in reporter.events if e[0] == "step"]
    assert any(s.startswith(f"[{vm2.address}] install k3s") for s in steps)
    assert any(s.startswith(f"[{vm3.address}] wait for node vm3 to join") for s in steps)
    assert set(run.runs) == {vm1.address, vm2.address, vm3.address}
    # Argo CD and the root Application are on the first server's cluster.
    assert cluster.sim.get("argoproj.io/v1alpha1", "Application", "llmops-prod", "argocd") is not None


def test_a_run_killed_mid_plan_resumes_where_it_stopped(group: Vms, bundle: Path, tmp_path: Path) -> None:
    vms_ = start_vms(group, ["vm1", "vm2"])
    settings = env_settings(vms_, ["server", "agent"])
    environ = {"KUBECONFIG": str(tmp_path / "kubeconfig"), "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path)}
    cluster = VmCluster(vms_)
    opts = ConnectOptions(ssh_config=str(group.ssh_config))
    # The agent's host dies in the middle of its plan: its sshd goes away after the token was written.
    reporter = RecordingReporter()
    hosts = connect_hosts(settings.environments["prod"].hosts, opts, password=None, reporter=reporter)
    try:
        cp = plan(settings, hosts, cluster, bundle, environ, reporter)
        agent = cp.nodes[1]
        real_run = agent.host.run

        def dies_at_the_installer(argv, **kw):  # type: ignore[no-untyped-def]
            if argv[:1] == ["sh"] and any("install.sh" in a for a in argv):
                vms_[1]._stop_sshd()
            return real_run(argv, **kw)

        agent.host.run = dies_at_the_installer  # type: ignore[method-assign]
        with pytest.raises(Exception):
            run_hosts(cp, reporter)
    finally:
        close_hosts(hosts)
    state = tmp_path / "llmops" / "clusters" / "promote-prod" / f"{vms_[1].address}.json"
    assert '"failed": "install_k3s"' in state.read_text()
    assert not service_running(vms_[1], "k3s-agent")
    vms_[1]._start_sshd()
    reporter = RecordingReporter()
    hosts = connect_hosts(settings.environments["prod"].hosts, opts, password=None, reporter=reporter)
    try:
        cp = plan(settings, hosts, cluster, bundle, environ, reporter)
        run_hosts(cp, reporter)
    finally:
        close_hosts(hosts)
    assert any(
        e == ("info", f"[{vms_[1].address}] resuming: the previous run stopped at step install_k3s")
        for e in reporter.events
    )
    assert service_running(vms_[1], "k3s-agent")
    # The first server was done: its installer ran once, in the first run only.
    assert installer_runs(vms_[0]) == ["run: "]
    first = [(e[1], e[2]) for e in reporter.events if e[0] == "step" and e[1].startswith(f"[{vms_[0].address}]")]
    assert (f"[{vms_[0].address}] adopt existing k3s {settings.cluster.k3s_version}", "ok") in first
    # Its cluster part had not run (the agent failed first): it runs now.
    assert (f"[{vms_[0].address}] apply the AppProject and root Application (app of apps)", "changed") in first


def test_waits_need_the_release_in_git(group: Vms, bundle: Path, tmp_path: Path) -> None:
    from llmops_cli.render.api import render_environment

    vms_ = start_vms(group, ["vm1"])
    settings = env_settings(vms_, ["server"])
    environ = {"KUBECONFIG": str(tmp_path / "kubeconfig"), "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path)}
    cluster = VmCluster(vms_)
    reporter = RecordingReporter()
    hosts = connect_hosts(
        settings.environments["prod"].hosts,
        ConnectOptions(ssh_config=str(group.ssh_config)),
        password=None,
        reporter=reporter,
    )
    try:
        cp = plan(settings, hosts, cluster, bundle, environ, reporter)
        out = run_hosts(cp, reporter)
        tree = render_environment(cp.settings, "prod", gpu=False)
        cluster.sim.remote_trees[REPO_URL] = {f"manifests/prod/{k}": v for k, v in tree.items()}
        run_waits(cp, reporter, out)
    finally:
        close_hosts(hosts)
    assert out.results["applications"]["llmops-prod"] == "Synced/Healthy"
    assert re.search("argo-cd", " ".join(out.results["applications"]))


def test_the_sudo_password_is_asked_once_for_every_host(group: Vms) -> None:
    from llmops_cli.promote.remote import SharedPassword
    from tests.sudouser import ALL, make_user

    users = make_user(ALL)
    user = next(users)
    try:
        vms_ = start_vms(group, ["vm1", "vm2"], users=(user.name,))
        settings = env_settings(vms_, ["server", "agent"], user=user.name)
        asked: list[int] = []

        def ask() -> str:
            asked.append(1)
            return user.password

        hosts = connect_hosts(
            settings.environments["prod"].hosts,
            ConnectOptions(ssh_config=str(group.ssh_config)),
            password=SharedPassword(ask).available,
            reporter=RecordingReporter(),
        )
        try:
            for host in hosts.values():
                assert host.run(["id", "-u"], privileged=True).stdout.strip() == "0"
        finally:
            close_hosts(hosts)
        assert asked == [1]
    finally:
        users.close()
