"""The seam between a plan and a machine: run an argument list, read and write files with a mode.

:class:`LocalHost` runs on this machine through :mod:`llmops_cli.adapters.procs` (plumbum). The ``SshHost`` that
`promote` is to use (not written yet) implements the same :class:`Host` protocol over plumbum's ``SshMachine``
(system ssh, so ``~/.ssh/config``, agents and ProxyJump work, host keys verified): nothing above this module
knows which one it has.

Privilege: a step says ``privileged=True``; as root that changes nothing, otherwise the argv is prefixed with
``sudo -n`` (passwordless sudo) or ``sudo -S -p ''`` with a password fed on stdin. Core code never prompts:
the CLI passes a ``password`` callable that prompts once on a TTY, and without one a step that needs a
password fails with :class:`SudoPasswordNeeded`, which names the flag to use.
"""

from __future__ import annotations

import os
import shlex
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


@dataclass
class Sudo:
    """How this process gets root: already root, passwordless sudo, or a password typed once."""

    mode: SudoMode
    password_provider: Callable[[], str] | None = None
    _password: str | None = field(default=None, repr=False)

    def prefix(self) -> tuple[list[str], str | None]:
        """argv prefix and stdin for a privileged command."""
        if self.mode == "root":
            return [], None
        if self.mode == "passwordless":
            return ["sudo", "-n", "--"], None
        if self.mode == "unavailable":
            raise LlmopsError(
                "this step needs root, and sudo is not installed or not allowed for this user",
                hint="run llmops as root (sudo llmops ...)",
                code="sudo_unavailable",
            )
        if self._password is None:
            if self.password_provider is None:
                raise SudoPasswordNeeded()
            self._password = self.password_provider()
        # -S reads the password from stdin; -p '' keeps sudo's prompt out of our output.
        return ["sudo", "-S", "-p", "", "--"], self._password + "\n"


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
        full = list(argv)
        stdin = input
        if privileged and not self.is_root:
            prefix, password = self.sudo.prefix()
            if env:
                # sudo resets the environment; pass what the command needs explicitly via env(1).
                prefix = [*prefix, "env", *[f"{k}={v}" for k, v in env.items()]]
                env = None
            full = [*prefix, *full]
            if password is not None:
                stdin = password + (input or "")
        merged = None if env is None else {**os.environ, **env}
        result = procs.run(full, check=False, env=merged, input=stdin, timeout=timeout)
        shown = ProcResult(tuple(argv), result.returncode, result.stdout, result.stderr)
        if check and not shown.ok:
            raise CommandFailed(argv, shown.returncode, shown.stdout, shown.stderr)
        return shown

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
