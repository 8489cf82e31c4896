"""A remote machine over SSH, as the same :class:`~llmops_cli.adapters.hosts.Host` the plan runs on locally.

Connections use plumbum's ``SshMachine`` with the system ``ssh`` and ``scp``, so ``~/.ssh/config`` (or the
file named with ``-F``), ssh-agent, ``ProxyJump`` and ``IdentityFile`` work as they do for the user. What llmops
adds on the command line takes precedence over any config file (ssh uses the first value it obtains, and the
command line comes first: ssh_config(5)), so a config cannot switch host-key checking off for llmops:

- **Host keys.** Every connection runs with ``StrictHostKeyChecking=yes`` against the user's known_hosts. A host
  whose key is unknown is refused with the key's fingerprint and the flag that trusts it
  (``--accept-new-host-key``, which connects once with ``accept-new``: ssh itself then records the key, in the
  file and format the user's config names). A key that differs from the recorded one is always refused.
  The verdict is read from ssh's own messages (openssh-portable sshconnect.c ``check_host_key``: "No %s host key
  is known for %.200s and you have requested strict checking.", "REMOTE HOST IDENTIFICATION HAS CHANGED" /
  "Host key for %.200s has changed and you have requested strict checking."; the fingerprint from
  ``verify_host_key``'s debug line "Server host key: %s %s"), and the tests hold it to a real OpenSSH server.
- **No prompts.** ``BatchMode=yes``: a key with a passphrase needs the agent; ssh never blocks on a prompt.
- **One connection.** ``ControlMaster=auto`` with a socket in a private directory (0700) that llmops removes on
  close: every command after the first reuses the authenticated connection.
- **Port forwards.** :meth:`SshHost.forward` opens ``ssh -L 127.0.0.1:<free port>:<host>:<port>`` as a
  connection of its own (the same options: host keys checked, the user's config, agent and ``ProxyJump``), with
  ``ExitOnForwardFailure=yes`` so a forward that cannot be set up ends ssh instead of leaving a dead port; the
  host's ``close`` ends every forward it opened, and a forward's ssh also ends when llmops dies (its remote
  command waits for the end of a pipe from llmops).

Commands are argument lists, each argument quoted for the remote shell (``shlex.join``): no string is built
from input without quoting. Secrets never travel in an argv: file contents and the sudo password go over the
command's standard input into files in a private directory on the host (``mktemp -d``, 0700), which is removed
when the host is closed. sudo works as on :class:`~llmops_cli.adapters.hosts.LocalHost`: ``sudo -n``, or
``sudo -A`` with the fixed askpass helper that prints the password file, written for that one command and
removed after it.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shlex
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops_cli.adapters import procs
from llmops_cli.adapters.hosts import (
    ASKPASS_SCRIPT,
    ENV_WRAPPER,
    REJECTED,
    Sudo,
    SudoPasswordNeeded,
    SudoPasswordRejected,
    env_file_text,
)
from llmops_cli.adapters.procs import ProcResult
from llmops_cli.errors import CommandFailed, LlmopsError, RemoteError, ToolMissing, UsageError

ACCEPT_FLAG = "--accept-new-host-key"
# What a forward's ssh runs on the host: nothing but waiting for the end of its input (see SshHost.forward).
FORWARD_LIFELINE = "cat >/dev/null"
FORWARD_CLOSE_S = 10  # how long a closed forward's ssh gets to end by itself before it is terminated
CONNECT_TIMEOUT_S = 15
# Commands run in the host's open shell session unless they take input or may run longer than this (their
# timeout): those get an ssh session of their own, which the timeout kills.
SESSION_MAX_S = 60
# A remote name llmops writes into (staged uploads): plain characters only, so that no shell or SFTP glob
# ever sees anything but a literal name.
SAFE_NAME = re.compile(r"^[A-Za-z0-9._+-]{1,200}$")
_FINGERPRINT = re.compile(r"Server host key: (\S+) (\S+)")
_UNKNOWN = re.compile(r"No (\S+) host key is known for (\S+)")
_CHANGED = ("REMOTE HOST IDENTIFICATION HAS CHANGED", "has changed and you have requested strict checking")
_KEY_TYPES = {"ssh-ed25519": "ED25519", "ssh-rsa": "RSA", "ecdsa-sha2-nistp256": "ECDSA"}


class HostKeyUnknown(RemoteError):
    code = "host_key_unknown"


class HostKeyChanged(RemoteError):
    code = "host_key_changed"


@dataclass(frozen=True)
class SshTarget:
    """Where to connect and how. ``None`` leaves a setting to ssh (and the user's config)."""

    address: str
    user: str | None = None
    port: int | None = None
    key: str | None = None
    config: str | None = None  # an ssh_config file used instead of ~/.ssh/config (ssh -F)
    accept_new_host_key: bool = False
    label: str | None = None  # the name progress lines use

    @classmethod
    def parse(cls, spec: str, **kw: Any) -> SshTarget:
        """``USER@ADDRESS`` or ``ADDRESS`` (a host name, an IP, or an alias of the ssh config)."""
        user, sep, address = spec.rpartition("@")
        if not address or (sep and not user) or any(c.isspace() for c in spec) or spec.startswith("-"):
            raise UsageError(f"{spec!r} is not USER@ADDRESS", hint="for example ubuntu@203.0.113.10")
        return cls(address=address, user=user or None, **kw)

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.address}" if self.user else self.address

    @property
    def display(self) -> str:
        port = f":{self.port}" if self.port and self.port != 22 else ""
        return self.destination + port

    @property
    def name(self) -> str:
        return self.label or self.address


