"""Stand-ins for cloud VMs: a real OpenSSH server in its own network namespace, with its own hostname and a
private view of /etc, /var, /usr/local and /run (overlay mounts), so that what `promote` installs on one "VM"
never lands on this machine or on another VM.

Each VM is ``ip netns`` + a veth pair on a 10.200.X.0/24 subnet chosen free at start (other helpers run tests
at the same time: names carry the PID and a random suffix), then ``unshare --mount --uts`` with overlays whose
upper directories live under the test's tmp dir (a test reads what the VM wrote there), then ``sshd -D``.
``stop()`` kills the server and its sessions and deletes the namespace; nothing is left behind.

The VM can also carry stand-ins for what a cloud image has and this machine does not: an init system
(``systemctl``, recording what it is asked and keeping each unit's state in /run) and, for `promote`'s tests, a
k3s installer that records the arguments and environment it was run with (see tests/promote/k3s_standin.py).
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

OVERLAID = ("/etc", "/var", "/usr/local", "/run")

# Runs inside the new mount + UTS namespace: private overlays, hostname, an /etc/hosts line, then sshd. Fixed
# text; the values come in as arguments ($1 = VM dir, $2 = hostname, $3 = address, $4 = systemd marker).
VM_INIT = r"""set -eu
d=$1
for p in etc var usr_local run; do
  case $p in usr_local) target=/usr/local ;; *) target=/$p ;; esac
  mkdir -p "$d/upper/$p" "$d/work/$p"
  mount -t overlay overlay -o "lowerdir=$target,upperdir=$d/upper/$p,workdir=$d/work/$p" "$target"
