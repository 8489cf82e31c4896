"""LocalHost: argv-only commands, privilege through sudo, file modes; DryRunHost refuses changes."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_privileged_env_goes_through_a_private_file_not_the_argv(not_root: Recorder) -> None:
    seen: list[str] = []

    def record(argv, **kw):  # type: ignore[no-untyped-def]
        envfile = Path(argv[argv.index("llmops-env") + 1])
        seen.append(envfile.read_text())
        seen.append(oct(stat.S_IMODE(envfile.stat().st_mode)))
        return not_root(argv, **kw)

    hosts.procs.run = record  # type: ignore[assignment]
    secret = {"INSTALL_K3S_VERSION": "v1", "HTTPS_PROXY": "http://user:s3cret@proxy:3128"}
    LocalHost(Sudo("passwordless")).run(["sh", "/tmp/i.sh"], privileged=True, env=secret)
    argv, _, env = not_root.calls[0]
    assert argv[:3] == ["sudo", "-n", "--"] and argv[-2:] == ["sh", "/tmp/i.sh"]
    assert argv[3:6] == ["/bin/sh", "-c", hosts.ENV_WRAPPER]
    assert not any("s3cret" in a for a in argv) and env is None
    assert seen == ["INSTALL_K3S_VERSION=v1\nHTTPS_PROXY=http://user:s3cret@proxy:3128\n", "0o600"]
    assert not Path(argv[argv.index("llmops-env") + 1]).exists()  # removed after the command


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40))
def test_env_file_round_trips_through_a_real_shell(value: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "env"
        f.write_text(hosts.env_file_text({"V": value}))
        out = subprocess.run(
            ["/bin/sh", "-c", hosts.ENV_WRAPPER, "llmops-env", str(f), "printenv", "V"],
            capture_output=True,
            check=True,
        ).stdout
    assert out == value.encode() + b"\n"


def test_env_names_are_checked() -> None:
    with pytest.raises(ValueError, match="not an environment variable name"):
        hosts.env_file_text({"A;rm -rf /": "x"})


def test_password_is_asked_once_and_given_to_sudo_through_askpass(not_root: Recorder) -> None:
    asked = []
    helper: list[tuple[str, str]] = []

    def provider() -> str:
        asked.append(1)
        return "s3cret"

    def record(argv, **kw):  # type: ignore[no-untyped-def]
        askpass = kw["env"]["SUDO_ASKPASS"]
        # What sudo does: run the helper (prompt as its argument) and read the password from its stdout.
        out = subprocess.run([askpass, "Password:"], capture_output=True, text=True, check=True).stdout
        helper.append((out, oct(stat.S_IMODE(Path(askpass).parent.stat().st_mode))))
        return not_root(argv, **kw)

    hosts.procs.run = record  # type: ignore[assignment]
    host = LocalHost(Sudo("password", provider))
    host.run(["true"], privileged=True)
    host.run(["cat"], privileged=True, input="data")
    assert len(asked) == 1
    argv, stdin, _ = not_root.calls[1]
    assert argv == ["sudo", "-A", "--", "cat"] and stdin == "data"  # the command's stdin: its own input only
    assert helper == [("s3cret\n", "0o700")] * 2


def test_a_rejected_password_is_a_clear_error_and_asked_again(not_root: Recorder) -> None:
    asked = []

    def reject(argv, **kw):  # type: ignore[no-untyped-def]
        return ProcResult(tuple(argv), 1, "", "sudo: 1 incorrect password attempt\n")

    hosts.procs.run = reject  # type: ignore[assignment]
    host = LocalHost(Sudo("password", lambda: asked.append(1) or "wrong"))
    with pytest.raises(hosts.SudoPasswordRejected, match="rejected the password"):
        host.run(["true"], privileged=True)
    with pytest.raises(hosts.SudoPasswordRejected):
        host.run(["true"], privileged=True)
    assert len(asked) == 2


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