def ssh_options(target: SshTarget, *, strict: str = "yes", control: str | None = None) -> list[str]:
    """The options llmops puts on every ssh/scp command line (both accept ``-F`` and ``-o``)."""
    opts: list[str] = []
    if target.config:
        opts += ["-F", target.config]
    opts += [
        "-o", "BatchMode=yes",
        "-o", f"StrictHostKeyChecking={strict}",
        "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}",
        "-o", "ServerAliveInterval=15",
        "-o", "ServerAliveCountMax=4",
    ]  # fmt: skip
    if control is not None:
        opts += ["-o", "ControlMaster=auto", "-o", f"ControlPath={control}", "-o", "ControlPersist=120"]
    else:
        opts += ["-o", "ControlMaster=no", "-o", "ControlPath=none"]
    if target.port:
        opts += ["-o", f"Port={target.port}"]
    if target.key:
        opts += ["-o", f"IdentityFile={target.key}", "-o", "IdentitiesOnly=yes"]
    return opts


@dataclass(frozen=True)
class Probe:
    uid: int
    fingerprint: str | None
    accepted_new_key: bool


def _key_name(kind: str) -> str:
    return _KEY_TYPES.get(kind, kind.upper())


def _last_lines(stderr: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not ln.startswith(("debug", "OpenSSH_"))]
    return " | ".join(lines[-n:])