done
hostname "$2"
printf '%s %s\n' "$3" "$2" >> /etc/hosts
mkdir -p /run/sshd
if [ "$4" = systemd ]; then mkdir -p /run/systemd/system; fi
exec /usr/sbin/sshd -D -f "$d/sshd_config" -E "$d/sshd.log"
"""

SSHD_CONFIG = """\
Port 22
ListenAddress {address}
HostKey {dir}/host_ed25519
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys/%u %h/.ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
# Sessions' temporary files on the VM's own /var (an overlay under the test's tmp dir), not this machine's /tmp.
SetEnv TMPDIR=/var/tmp
"""


def _run(*argv: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check, timeout=60, input=input)


def usable() -> str | None:
    """Why VMs cannot run here, or None."""
    if os.geteuid() != 0:
        return "network namespaces and mounts need root"
    for tool in ("ip", "unshare", "nsenter", "ssh", "ssh-keygen", "scp"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (.ci/system-deps.sh installs openssh-client and iproute2)"
    if not Path("/usr/sbin/sshd").exists():
        return "sshd is not installed (.ci/system-deps.sh installs openssh-server)"
    return None


requires_vms = pytest.mark.skipif(usable() is not None, reason=str(usable()))


def _used_subnets() -> set[int]:
    out = _run("ip", "-4", "-o", "addr", "show", check=False).stdout
    used = set()
    for word in out.split():
        if word.startswith("10.200."):
            with contextlib.suppress(ValueError, IndexError):
                used.add(int(word.split(".")[2]))
    return used


@dataclass
class Vm:
    """One running "VM". ``address`` is where its sshd listens (port 22 inside its namespace)."""

    hostname: str
    dir: Path
    netns: str
    veth: str
    address: str
    gateway: str
    proc: subprocess.Popen[bytes] | None = None
    client_key: Path = field(default_factory=Path)

    @property
    def host_pub(self) -> str:
        return (self.dir / "host_ed25519.pub").read_text().strip()

    def fingerprint(self) -> str:
        out = _run("ssh-keygen", "-lf", str(self.dir / "host_ed25519.pub")).stdout
        return out.split()[1]

    def upper(self, path: str) -> Path:
        """Where a file the VM wrote at ``path`` lies on this machine (its overlay's upper directory)."""
        for root in OVERLAID:
            if path == root or path.startswith(root + "/"):
                return self.dir / "upper" / root.strip("/").replace("/", "_") / path[len(root) + 1 :]
        raise ValueError(f"{path} is not under an overlaid directory of the VM")

    def read(self, path: str) -> str | None:
        """A file as the VM sees it (None when missing)."""
        r = self.exec(["cat", "--", path], check=False)
        return r.stdout if r.returncode == 0 else None

    def exec(
        self, argv: list[str], *, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the VM's namespaces (as root), like a console on the VM."""
        assert self.proc is not None
        return _run("nsenter", "-t", str(self.proc.pid), "-n", "-m", "-u", "--", *argv, check=check, input=input)

    def listen(self, port: int, address: str = "127.0.0.1") -> socket.socket:
        """A listening TCP socket inside the VM's network namespace (``address`` as the VM sees it), owned by this
        process: a thread enters the namespace (setns(2) acts on the calling thread only), binds, and ends; the
        socket stays in the namespace while this process serves it."""
        import ctypes
        import threading

        out: list[socket.socket | BaseException] = []

        def bind() -> None:
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                with open(f"/run/netns/{self.netns}") as ns:
                    if libc.setns(ns.fileno(), 0x40000000) != 0:  # CLONE_NEWNET
                        raise OSError(ctypes.get_errno(), "setns")
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((address, port))
                s.listen(16)
                out.append(s)
            except BaseException as e:  # reported in the calling thread
                out.append(e)

        t = threading.Thread(target=bind)  # the thread ends in the VM's namespace: never reused
        t.start()
        t.join()
        if isinstance(out[0], BaseException):
            raise out[0]
        return out[0]

    def authorize(self, user: str, public_key: str) -> None:
        """Let ``public_key`` log in as ``user``: root's keys in the VM's folder; another user's in its home,
        which sshd reads as that user (the VM's folder is root's)."""
        if user == "root":
            keys = self.dir / "authorized_keys"
            keys.mkdir(exist_ok=True)
            (keys / user).write_text(public_key.strip() + "\n")
            return
        import pwd

        info = pwd.getpwnam(user)
        ssh_dir = Path(info.pw_dir) / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text(public_key.strip() + "\n")
        for p in (ssh_dir, ssh_dir / "authorized_keys"):
            os.chown(p, info.pw_uid, info.pw_gid)

    def new_host_key(self) -> None:
        """Reinstall the host key (what a rebuilt VM shows) and restart sshd on the same address."""
        self._stop_sshd()
        for p in (self.dir / "host_ed25519", self.dir / "host_ed25519.pub"):
            p.unlink()
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.dir / "host_ed25519"))
        self._start_sshd()

    def _start_sshd(self) -> None:
        # A fresh mount namespace each start: the overlays' upper directories keep what the VM wrote.
        marker = "systemd" if (self.dir / "systemd").exists() else "none"
        unshare = ["unshare", "--mount", "--uts", "--propagation", "private"]
        init = ["sh", "-c", VM_INIT, "vm-init", str(self.dir), self.hostname, self.address, marker]
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, *unshare, *init],
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "init.log", "ab"),
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"VM {self.hostname} did not start: {(self.dir / 'init.log').read_text()}")
            if self._listening():
                return
            time.sleep(0.05)
        raise RuntimeError(f"sshd of VM {self.hostname} did not listen: {(self.dir / 'sshd.log').read_text()}")

    def _listening(self) -> bool:
        out = _run("ip", "netns", "exec", self.netns, "cat", "/proc/net/tcp", check=False).stdout
        return any(line.split()[3] == "0A" and line.split()[1].endswith(":0016") for line in out.splitlines()[1:])

    def _stop_sshd(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        # Sessions sshd forked (not in its process group when they called setsid): end them by their netns.
        out = _run("ip", "netns", "pids", self.netns, check=False).stdout
        for pid in out.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        self.proc = None

    def stop(self) -> None:
        self._stop_sshd()
        _run("ip", "link", "del", self.veth, check=False)
        _run("ip", "netns", "del", self.netns, check=False)


class Vms:
    """Starts VMs for one test and removes every one of them afterwards."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.vms: list[Vm] = []
        self.client_key = root / "client_ed25519"
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.client_key))
        self.known_hosts = root / "known_hosts"
        self.known_hosts.touch()
        self.ssh_config = root / "ssh_config"
        # What a user's ~/.ssh/config would say; `promote` and `doctor --host` read it with -F.
        self.ssh_config.write_text(
            f"Host *\n  UserKnownHostsFile {self.known_hosts}\n  GlobalKnownHostsFile /dev/null\n"
            f"  IdentityFile {self.client_key}\n"
        )

    @property
    def client_pub(self) -> str:
        return (self.root / "client_ed25519.pub").read_text()

    def start(
        self,
        hostname: str,
        *,
        systemd: bool = True,
        users: tuple[str, ...] = ("root",),
        files: dict[str, tuple[str, int]] | None = None,
        behind: Vm | None = None,
    ) -> Vm:
        """A VM named ``hostname``; ``files`` (path -> (text, mode)) are there from its start, as if installed.
        ``behind``: reachable only from that VM (a private network; this machine has no route to it)."""
        tag = f"{os.getpid() % 10000}{secrets.token_hex(2)}"
        used = _used_subnets()
        free = [x for x in range(1, 255) if x not in used]
        subnet = random.choice(free)
        d = self.root / f"vm-{hostname}"
        d.mkdir()
        (d / "authorized_keys").mkdir()
        if systemd:
            (d / "systemd").touch()
        vm = Vm(
            hostname=hostname,
            dir=d,
            netns=f"llmops-t{tag}",
            veth=f"lv{tag}a",
            address=f"10.200.{subnet}.2",
            gateway=f"10.200.{subnet}.1",
            client_key=self.client_key,
        )
        self.vms.append(vm)
        for path, (text, mode) in (files or {}).items():
            target = vm.upper(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            target.chmod(mode)
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host_ed25519"))
        (d / "sshd_config").write_text(SSHD_CONFIG.format(address=vm.address, dir=d))
        for user in users:
            vm.authorize(user, self.client_pub)
        _run("ip", "netns", "add", vm.netns)
        _run("ip", "link", "add", vm.veth, "type", "veth", "peer", "name", f"lv{tag}b")
        _run("ip", "link", "set", f"lv{tag}b", "netns", vm.netns)
        side = [] if behind is None else ["ip", "netns", "exec", behind.netns]
        if behind is not None:
            _run("ip", "link", "set", vm.veth, "netns", behind.netns)
        _run(*side, "ip", "addr", "add", f"{vm.gateway}/24", "dev", vm.veth)
        _run(*side, "ip", "link", "set", vm.veth, "up")
        ns = ["ip", "netns", "exec", vm.netns]
        _run(*ns, "ip", "addr", "add", f"{vm.address}/24", "dev", f"lv{tag}b")
        _run(*ns, "ip", "link", "set", f"lv{tag}b", "up")
        _run(*ns, "ip", "link", "set", "lo", "up")
        vm._start_sshd()
        return vm

    def trust(self, vm: Vm) -> None:
        """Add the VM's host key to the test's known_hosts (as `ssh-keyscan` after an out-of-band check would)."""
        with self.known_hosts.open("a") as fh:
            fh.write(f"{vm.address} {vm.host_pub}\n")

    def stop(self) -> None:
        for vm in self.vms:
            vm.stop()


@contextlib.contextmanager
def vms(root: Path) -> Iterator[Vms]:
    group = Vms(root)
    try:
        yield group
    finally:
        group.stop()
