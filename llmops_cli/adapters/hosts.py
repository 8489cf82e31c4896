"""The seam between a plan and a machine: run an argument list, read and write files with a mode.

:class:`LocalHost` runs on this machine through :mod:`llmops_cli.adapters.procs` (plumbum).
:class:`~llmops_cli.adapters.ssh.SshHost` (what `promote` and `doctor --host` use) implements the same
:class:`Host` protocol over plumbum's ``SshMachine`` (system ssh, so ``~/.ssh/config``, agents and ProxyJump
work, host keys verified): nothing above these modules knows which one it has.

Privilege: a step says ``privileged=True``; as root that changes nothing, otherwise the argv runs under
``sudo -n`` (passwordless sudo) or ``sudo -A`` with an askpass helper. The password never travels on the
command's standard input: with ``sudo -S`` it did, and once sudo had cached the credentials (or a sudoers rule
said NOPASSWD for that command) sudo did not read it, so the privileged command did (a privileged ``cat``
printed it). The helper is a fixed script in a private directory (0700) that prints a file (0600) only sudo
asks for; both are removed after the command. Core code never prompts: the CLI passes a ``password`` callable
that prompts once on a TTY, and without one a step that needs a password fails with
:class:`SudoPasswordNeeded`, which names the flag to use.

Environment: sudo resets it (``env_reset``), so what a privileged command needs (the installer's
``INSTALL_K3S_*``, the user's proxy settings) goes into a private file (0600) that a fixed ``sh -c`` wrapper
sources before it ``exec``s the command: the values never appear in an argv that ``ps`` shows to other users.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from llmops_cli.adapters import procs
from llmops_cli.adapters.procs import ProcResult
from llmops_cli.errors import CommandFailed, LlmopsError

SudoMode = Literal["root", "passwordless", "password", "unavailable"]


class SudoPasswordNeeded(LlmopsError):
    """sudo needs a password and nobody can type it."""

    code = "sudo_password"

    def __init__(self) -> None:
        super().__init__(
            "this step needs root and sudo asks for a password, but there is no terminal to ask on",
            hint="run as root, allow passwordless sudo, or pipe the password with --sudo-password-stdin",
        )


class SudoPasswordRejected(LlmopsError):
    """sudo did not accept the password it was given."""

    code = "sudo_password"

    def __init__(self) -> None:
        super().__init__(
            "sudo rejected the password",
            hint="run again and type the password of this user (or pipe it with --sudo-password-stdin)",
        )


class DryRunViolation(LlmopsError):
    """A mutating call reached a host during --dry-run: a bug, never a user error."""

    code = "bug"

    def __init__(self, what: str) -> None:
        super().__init__(f"dry run attempted a change: {what}")


@runtime_checkable
class Host(Protocol):
    """A machine llmops acts on. Commands are argument lists, never shell strings."""

    name: str

    @property
    def is_root(self) -> bool: ...

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
        """Run ``argv``; ``readonly=True`` promises the command changes nothing (allowed in a dry run)."""

    def which(self, tool: str) -> str | None: ...

    def read_text(self, path: str, *, privileged: bool = False) -> str | None:
        """The file's text, or None when it does not exist."""

    def write_text(self, path: str, text: str, *, mode: int = 0o644, privileged: bool = False) -> None:
        """Write atomically with ``mode`` (parents created)."""

    def exists(self, path: str) -> bool: ...

    def remove(self, path: str, *, privileged: bool = False) -> None: ...

    def stage(self, local_path: str) -> str:
        """Make a file of this machine readable on the host (an SSH host uploads it); return its path there."""


@dataclass
class Sudo:
    """How this process gets root: already root, passwordless sudo, or a password typed once."""

    mode: SudoMode
    password_provider: Callable[[], str] | None = None
    _password: str | None = field(default=None, repr=False)

    def check_available(self) -> None:
        if self.mode == "unavailable":
            raise LlmopsError(
                "this step needs root, and sudo is not installed or not allowed for this user",
                hint="run llmops as root (sudo llmops ...)",
                code="sudo_unavailable",
            )

    def password(self) -> str:
        """The password, asked once (``SudoPasswordNeeded`` when nobody can type it)."""
        if self._password is None:
            if self.password_provider is None:
                raise SudoPasswordNeeded()
            self._password = self.password_provider()
        return self._password

    def forget(self) -> None:
        self._password = None


# The askpass helper sudo runs (as the invoking user) when it wants the password: it prints the file next to
# itself. Constant text; the password is never in an argv or an environment variable.
ASKPASS_SCRIPT = '#!/bin/sh\nexec cat -- "${0%/*}/password"\n'
# Sources a private KEY='value' file, then replaces itself with the command ($0 names the wrapper for ps).
ENV_WRAPPER = 'set -a; . "$1"; set +a; shift; exec "$@"'
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# What sudo prints when it did not accept a password (sudo's plugins/sudoers/auth messages).
REJECTED = ("incorrect password", "Sorry, try again", "no password was provided", "a password is required")


def env_file_text(env: Mapping[str, str]) -> str:
    """``KEY='value'`` lines a POSIX shell sources to exactly ``env`` (values quoted, names checked)."""
    lines = []
    for key, value in env.items():
        if not ENV_NAME.match(key):
            raise ValueError(f"not an environment variable name: {key!r}")
        lines.append(f"{key}={shlex.quote(value)}")
    return "\n".join(lines) + "\n"


