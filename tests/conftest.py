"""Hermetic defaults for every test: tmp HOME/KUBECONFIG/XDG dirs, NO_COLOR, COLUMNS=80, no real adapters."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--with-e2e",
        action="store_true",
        default=False,
        help="run tests/e2e against a real Linux host (installs k3s!)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--with-e2e"):
        return
    skip = pytest.mark.skip(reason="end-to-end test on a real host: opt in with --with-e2e (nox -s e2e)")
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def hermetic_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("home")
    for var in list(os.environ):
        if var.startswith(("LLMOPS_", "PAC_", "KUBECONFIG", "GITHUB_")):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KUBECONFIG", str(home / ".kube" / "config"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("CI", raising=False)
    yield home


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project directory as the current directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(autouse=True)
def no_changes_to_this_machine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test never changes the machine it runs on through LocalHost, unless marked ``real_host``.

    Read-only commands (``readonly=True``) and files under the temp dir stay allowed, so doctor and the
    adapter tests still run for real.
    """
    if request.node.get_closest_marker("real_host"):
        return
    import tempfile

    from llmops_cli.adapters import hosts

    tmp_roots = (tempfile.gettempdir(), str(request.config._tmp_path_factory.getbasetemp()))  # type: ignore[attr-defined]
    orig_run, orig_write, orig_remove = hosts.LocalHost.run, hosts.LocalHost.write_text, hosts.LocalHost.remove

    def run(self, argv, **kw):  # type: ignore[no-untyped-def]
        if not kw.get("readonly"):
            raise AssertionError(f"test would change this machine: {list(argv)} (mark it real_host if intended)")
        return orig_run(self, argv, **kw)

    def write_text(self, path, text, **kw):  # type: ignore[no-untyped-def]
        if not str(path).startswith(tmp_roots):
            raise AssertionError(f"test would write {path} on this machine (mark it real_host if intended)")
        return orig_write(self, path, text, **kw)

    def remove(self, path, **kw):  # type: ignore[no-untyped-def]
        if not str(path).startswith(tmp_roots):
            raise AssertionError(f"test would remove {path} on this machine (mark it real_host if intended)")
        return orig_remove(self, path, **kw)

    monkeypatch.setattr(hosts.LocalHost, "run", run)
    monkeypatch.setattr(hosts.LocalHost, "write_text", write_text)
    monkeypatch.setattr(hosts.LocalHost, "remove", remove)
