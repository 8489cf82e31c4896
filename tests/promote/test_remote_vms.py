"""The cluster part of `promote` over real SSH on stand-in VMs: the plan `up` runs, per host, by role."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from llmops_cli.adapters import kubeconfig
from llmops_cli.promote.remote import ConnectOptions, close_hosts, connect_hosts, run_hosts, run_waits
from llmops_cli.reporting import RecordingReporter
from tests.promote.conftest import (
    REPO_URL,
    VmCluster,
    connect_env,
    env_settings,
    environ_for,
    kill_at_installer,
    plan_for,
    service_running,
    start_vms,
)
from tests.sshvm import Vm, Vms, requires_vms

pytestmark = [requires_vms]


def installer_runs(vm: Vm) -> list[str]:
    text = vm.read("/var/log/llmops-standin/installer.log") or ""
    return [ln for ln in text.splitlines() if ln.startswith("run:")]


def plan(settings, hosts, cluster: VmCluster, bundle: Path, environ, reporter):  # type: ignore[no-untyped-def]
    return plan_for(settings, hosts, cluster, bundle, environ, reporter)


def test_three_hosts_get_k3s_by_role_and_join_the_first_server(group: Vms, bundle: Path, tmp_path: Path) -> None:
    vms_ = start_vms(group, ["vm1", "vm2", "vm3"])
    settings = env_settings(vms_, ["server", "server", "agent"])
    environ = environ_for(tmp_path)
    cluster = VmCluster(vms_)
    reporter = RecordingReporter()
    hosts = connect_env(group, settings, reporter)
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
    environ = environ_for(tmp_path)
    cluster = VmCluster(vms_)
    # The agent's host dies in the middle of its plan: its sshd goes away after the token was written.
    reporter = RecordingReporter()
    hosts = connect_env(group, settings, reporter)
    try:
        cp = plan(settings, hosts, cluster, bundle, environ, reporter)
        kill_at_installer(cp.nodes[1], vms_[1])
        with pytest.raises(Exception):
            run_hosts(cp, reporter)
    finally:
        close_hosts(hosts)
    state = tmp_path / "llmops" / "clusters" / "promote-prod" / f"{vms_[1].address}.json"
    assert '"failed": "install_k3s"' in state.read_text()
    assert not service_running(vms_[1], "k3s-agent")
    vms_[1]._start_sshd()
    reporter = RecordingReporter()
    hosts = connect_env(group, settings, reporter)
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
    environ = environ_for(tmp_path)
    cluster = VmCluster(vms_)
    reporter = RecordingReporter()
    hosts = connect_env(group, settings, reporter)
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


def started_at(vm: Vm, unit: str) -> int:
    return int((vm.read(f"/run/standin-systemd/{unit}.started") or "0").strip() or 0)


def installed_at(vm: Vm) -> int:
    return int((vm.read("/var/log/llmops-standin/installer.at") or "0").strip() or 0)


def test_three_servers_form_an_ha_cluster_one_join_at_a_time_and_a_killed_run_resumes_per_host(
    group: Vms, bundle: Path, tmp_path: Path
) -> None:
    """Embedded etcd with three servers (k3s-io/k3s pkg/cli/cmds/server.go: ``cluster-init`` "Initialize a new
    cluster using embedded Etcd"; ``server`` "Server to connect to, used to join a cluster"; ``token-file``):
    the first server initialises, the others join it with the token read over SSH, each once the one before is
    up (k3s adds a joining server to etcd as a learner, pkg/etcd/etcd.go ``join``), the agent beside them."""
    vms_ = start_vms(group, ["vm1", "vm2", "vm3", "vm4"])
    vm1, vm2, vm3, vm4 = vms_
    settings = env_settings(vms_, ["server", "server", "server", "agent"])
    environ = environ_for(tmp_path)
    cluster = VmCluster(vms_)
    # The third server's host dies at its installer: the first two servers and the agent are done by then.
    reporter = RecordingReporter()
    hosts = connect_env(group, settings, reporter)
    try:
        cp = plan(settings, hosts, cluster, bundle, environ, reporter)
        assert [n.role.kind for n in cp.nodes] == ["init", "server", "server", "agent"]
        assert cp.warnings == []  # three servers keep a majority when one is lost
        third_began: list[int] = []
        kill_at_installer(cp.nodes[2], vm3, third_began)
        with pytest.raises(Exception):
            run_hosts(cp, reporter)
    finally:
        close_hosts(hosts)
    vm3._start_sshd()  # the machine is back (its files are as the killed run left them)
    # Each server's drop-in: the first initialises etcd with every server's address as a SAN; the others join it.
    first = yaml.safe_load(vm1.read("/etc/rancher/k3s/config.yaml.d/50-llmops.yaml") or "")
    assert first["cluster-init"] is True and first["tls-san+"] == [vm1.address, vm2.address, vm3.address]
    assert vm1.upper("/var/lib/rancher/k3s/server/db/etcd").is_dir()
    for vm in (vm2, vm3):
        conf = yaml.safe_load(vm.read("/etc/rancher/k3s/config.yaml.d/50-llmops.yaml") or "")
        assert conf["server"] == f"https://{vm1.address}:6443" and "cluster-init" not in conf
        assert conf["token-file"] == "/etc/rancher/k3s/llmops-join-token"
    assert service_running(vm2, "k3s") and service_running(vm4, "k3s-agent")
    assert not service_running(vm3, "k3s")
    # Order: the first server ran before anyone joined; the second server was up before the third began.
    assert started_at(vm1, "k3s") < min(installed_at(vm2), installed_at(vm4))
    assert third_began and started_at(vm2, "k3s") < third_began[0]
    # The token reached every joining node through files only: never an argument or a service's environment.
    token = vm1.read("/var/lib/rancher/k3s/server/token") or ""
    secret = token.split("::server:")[1].strip()
    for vm in vms_:
        for f in ("/var/log/llmops-standin/installer.log", "/var/log/llmops-standin/systemctl.log"):
            assert secret not in (vm.read(f) or "")
        assert secret not in (vm.read("/etc/systemd/system/k3s.service.env") or "")
    state = tmp_path / "llmops" / "clusters" / "promote-prod"
    assert '"failed": "install_k3s"' in (state / f"{vm3.address}.json").read_text()
    # The run again: the third server resumes at its installer; the others are adopted, not installed again.
    reporter = RecordingReporter()
    hosts = connect_env(group, settings, reporter)
    try:
        run_hosts(plan(settings, hosts, cluster, bundle, environ, reporter), reporter)
    finally:
        close_hosts(hosts)
    assert ("info", f"[{vm3.address}] resuming: the previous run stopped at step install_k3s") in reporter.events
    assert service_running(vm3, "k3s")
    assert [len(installer_runs(vm)) for vm in vms_] == [1, 1, 1, 1]  # vm3: its one run, in the second
    assert vm3.read("/etc/rancher/k3s/llmops-join-token") == token
    assert sorted(n["metadata"]["name"] for n in cluster.sim.list("v1", "Node")) == ["vm1", "vm2", "vm3", "vm4"]
