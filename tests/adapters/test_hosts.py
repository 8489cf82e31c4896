"""LocalHost: argv-only commands, privilege through sudo, file modes; DryRunHost refuses changes."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from llmops_cli.adapters import hosts, procs
from llmops_cli.adapters.hosts import DryRunHost, DryRunViolation, LocalHost, Sudo, SudoPasswordNeeded
from llmops_cli.adapters.procs import ProcResult
from llmops_cli.errors import CommandFailed, LlmopsError

# LocalHost itself is under test: its commands here are harmless (echo, sh -c exit N) or go to a faked procs.run.
pytestmark = pytest.mark.real_host


def test_run_real_command_and_failure() -> None:
    host = LocalHost(Sudo("root"))
    assert host.run(["echo", "a b; rm -rf /"]).stdout == "a b; rm -rf /\n"  # an argument, never a shell
    with pytest.raises(CommandFailed, match="exited 3"):
        host.run(["sh", "-c", "echo oops >&2; exit 3"])
    assert host.run(["false"], check=False).returncode == 1


def test_run_passes_env_and_input() -> None:
    host = LocalHost(Sudo("root"))
    out = host.run(["sh", "-c", 'read x; echo "$x-$FOO"'], env={"FOO": "bar"}, input="in\n").stdout
    assert out == "in-bar\n"


def test_write_read_modes_and_missing(tmp_path: Path) -> None:
    host = LocalHost(Sudo("root"))
    target = tmp_path / "etc" / "secret.yaml"
    host.write_text(str(target), "k: v\n", mode=0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert host.read_text(str(target)) == "k: v\n"
    assert host.read_text(str(tmp_path / "nope")) is None
    assert host.exists(str(target))
    host.remove(str(target))
    assert not host.exists(str(target))


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[list[str], str | None, dict[str, str] | None]] = []

    def __call__(self, argv, *, check=True, cwd=None, env=None, input=None, timeout=None):  # type: ignore[no-untyped-def]
        self.calls.append((list(argv), input, dict(env) if env else None))
        return ProcResult(tuple(argv), 0, "", "")


@pytest.fixture
def not_root(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()
    monkeypatch.setattr(hosts.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(procs, "run", rec)
    return rec


def test_privileged_as_user_uses_sudo_n(not_root: Recorder) -> None:
    LocalHost(Sudo("passwordless")).run(["systemctl", "restart", "k3s"], privileged=True)
    assert not_root.calls[0][0] == ["sudo", "-n", "--", "systemctl", "restart", "k3s"]


def test_privileged_env_goes_through_env_1(not_root: Recorder) -> None:
    LocalHost(Sudo("passwordless")).run(["sh", "/tmp/i.sh"], privileged=True, env={"INSTALL_K3S_VERSION": "v1"})
    argv, _, env = not_root.calls[0]
    assert argv == ["sudo", "-n", "--", "env", "INSTALL_K3S_VERSION=v1", "sh", "/tmp/i.sh"]
    assert env is None


def test_password_is_asked_once_and_fed_on_stdin(not_root: Recorder) -> None:
    asked = []

    def provider() -> str:
        asked.append(1)
        return "s3cret"

    host = LocalHost(Sudo("password", provider))
    host.run(["true"], privileged=True)
    host.run(["true"], privileged=True)
    assert len(asked) == 1
    argv, stdin, _ = not_root.calls[1]
    assert argv[:5] == ["sudo", "-S", "-p", "", "--"] and stdin == "s3cret\n"


def test_password_needed_without_tty_names_the_flag(not_root: Recorder) -> None:
    with pytest.raises(SudoPasswordNeeded, match="--sudo-password-stdin"):
        LocalHost(Sudo("password", None)).run(["true"], privileged=True)
    assert not_root.calls == []


def test_sudo_unavailable(not_root: Recorder) -> None:
    with pytest.raises(LlmopsError, match="needs root"):
        LocalHost(Sudo("unavailable")).run(["true"], privileged=True)


def test_unprivileged_runs_without_sudo(not_root: Recorder) -> None:
    LocalHost(Sudo("password", None)).run(["uname", "-r"])
    assert not_root.calls[0][0] == ["uname", "-r"]


def test_dry_run_host_refuses_changes(tmp_path: Path) -> None:
    host = DryRunHost(LocalHost(Sudo("root")))
    assert host.run(["echo", "hi"], readonly=True).stdout == "hi\n"
    with pytest.raises(DryRunViolation):
        host.run(["touch", str(tmp_path / "x")])
    with pytest.raises(DryRunViolation):
        host.write_text(str(tmp_path / "y"), "")
    with pytest.raises(DryRunViolation):
        host.remove(str(tmp_path / "z"))
    assert list(tmp_path.iterdir()) == []


def test_local_host_satisfies_the_protocol() -> None:
    assert isinstance(LocalHost(Sudo("root")), hosts.Host)
    assert isinstance(DryRunHost(LocalHost(Sudo("root"))), hosts.Host)