class _PrivateDir:
    """A directory only this user can enter (0700), removed with everything in it."""

    def __init__(self) -> None:
        runtime = os.environ.get("XDG_RUNTIME_DIR")  # a per-user tmpfs where there is one
        base = runtime if runtime and os.path.isdir(runtime) and os.access(runtime, os.W_OK) else None
        self.path = Path(tempfile.mkdtemp(prefix="llmops-sudo-", dir=base))

    def write(self, name: str, text: str, mode: int) -> str:
        target = self.path / name
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        return str(target)

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def detect_sudo(password_provider: Callable[[], str] | None = None) -> Sudo:
    if os.geteuid() == 0:
        return Sudo("root")
    if procs.which("sudo") is None:
        return Sudo("unavailable")
    probe = procs.run(["sudo", "-n", "true"], check=False, timeout=10)
    if probe.ok:
        return Sudo("passwordless")
    if "password" in (probe.stderr or "").lower():
        return Sudo("password", password_provider)
    return Sudo("unavailable")


class LocalHost:
    """This machine."""

    name = "localhost"

    def __init__(self, sudo: Sudo | None = None) -> None:
        self._sudo = sudo

    @property
    def sudo(self) -> Sudo:
        if self._sudo is None:
            self._sudo = detect_sudo()
        return self._sudo

    @property
    def is_root(self) -> bool:
        return os.geteuid() == 0

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
        if privileged and not self.is_root:
            result = self._run_sudo(list(argv), env, input, timeout)
        else:
            merged = None if env is None else {**os.environ, **env}
            result = procs.run(list(argv), check=False, env=merged, input=input, timeout=timeout)
        shown = ProcResult(tuple(argv), result.returncode, result.stdout, result.stderr)
        if check and not shown.ok:
            raise CommandFailed(argv, shown.returncode, shown.stdout, shown.stderr)
        return shown

    def _run_sudo(
        self, argv: list[str], env: Mapping[str, str] | None, input: str | None, timeout: float | None
    ) -> ProcResult:
        sudo = self.sudo
        sudo.check_available()
        password = sudo.password() if sudo.mode == "password" else None
        private = _PrivateDir()
        try:
            proc_env: dict[str, str] | None = None
            if password is None:
                full = ["sudo", "-n", "--"]
            else:
                private.write("password", password + "\n", 0o600)
                proc_env = {**os.environ, "SUDO_ASKPASS": private.write("askpass", ASKPASS_SCRIPT, 0o700)}
                full = ["sudo", "-A", "--"]
            if env:
                envfile = private.write("env", env_file_text(env), 0o600)
                full += ["/bin/sh", "-c", ENV_WRAPPER, "llmops-env", envfile]
            result = procs.run([*full, *argv], check=False, env=proc_env, input=input, timeout=timeout)
        finally:
            private.close()
        if password is not None and result.returncode != 0 and any(m in result.stderr for m in REJECTED):
            sudo.forget()
            raise SudoPasswordRejected()
        return result

    def which(self, tool: str) -> str | None:
        return procs.which(tool)

    def read_text(self, path: str, *, privileged: bool = False) -> str | None:
        p = Path(path)
        try:
            return p.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except PermissionError:
            if not privileged:
                raise LlmopsError(f"cannot read {path}: permission denied", hint="run as root") from None
        result = self.run(["cat", "--", path], privileged=True, check=False, readonly=True)
        if result.ok:
            return result.stdout
        if "No such file" in result.stderr:
            return None
        raise CommandFailed(["cat", path], result.returncode, result.stdout, result.stderr)

    def write_text(self, path: str, text: str, *, mode: int = 0o644, privileged: bool = False) -> None:
        from llmops_cli.fsutil import atomic_write

        if not privileged or self.is_root:
            try:
                atomic_write(path, text, mode=mode)
                return
            except PermissionError:
                if not privileged:
                    raise LlmopsError(f"cannot write {path}: permission denied", hint="run as root") from None
        # Write a private temp file, then `install` it in place as root with the mode (never world-readable).
        fd, tmp = tempfile.mkstemp(prefix=".llmops-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            self.run(["install", "-D", "-m", f"{mode:o}", tmp, path], privileged=True)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def exists(self, path: str) -> bool:
        try:
            return Path(path).exists()
        except PermissionError:
            return self.run(["test", "-e", path], privileged=True, check=False, readonly=True).ok

    def remove(self, path: str, *, privileged: bool = False) -> None:
        if not privileged or self.is_root:
            Path(path).unlink(missing_ok=True)
            return
        self.run(["rm", "-f", "--", path], privileged=True)

    def stage(self, local_path: str) -> str:
        return local_path


class DryRunHost:
    """Wraps a host for ``--dry-run``: reads pass through, any change raises :class:`DryRunViolation`."""

    def __init__(self, inner: Host) -> None:
        self.inner = inner
        self.name = inner.name

    @property
    def is_root(self) -> bool:
        return self.inner.is_root

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
        if not readonly:
            raise DryRunViolation(shlex.join(argv))
        return self.inner.run(
            argv, privileged=privileged, check=check, env=env, input=input, timeout=timeout, readonly=True
        )

    def which(self, tool: str) -> str | None:
        return self.inner.which(tool)

    def read_text(self, path: str, *, privileged: bool = False) -> str | None:
        return self.inner.read_text(path, privileged=privileged)

    def write_text(self, path: str, text: str, *, mode: int = 0o644, privileged: bool = False) -> None:
        raise DryRunViolation(f"write {path}")

    def exists(self, path: str) -> bool:
        return self.inner.exists(path)

    def remove(self, path: str, *, privileged: bool = False) -> None:
        raise DryRunViolation(f"remove {path}")

    def stage(self, local_path: str) -> str:
        raise DryRunViolation(f"upload {local_path}")