def probe(target: SshTarget) -> Probe:
    """Connect once, outside the shared connection, and judge the host key from what ssh says."""
    if procs.which("ssh") is None:
        raise ToolMissing("ssh", procs.INSTALL_HINTS["ssh"])
    strict = "accept-new" if target.accept_new_host_key else "yes"
    argv = ["ssh", *ssh_options(target, strict=strict), "-v", target.destination, "--", "id -u"]
    r = procs.run(argv, check=False, timeout=CONNECT_TIMEOUT_S + 30)
    found = _FINGERPRINT.search(r.stderr)
    fp = found.group(2) if found else None
    kind = _key_name(found.group(1)) if found else "host"
    if r.returncode == 0:
        try:
            uid = int(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise RemoteError(f"{target.display}: `id -u` printed {r.stdout.strip()!r}") from None
        return Probe(uid, fp, "Permanently added" in r.stderr)
    if any(m in r.stderr for m in _CHANGED):
        raise HostKeyChanged(
            f"{target.display}: its host key CHANGED ({kind} key {fp or 'unknown'}) and does not match known_hosts: "
            "refusing to connect",
            hint="this can be an attack; if the host was rebuilt, check the new fingerprint on its console "
            f"(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and remove the old entry: ssh-keygen -R "
            f"{target.address}",
        )
    if _UNKNOWN.search(r.stderr):
        raise HostKeyUnknown(
            f"{target.display}: its host key is not known ({kind} key {fp or 'fingerprint unavailable'}): refusing "
            "to connect",
            hint="check that fingerprint on the host's console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), "
            f"then run again with {ACCEPT_FLAG} to record it in known_hosts",
        )
    detail = _last_lines(r.stderr) or f"ssh exited {r.returncode}"
    if "Permission denied" in r.stderr:
        hint = "check the user, the key (ssh_key / -i) or the ssh-agent; keys with a passphrase need the agent"
    else:
        hint = "check the address and port, and that sshd runs there"
    raise RemoteError(f"{target.display}: cannot connect: {detail}", hint=hint)


class Forward:
    """A port on this machine's 127.0.0.1 that reaches ``remote`` as the host sees it (``ssh -N -L``), held by
    an ssh process of its own. ``close`` ends it (``SshHost.close`` closes every forward it opened)."""

    def __init__(self, port: int, remote: str, proc: Any, log: Path) -> None:
        self.port = port
        self.remote = remote
        self.proc = proc
        self.log = log

    @property
    def alive(self) -> bool:
        return bool(self.proc.poll() is None)

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def close(self) -> None:
        import subprocess

        with contextlib.suppress(OSError):
            self.proc.stdin.close()  # the lifeline: ssh ends once the host's side has seen the end of input
        try:
            # A clean end first: the host's shell finishes starting (profile scripts can hold locks) and exits.
            self.proc.wait(timeout=FORWARD_CLOSE_S)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        with contextlib.suppress(OSError):
            self.log.unlink()


def free_local_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tcp_reachable(address: str, port: int, timeout: float) -> bool:
    """Whether a TCP connection to ``address:port`` opens from this machine within ``timeout`` seconds."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


class SshHost:
    """A machine reached over SSH; see the module docstring. Use as a context manager or call ``close``."""

    def __init__(self, target: SshTarget, *, uid: int, sudo: Sudo | None = None) -> None:
        from plumbum.machines.ssh_machine import SshMachine

        self.target = target
        self.name = target.name
        self.uid = uid
        self._control_dir = _control_dir()
        opts = ssh_options(target, control=f"{self._control_dir}/c")  # one host per folder: no %C needed
        self._opts = opts
        try:
            self._machine = SshMachine(
                target.address,
                user=target.user,
                ssh_opts=opts,
                scp_opts=opts,
                connect_timeout=CONNECT_TIMEOUT_S + 15,
            )
        except Exception as e:  # plumbum raises its own SSHCommsError family
            shutil.rmtree(self._control_dir, ignore_errors=True)
            raise RemoteError(f"{target.display}: cannot open the SSH session: {e}") from e
        self._private: str | None = None
        self._session: Any = None
        self._session_lock = threading.Lock()
        self._which: dict[str, str | None] = {}
        self._lock = threading.Lock()
        self._sudo = sudo
        self._sudo_provider: Callable[[], str] | None = None
        self.staged: dict[str, str] = {}  # local path -> remote path of files uploaded this session
        self._forwards: list[Forward] = []

    # ------------------------------------------------------------------------------------------ lifecycle
    def __enter__(self) -> SshHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for fwd in self._forwards:
            with contextlib.suppress(Exception):
                fwd.close()
        self._forwards = []
        with contextlib.suppress(Exception):
            if self._private:
                self._exec(shlex.join(["rm", "-rf", "--", self._private]), None, 30)
                self._private = None
        with contextlib.suppress(Exception):
            if self._session is not None:
                self._session.close()
        with contextlib.suppress(Exception):
            self._machine.close()
        # The master outlives the session by ControlPersist: stop it now.
        procs.run(["ssh", *self._opts, "-O", "exit", self.target.destination], check=False, timeout=15)
        shutil.rmtree(self._control_dir, ignore_errors=True)

    @property
    def is_root(self) -> bool:
        return self.uid == 0

    @property
    def sudo(self) -> Sudo:
        if self._sudo is None:
            self._sudo = self.detect_sudo(self._sudo_provider)
        return self._sudo

    def use_password(self, provider: Callable[[], str] | None) -> None:
        """Where the sudo password comes from if this host's sudo asks for one (set before the first use)."""
        self._sudo_provider = provider
        if self._sudo is not None and self._sudo.mode == "password":
            self._sudo.password_provider = provider

    def detect_sudo(self, provider: Callable[[], str] | None = None) -> Sudo:
        if self.is_root:
            return Sudo("root")
        if self.which("sudo") is None:
            return Sudo("unavailable")
        r = self._exec("sudo -n true", None, 30)
        if r.returncode == 0:
            return Sudo("passwordless")
        if "password" in r.stderr.lower():
            return Sudo("password", provider)
        return Sudo("unavailable")

    # ------------------------------------------------------------------------------------------ forwards
    def forward(self, remote_port: int, remote_host: str = "127.0.0.1", *, timeout: float | None = None) -> Forward:
        """Open ``ssh -L 127.0.0.1:<free port>:<remote_host>:<remote_port>`` to this host and wait until this
        machine's end listens. Its own connection, with the options of every other one (host key checked,
        ``StrictHostKeyChecking=yes``: the key was judged when the host was connected), so ProxyJump and the
        agent work as for the user's own ``ssh -L``. Closed by :meth:`close` (or the forward's own ``close``)."""
        from plumbum import local

        wait = CONNECT_TIMEOUT_S + 15 if timeout is None else timeout
        last = ""
        for _ in range(3):  # the free port can be taken between the choice and ssh's bind: choose again
            port = free_local_port()
            spec = f"127.0.0.1:{port}:{_bracket(remote_host)}:{remote_port}"
            argv = [*ssh_options(self.target), "-T", "-o", "ExitOnForwardFailure=yes", "-L", spec]
            log = Path(self._control_dir) / f"forward-{port}.log"
            with log.open("wb") as err:
                import subprocess

                # Its lifeline: the remote command waits for the end of its input, a pipe only this process
                # writes to. Whatever ends this process (a kill included) closes it, so the remote side ends
                # and ssh with it, instead of a forward outliving the run.
                proc = local["ssh"][[*argv, self.target.destination, "--", FORWARD_LIFELINE]].popen(
                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err
                )
            fwd = Forward(port, f"{remote_host}:{remote_port}", proc, log)
            self._forwards.append(fwd)  # from its start: a Ctrl-C while it comes up still ends it with the host
            try:
                deadline = time.monotonic() + wait
                while time.monotonic() < deadline:
                    if not fwd.alive:
                        break
                    if tcp_reachable("127.0.0.1", port, 0.5):
                        return fwd
                    time.sleep(0.05)
            except BaseException:
                fwd.close()
                raise
            text = log.read_text(errors="replace") if log.exists() else ""
            fwd.close()
            self._forwards.remove(fwd)
            last = _last_lines(text) or f"ssh exited {proc.returncode}"
            if any(m in text for m in _CHANGED):
                raise HostKeyChanged(
                    f"{self.target.display}: its host key CHANGED while opening a tunnel: refusing to connect",
                    hint=f"check the host's key on its console and remove the old entry: ssh-keygen -R "
                    f"{self.target.address}",
                )
            if "Address already in use" not in text and "cannot listen" not in text:
                break
        raise RemoteError(
            f"{self.target.display}: cannot forward a local port to {remote_host}:{remote_port} over SSH: {last}",
            hint="check that sshd on the host allows TCP forwarding (AllowTcpForwarding)",
        )

    # ------------------------------------------------------------------------------------------ transport
    def _exec(self, command: str, input: str | None, timeout: float | None) -> ProcResult:
        """Run a quoted command line: short commands without input in the one remote shell this host keeps open
        (a few ms each), the rest (input, long timeouts) as their own ssh session over the shared connection."""
        if input is None and (timeout is None or timeout <= SESSION_MAX_S):
            return self._session_exec(command, timeout)
        return self._process_exec(command, input, timeout)

    def _process_exec(self, command: str, input: str | None, timeout: float | None) -> ProcResult:
        import subprocess

        proc: Any = self._machine.popen([command])
        try:
            out, err = proc.communicate(input.encode() if input is not None else None, timeout=timeout)
        except subprocess.TimeoutExpired:
            # With a shared connection the master holds copies of this client's pipes: after the kill they reach
            # EOF only when the remote command ends, so nothing more is read (the remote `timeout` ends it).
            proc.kill()
            proc.wait()
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                with contextlib.suppress(Exception):
                    pipe.close()
            return ProcResult((command,), -1, "", f"timed out after {timeout}s")
        return ProcResult((command,), proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))

    def _session_exec(self, command: str, timeout: float | None) -> ProcResult:
        """``timeout`` None: as long as it takes (as on this machine)."""
        with self._session_lock:
            if self._session is None or not self._session.alive():
                try:
                    self._session = self._machine.session()
                except Exception as e:  # plumbum's SSHCommsError family
                    raise RemoteError(f"{self.name}: the SSH connection failed: {e}") from e
            session = self._session
            fired = threading.Event()

            def expire() -> None:
                fired.set()
                session.close()  # ends the remote shell, and with it the command

            timer = threading.Timer(timeout, expire) if timeout is not None else None
            if timer is not None:
                timer.start()
            try:
                # stdin from /dev/null: the session's own stdin carries the next commands.
                code, out, err = session.run(command + " </dev/null", retcode=None)
            except Exception as e:  # EOFError / plumbum's session errors: the shell is gone
                self._session = None
                if fired.is_set():
                    return ProcResult((command,), -1, "", f"timed out after {timeout}s")
                raise RemoteError(f"{self.name}: the SSH connection was lost: {e}") from e
            finally:
                if timer is not None:
                    timer.cancel()
        rc = code if isinstance(code, int) else -1
        return ProcResult((command,), rc, str(out or ""), str(err or ""))

    def _private_dir(self) -> str:
        with self._lock:
            if self._private is None:
                r = self._exec("umask 077 && mktemp -d -t llmops.XXXXXXXX", None, 30)
                path = r.stdout.strip()
                if r.returncode != 0 or not path.startswith("/"):
                    raise RemoteError(f"{self.name}: cannot create a private directory: {_last_lines(r.stderr)}")
                self._private = path
            return self._private

    def _put_private(self, name: str, text: str, mode: int) -> str:
        """A file only this user can read, written from stdin (never an argv); ``name`` may hold one folder."""
        path = f"{self._private_dir()}/{name}"
        script = 'umask 077 && mkdir -p -- "$(dirname -- "$1")" && cat > "$1" && chmod "$2" "$1"'
        r = self._exec(shlex.join(["sh", "-c", script, "sh", path, f"{mode:o}"]), text, 60)
        if r.returncode != 0:
            raise RemoteError(f"{self.name}: cannot write {path}: {_last_lines(r.stderr)}")
        return path

    def _unique(self, stem: str) -> str:
        import secrets

        return f"{stem}.{secrets.token_hex(6)}"

    # ------------------------------------------------------------------------------------------ Host
    def run(
        self,
        argv: Sequence[str],
        *,
        privileged: bool = False,
        check: bool = True,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        timeout: float | None = None,
        readonly: bool = False,
    ) -> ProcResult:
        if not argv:
            raise ValueError("empty argv")
        cleanup: list[str] = []
        words = list(argv)
        # One folder per call in the private directory: calls from several threads never share a file.
        call = self._unique("call")
        if env:
            envfile = self._put_private(f"{call}/env", env_file_text(env), 0o600)
            cleanup.append(envfile.rsplit("/", 1)[0])
            words = ["/bin/sh", "-c", ENV_WRAPPER, "llmops-env", envfile, *words]
        password = None
        if privileged and not self.is_root:
            sudo = self.sudo
            sudo.check_available()
            if sudo.mode == "password":
                try:
                    password = sudo.password()
                except SudoPasswordNeeded:
                    raise LlmopsError(
                        f"{self.name}: sudo asks {self.target.user or 'this user'} for a password, and there is no "
                        "terminal to ask on",
                        hint="pass --sudo-password-env NAME (a variable holding it), log in as root, or allow "
                        "passwordless sudo",
                        code="sudo_password",
                    ) from None
                self._put_private(f"{call}/password", password + "\n", 0o600)
                askpass = self._put_private(f"{call}/askpass", ASKPASS_SCRIPT, 0o700)
                cleanup.append(askpass.rsplit("/", 1)[0])
                words = ["env", f"SUDO_ASKPASS={askpass}", "sudo", "-A", "--", *words]
            else:
                words = ["sudo", "-n", "--", *words]
        if timeout is not None and self.which("timeout") is not None:
            # The deadline is kept on the host (coreutils/busybox `timeout`, SIGKILL 5 s after SIGTERM): killing the
            # local ssh client does not stop a command running over a shared connection.
            words = ["timeout", "-k", "5", f"{max(1, math.ceil(timeout))}s", *words]
        started = time.monotonic()
        try:
            result = self._exec(shlex.join(words), input, None if timeout is None else timeout + 15)
            if timeout is not None and result.returncode in (124, 137) and time.monotonic() - started >= timeout:
                result = ProcResult(result.argv, -1, result.stdout, f"timed out after {timeout:g}s")
        finally:
            if cleanup:
                self._exec(shlex.join(["rm", "-rf", "--", *sorted(set(cleanup))]), None, 30)
        if password is not None and result.returncode != 0 and any(m in result.stderr for m in REJECTED):
            self.sudo.forget()
            raise SudoPasswordRejected()
        shown = ProcResult(tuple(argv), result.returncode, result.stdout, result.stderr)
        if check and not shown.ok:
            raise CommandFailed(
                [f"[{self.name}]", *argv], shown.returncode, shown.stdout, shown.stderr, hint=_hint(shown.returncode)
            )
        return shown

    def which(self, tool: str) -> str | None:
        if tool not in self._which:
            r = self._exec(shlex.join(["sh", "-c", 'command -v -- "$1"', "sh", tool]), None, 30)
            path = r.stdout.strip()
            self._which[tool] = path if r.returncode == 0 and path else None
        return self._which[tool]

    def read_text(self, path: str, *, privileged: bool = False) -> str | None:
        r = self.run(["cat", "--", path], check=False, readonly=True)
        if r.ok:
            return r.stdout
        if "No such file" in r.stderr or "Not a directory" in r.stderr:
            return None
        if "Permission denied" in r.stderr and privileged and not self.is_root:
            r = self.run(["cat", "--", path], privileged=True, check=False, readonly=True)
            if r.ok:
                return r.stdout
            if "No such file" in r.stderr:
                return None
        if "Permission denied" in r.stderr and not privileged:
            raise LlmopsError(f"{self.name}: cannot read {path}: permission denied", hint="run as root")
        raise CommandFailed([f"[{self.name}]", "cat", path], r.returncode, r.stdout, r.stderr)

    def write_text(self, path: str, text: str, *, mode: int = 0o644, privileged: bool = False) -> None:
        if not privileged or self.is_root:
            # Atomic: a temp file next to the target, its mode set, then renamed over it.
            script = 'set -e; umask 077; mkdir -p -- "$(dirname -- "$1")"; t=$(mktemp "$1.llmops.XXXXXX"); ' \
                'cat > "$t"; chmod "$2" "$t"; mv -f -- "$t" "$1"'  # fmt: skip
            r = self.run(["sh", "-c", script, "sh", path, f"{mode:o}"], input=text, check=False)
            if not r.ok:
                if "Permission denied" in r.stderr and not privileged:
                    raise LlmopsError(f"{self.name}: cannot write {path}: permission denied", hint="run as root")
                raise CommandFailed([f"[{self.name}]", "write", path], r.returncode, r.stdout, r.stderr)
            return
        tmp = self._put_private(f"{self._unique('file')}/content", text, 0o600)
        try:
            self.run(["install", "-D", "-m", f"{mode:o}", tmp, path], privileged=True)
        finally:
            self._exec(shlex.join(["rm", "-rf", "--", tmp.rsplit("/", 1)[0]]), None, 30)

    def exists(self, path: str) -> bool:
        # 0: exists; 1: does not; 2: cannot tell as this user (a parent it may not search): ask as root.
        script = (
            '[ -e "$1" ] && exit 0; p=$1; while p=$(dirname -- "$p"); do [ -e "$p" ] && break; done; '
            '[ -x "$p" ] && exit 1; exit 2'
        )
        r = self.run(["sh", "-c", script, "sh", path], check=False, readonly=True)
        if r.returncode in (0, 1):
            return r.returncode == 0
        return self.run(["test", "-e", path], privileged=True, check=False, readonly=True).ok

    def remove(self, path: str, *, privileged: bool = False) -> None:
        self.run(["rm", "-f", "--", path], privileged=privileged)

    def stage(self, local_path: str) -> str:
        """Upload a local file into the private directory (once per session); return its path on the host."""
        if local_path in self.staged:
            return self.staged[local_path]
        name = Path(local_path).name
        if not SAFE_NAME.match(name):
            raise UsageError(f"{local_path}: a file name llmops uploads must be plain (letters, digits, ._+-)")
        remote = f"{self._private_dir()}/{name}"
        try:
            self._machine.upload(local_path, remote)
        except Exception as e:  # plumbum's ProcessExecutionError: scp's message names the cause
            detail = getattr(e, "stderr", "") or str(e)
            raise RemoteError(f"{self.name}: uploading {local_path} failed: {_last_lines(str(detail))}") from e
        self.staged[local_path] = remote
        return remote


