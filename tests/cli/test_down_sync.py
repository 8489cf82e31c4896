"""`llmops down` and `llmops sync`: confirmation, flags reach the core."""

from __future__ import annotations

import json

import pytest

from tests.helpers import run_cli


def test_down_asks_first_without_tty_names_yes() -> None:
    r = run_cli("down")
    assert r.exit_code == 2 and "--yes" in r.stderr


def test_down_flags_reach_the_core(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmops_cli.cluster import teardown

    seen: dict = {}

    def fake_down(settings, **kw):  # type: ignore[no-untyped-def]
        seen.update(kw)
        return teardown.DownReport(removed=["x"])

    monkeypatch.setattr(teardown, "down", fake_down)
    r = run_cli("down", "--yes", "--keep-data", "--env", "dev", "-o", "json")
    assert r.exit_code == 0, r.output
    assert seen["keep_data"] is True and seen["uninstall_k3s"] is False and seen["env"] == "dev"
    assert seen["purge"] is False and seen["init_system"] in ("systemd", "openrc", "none")
    assert '"removed"' in r.stdout and '"left_on_host"' in r.stdout
    assert run_cli("down", "--yes", "--purge").exit_code == 0 and seen["purge"] is True


def test_down_asks_naming_what_it_removes_from_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmops_cli.cluster.state import State

    State.load("llmops").record_host("k3s", {"installed_by": "llmops", "version": "v1.33.5+k3s1"})
    State.load("llmops").record_host("nvidia_toolkit", {"packages": ["nvidia-container-toolkit"], "version": "1"})
    r = run_cli("down", "--purge")
    assert r.exit_code == 2 and "k3s-uninstall.sh" in r.stderr and "NVIDIA container toolkit" in r.stderr


def test_down_prints_what_stays_on_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmops_cli.cluster import teardown

    monkeypatch.setattr(
        teardown, "down", lambda settings, **kw: teardown.DownReport(left_on_host=["k3s config drop-in /x"])
    )
    r = run_cli("down", "--yes")
    assert "left on this machine: k3s config drop-in /x" in r.stderr and "down --purge" in r.stderr


def test_down_conflicting_flags_exit_2() -> None:
    r = run_cli("down", "--yes", "--keep-data", "--uninstall-k3s")
    assert r.exit_code == 2 and "conflict" in r.stderr


def test_down_with_nothing_installed_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """`down --yes` with nothing installed failed with "k3s.yaml does not exist yet ... run `llmops up`"."""
    from llmops_cli.adapters import hosts

    monkeypatch.setattr(hosts.LocalHost, "exists", lambda self, path: False)  # no k3s on this "machine"
    r = run_cli("down", "--yes")
    assert r.exit_code == 0, r.output
    assert "nothing to remove: llmops is not installed on this machine" in r.stderr and "llmops up" not in r.output
    r = run_cli("down", "--yes", "-o", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["data"]["installed"] is False


def test_sync_remote_mode_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMOPS_GITOPS__REPO_URL", "https://github.com/acme/p.git")
    r = run_cli("sync")
    assert r.exit_code == 2 and "commit and push" in r.stderr


def test_sync_is_registered() -> None:
    r = run_cli("--help")
    assert "sync" in r.stdout


def test_sudo_password_stdin_reaches_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmops_cli.adapters import hosts
    from llmops_cli.cluster import teardown

    providers = []

    def fake_detect(provider):  # type: ignore[no-untyped-def]
        providers.append(provider)
        return hosts.Sudo("password", provider)

    prefixes = []

    def fake_down(settings, **kw):  # type: ignore[no-untyped-def]
        prefixes.append(kw["host"].sudo.password())  # what a privileged step would give sudo
        return teardown.DownReport()

    monkeypatch.setattr(hosts, "detect_sudo", fake_detect)
    monkeypatch.setattr(teardown, "down", fake_down)
    r = run_cli("down", "--yes", "--sudo-password-stdin", input="hunter2\n")
    assert r.exit_code == 0, r.output
    assert providers[0] is not None
    assert prefixes == ["hunter2"]
    assert "hunter2" not in r.output


def test_without_tty_no_password_prompt_is_set_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmops_cli.adapters import hosts
    from llmops_cli.cluster import teardown

    providers = []
    monkeypatch.setattr(hosts, "detect_sudo", lambda p: providers.append(p) or hosts.Sudo("password", p))
    monkeypatch.setattr(teardown, "down", lambda settings, **kw: teardown.DownReport())
    assert run_cli("down", "--yes").exit_code == 0
    assert providers == [None]  # a step needing the password then fails naming --sudo-password-stdin
