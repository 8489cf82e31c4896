"""SshHost against real OpenSSH servers in network namespaces (tests/sshvm.py): host keys, commands, files,
uploads, and sudo with and without a password as a throwaway user."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmops_cli.adapters.hosts import SudoPasswordRejected
from llmops_cli.adapters.ssh import HostKeyChanged, HostKeyUnknown, SshHost, SshTarget, connect
from llmops_cli.errors import CommandFailed, LlmopsError, RemoteError
from tests.sshvm import Vm, Vms, requires_vms, vms
from tests.sudouser import ALL, NOPASSWD, User, make_user

pytestmark = [requires_vms]


@pytest.fixture
def group(tmp_path: Path) -> Iterator[Vms]:
    with vms(tmp_path) as g:
        yield g


@pytest.fixture
def vm(group: Vms) -> Vm:
    return group.start("vm1")


def target(group: Vms, vm: Vm, user: str = "root", **kw: object) -> SshTarget:
    return SshTarget(vm.address, user=user, config=str(group.ssh_config), **kw)  # type: ignore[arg-type]


@pytest.fixture
def root_host(group: Vms, vm: Vm) -> Iterator[SshHost]:
    group.trust(vm)
    with connect(target(group, vm)) as host:
        yield host


# ----------------------------------------------------------------------------------------------- host keys
def test_an_unknown_host_key_is_refused_with_its_fingerprint_and_the_flag(group: Vms, vm: Vm) -> None:
    with pytest.raises(HostKeyUnknown) as e:
        connect(target(group, vm))
    assert vm.fingerprint() in str(e.value)
    assert "--accept-new-host-key" in str(e.value)
    assert group.known_hosts.read_text() == ""  # nothing was recorded


def test_accepting_a_new_key_records_it_and_later_connections_check_it(group: Vms, vm: Vm) -> None:
    said: list[str] = []
    with connect(target(group, vm, accept_new_host_key=True), on_new_key=said.append) as host:
        assert host.run(["hostname"]).stdout.strip() == "vm1"
    assert said and vm.fingerprint() in said[0]
    assert vm.host_pub.split()[1] in group.known_hosts.read_text()
    with connect(target(group, vm)) as host:  # strict from now on: the recorded key matches
        assert host.is_root


def test_a_changed_host_key_is_refused_even_with_the_flag(group: Vms, vm: Vm) -> None:
    group.trust(vm)
    with connect(target(group, vm)):
        pass
    vm.new_host_key()
    for accept in (False, True):
        with pytest.raises(HostKeyChanged) as e:
            connect(target(group, vm, accept_new_host_key=accept))
        assert vm.fingerprint() in str(e.value)
        assert "ssh-keygen -R" in str(e.value)


def test_the_users_ssh_config_is_read(group: Vms, vm: Vm) -> None:
    group.trust(vm)
    with group.ssh_config.open("a") as fh:
        fh.write(f"Host first-vm\n  HostName {vm.address}\n  User root\n  HostKeyAlias {vm.address}\n")
    with connect(SshTarget("first-vm", config=str(group.ssh_config))) as host:
        assert host.run(["hostname"]).stdout.strip() == "vm1"


def behind_a_bastion(group: Vms, bastion: Vm) -> Vm:
    """A VM reachable only from ``bastion``, known to the ssh config as ``private-vm`` with a ProxyJump."""
    inner = group.start("vm-private", behind=bastion)
    group.trust(bastion)
    group.trust(inner)
    with group.ssh_config.open("a") as fh:
        fh.write(f"Host private-vm\n  HostName {inner.address}\n  User root\n  ProxyJump root@{bastion.address}\n")
    return inner


def test_proxyjump_from_the_users_ssh_config_reaches_a_private_host(group: Vms, vm: Vm) -> None:
    inner = behind_a_bastion(group, vm)
    import subprocess

    # Its network exists only inside the first VM: this machine has no address on it.
    assert inner.gateway not in subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    with connect(SshTarget("private-vm", config=str(group.ssh_config))) as host:
        assert host.run(["hostname"]).stdout.strip() == "vm-private"


def test_a_host_without_sshd_is_a_clear_error(group: Vms, vm: Vm) -> None:
    with pytest.raises(RemoteError, match="cannot connect.*(refused|Connection)"):
        connect(target(group, vm, port=2222))


# ----------------------------------------------------------------------------------------------- commands
def test_a_failing_remote_command_surfaces_its_stderr(root_host: SshHost) -> None:
    with pytest.raises(CommandFailed) as e:
        root_host.run(["sh", "-c", "echo 'the disk is full' >&2; exit 7"])
    assert e.value.returncode == 7
    assert "the disk is full" in str(e.value) and root_host.name in str(e.value)
    r = root_host.run(["ls", "--", "/nonexistent"], check=False)
    assert r.returncode == 2 and "No such file" in r.stderr


def test_arguments_reach_the_remote_command_unchanged(root_host: SshHost) -> None:
    tricky = ["a b", "$(id)", "'q'", '"dq"', "x;y", "*", "\\n"]
    out = root_host.run(["printf", "%s\\n", *tricky]).stdout
    assert out.splitlines() == tricky


def test_environment_values_never_appear_in_a_process_list(root_host: SshHost) -> None:
    secret = f"s3cr3t-{os.getpid()}"
    r = root_host.run(["sh", "-c", 'printf "%s\\n" "$TOKEN"; ps -eo args'], env={"TOKEN": secret})
    lines = r.stdout.splitlines()
    assert lines[0] == secret
    assert not any(secret in ln for ln in lines[1:])


def test_files_are_written_atomically_with_their_mode_and_read_back(root_host: SshHost, vm: Vm) -> None:
    path = "/etc/rancher/k3s/config.yaml.d/50-llmops.yaml"
    assert root_host.read_text(path) is None and not root_host.exists(path)
    root_host.write_text(path, "node-ip: 10.0.0.5\n", mode=0o600)
    assert root_host.exists(path)
    assert root_host.read_text(path) == "node-ip: 10.0.0.5\n"
    assert vm.upper(path).stat().st_mode & 0o777 == 0o600
    assert not Path(path).exists()  # on the VM only
    siblings = sorted(p.name for p in vm.upper(path).parent.iterdir())
    assert siblings == ["50-llmops.yaml"]  # no temp file left
    root_host.remove(path)
    assert root_host.read_text(path) is None


def test_uploads_arrive_whole(root_host: SshHost, tmp_path: Path) -> None:
    blob = tmp_path / "k3s-airgap-images-amd64.tar.zst"
    data = os.urandom(3 * 1024 * 1024 + 17)
    blob.write_bytes(data)
    remote = root_host.stage(str(blob))
    assert root_host.stage(str(blob)) == remote  # once per session
    out = root_host.run(["sha256sum", "--", remote]).stdout
    assert out.split()[0] == hashlib.sha256(data).hexdigest()
    mode = root_host.run(["stat", "-c", "%a", root_host.run(["dirname", remote]).stdout.strip()]).stdout.strip()
    assert mode == "700"


def test_closing_removes_the_private_directory(group: Vms, vm: Vm, tmp_path: Path) -> None:
    group.trust(vm)
    host = connect(target(group, vm))
    blob = tmp_path / "f.bin"
    blob.write_bytes(b"x")
    remote = host.stage(str(blob))
    host.close()
    assert not Path(remote).parent.exists()  # /tmp is shared with the VM


# ----------------------------------------------------------------------------------------------- sudo
@pytest.fixture
def password_user() -> Iterator[User]:
    yield from make_user(ALL)


@pytest.fixture
def nopasswd_user() -> Iterator[User]:
    yield from make_user(NOPASSWD)


def user_host(group: Vms, user: User, password: str | None) -> SshHost:
    # Created before the VM starts (its /etc is an overlay of this machine's).
    vm = group.start("vm-sudo", users=(user.name,))
    group.trust(vm)
    return connect(target(group, vm, user=user.name), password_provider=(lambda: password) if password else None)


def test_sudo_with_a_password_asks_once_and_the_password_stays_hidden(group: Vms, password_user: User) -> None:
    asked: list[int] = []

    def provider() -> str:
        asked.append(1)
        return password_user.password

    vm = group.start("vm-sudo", users=(password_user.name,))
    group.trust(vm)
    with connect(target(group, vm, user=password_user.name), password_provider=provider) as host:
        assert not host.is_root and host.sudo.mode == "password"
        assert host.run(["id", "-u"], privileged=True).stdout.strip() == "0"
        # Every process on the VM while a privileged command runs: the password in none of them.
        listing = host.run(["ps", "-eo", "args"], privileged=True).stdout
        assert password_user.password not in listing
        # sudo has cached the credentials: `cat` must still not read the password from anywhere.
        assert host.run(["cat"], privileged=True).stdout == ""
        host.write_text("/etc/rancher/k3s/llmops-join-token", "K10abc::server:xyz\n", mode=0o600, privileged=True)
        assert vm.upper("/etc/rancher/k3s/llmops-join-token").stat().st_uid == 0
        assert host.read_text("/etc/rancher/k3s/llmops-join-token", privileged=True) == "K10abc::server:xyz\n"
        private = host._private_dir()
        assert host.run(["find", private, "-type", "f"]).stdout == ""  # no password file outlives its command
    assert asked == [1]


def test_a_wrong_sudo_password_is_rejected(group: Vms, password_user: User) -> None:
    with user_host(group, password_user, "not-" + password_user.password) as host:
        with pytest.raises(SudoPasswordRejected):
            host.run(["true"], privileged=True)


def test_sudo_that_needs_a_password_without_a_terminal_names_the_way_out(group: Vms, password_user: User) -> None:
    with user_host(group, password_user, None) as host:
        with pytest.raises(LlmopsError, match="no terminal") as e:
            host.run(["true"], privileged=True)
        assert e.value.code == "sudo_password" and "--sudo-password-env" in str(e.value)


def test_passwordless_sudo(group: Vms, nopasswd_user: User) -> None:
    with user_host(group, nopasswd_user, None) as host:
        assert host.sudo.mode == "passwordless"
        assert host.run(["id", "-u"], privileged=True).stdout.strip() == "0"
        host.run(["install", "-d", "-m", "0700", "/var/lib/rancher/k3s/server"], privileged=True)
        host.write_text("/var/lib/rancher/k3s/server/token", "K10x::server:y\n", mode=0o600, privileged=True)
        # The user cannot enter the folder; exists() asks as root.
        assert host.exists("/var/lib/rancher/k3s/server/token")
        assert not host.exists("/var/lib/rancher/k3s/server/nothing")


def test_a_deep_tmpdir_does_not_break_the_shared_connection(
    group: Vms, vm: Vm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 40)
    deep.mkdir(parents=True)
    monkeypatch.setenv("TMPDIR", str(deep))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    group.trust(vm)
    with connect(target(group, vm)) as host:  # ssh refuses a ControlPath of 108 bytes or more
        assert host.run(["true"]).ok


def test_a_command_past_its_timeout_is_stopped_and_the_host_stays_usable(root_host: SshHost) -> None:
    import time

    # The open shell (its watchdog ends the shell), and a command with input (its own ssh session, killed).
    for argv, given in ((["sleep", "30"], None), (["sh", "-c", "cat >/dev/null; sleep 30"], "x")):
        t0 = time.monotonic()
        r = root_host.run(argv, check=False, timeout=1.0, input=given)
        assert r.returncode == -1 and "timed out" in r.stderr, r
        assert time.monotonic() - t0 < 10
        assert root_host.run(["echo", "still here"]).stdout == "still here\n"


# ----------------------------------------------------------------------------------------------- forwards
def _serve(listener: object, reply: bytes) -> None:
    import socket
    import threading

    assert isinstance(listener, socket.socket)

    def run() -> None:  # every connection (the forward's own readiness check is one) gets the reply
        with listener:
            while True:
                conn, _ = listener.accept()
                with conn:
                    conn.sendall(reply)

    threading.Thread(target=run, daemon=True).start()


def _read_from(port: int) -> bytes:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        return s.recv(100)


def _ssh_pids(destination: str) -> list[int]:
    from tests.promote.k3s_api import ssh_forwards

    return [pid for pid, _ in ssh_forwards(destination, "127.0.0.1:6443")]


def test_a_forward_reaches_a_port_only_the_host_itself_can_open_and_ends_with_the_host(
    group: Vms, vm: Vm, root_host: SshHost
) -> None:
    _serve(vm.listen(6443), b"inside vm1\n")
    fwd = root_host.forward(6443)
    assert fwd.alive and _ssh_pids(vm.address) == [fwd.pid]
    assert _read_from(fwd.port) == b"inside vm1\n"
    root_host.close()
    assert not fwd.alive and _ssh_pids(vm.address) == []


def test_a_forward_checks_the_host_key_too(group: Vms, vm: Vm, root_host: SshHost) -> None:
    vm.new_host_key()  # the host was rebuilt (or is someone else) after the connection was opened
    with pytest.raises(HostKeyChanged):
        root_host.forward(6443)
    assert _ssh_pids(vm.address) == []


def test_a_forward_through_proxyjump_reaches_a_private_hosts_loopback(group: Vms, vm: Vm) -> None:
    inner = behind_a_bastion(group, vm)
    _serve(inner.listen(6443), b"inside the private vm\n")
    with connect(SshTarget("private-vm", config=str(group.ssh_config))) as host:
        fwd = host.forward(6443)
        assert _read_from(fwd.port) == b"inside the private vm\n"
    assert not fwd.alive