# A Unix socket's path has room for 107 bytes (sun_path); ssh refuses a longer ControlPath.
SOCKET_PATH_MAX = 100


def _control_dir() -> str:
    """A private folder (0700) for the connection's socket, short enough for a socket path: under $TMPDIR, else
    /tmp when $TMPDIR is too deep."""
    path = tempfile.mkdtemp(prefix="llmops-ssh-")
    if len(path) + 2 > SOCKET_PATH_MAX:
        shutil.rmtree(path, ignore_errors=True)
        path = tempfile.mkdtemp(prefix="llmops-ssh-", dir="/tmp")
    os.chmod(path, 0o700)
    return path


def _bracket(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _hint(code: int) -> str | None:
    if code == 255:
        return "ssh exits 255 when the connection failed; check the host"
    return None


def connect(
    target: SshTarget,
    *,
    password_provider: Callable[[], str] | None = None,
    on_new_key: Callable[[str], None] | None = None,
) -> SshHost:
    """Check the host key (refusing unknown or changed keys), then open the shared connection."""
    seen = probe(target)
    if seen.accepted_new_key and on_new_key is not None:
        on_new_key(f"{target.display}: recorded its host key {seen.fingerprint} in known_hosts")
    host = SshHost(target, uid=seen.uid)
    host.use_password(password_provider)
    return host
