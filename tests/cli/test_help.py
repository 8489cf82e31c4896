"""Every command's help and usage errors, walked over the whole command tree: examples one per line, usage lines
and metavars in one style, "did you mean" for typos, root options anywhere, flag errors in words."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli


def _tree() -> Iterator[tuple[tuple[str, ...], Any]]:
    from typer.main import get_command

    from llmops_cli.cli.app import app

    root = get_command(app)

    def walk(path: tuple[str, ...], command: Any) -> Iterator[tuple[tuple[str, ...], Any]]:
        yield path, command
        names = command.list_commands(None) if hasattr(command, "list_commands") else []
        for name in names:
            yield from walk((*path, name), command.get_command(None, name))

    for name in root.list_commands(None):
        yield from walk((name,), root.get_command(None, name))


TREE = list(_tree())
PATHS = [path for path, _ in TREE]


def _examples(command: Any) -> list[str]:
    """The example lines of the function's docstring (what the author wrote, before any formatting)."""
    doc = inspect.getdoc(getattr(command, "callback", None)) or ""
    if "Examples:" not in doc:
        return []
    block = doc.split("Examples:", 1)[1]
    return [line.strip() for line in block.splitlines() if line.strip() and line.strip() != "\b"]


@pytest.mark.parametrize("path", PATHS, ids=" ".join)
def test_help_keeps_each_example_on_its_own_line(path: tuple[str, ...]) -> None:
    """Click rewrapped `Examples:` blocks into one paragraph; `up` and `doctor` lost theirs to the registry's line."""
    command = dict(TREE)[path]
    r = run_cli(*path, "--help")
    assert r.exit_code == 0, r.output
    lines = [line.strip() for line in r.stdout.splitlines()]
    for example in _examples(command):
        assert example in lines, f"{' '.join(path)}: {example!r} is not a line of its help:\n{r.stdout}"


def test_commands_registered_from_the_registry_keep_their_examples() -> None:
    for name in ("up", "doctor", "init", "down", "render"):
        r = run_cli(name, "--help")
        assert "Examples:" in r.stdout and f"llmops {name}" in r.stdout.split("Examples:", 1)[1], r.stdout


_OPTION_ROW = re.compile(r"^  (-\w, )?--[\w-]+(?P<metavar> \S+)?")


@pytest.mark.parametrize("path", PATHS, ids=" ".join)
def test_usage_lines_and_metavars_have_one_style(path: tuple[str, ...]) -> None:
    """Usage lines showed `{name}`; metavars mixed Typer's `<str>` with `FILE`. Now: NAME, FILE, a|b|c."""
    r = run_cli(*path, "--help")
    usage = r.stdout.splitlines()[0]
    assert usage.startswith(f"Usage: llmops {' '.join(path)} ")
    assert not re.search(r"[{}<>]", usage), usage
    for line in r.stdout.splitlines():
        m = _OPTION_ROW.match(line)
        if m and m["metavar"]:
            metavar = m["metavar"].strip()
            assert re.fullmatch(r"[A-Z][A-Z0-9_,.=@]*|[a-z0-9-]+(\|[a-z0-9-]+)+", metavar), (path, line)


@pytest.mark.parametrize("name", [name for name, *_ in __import__("llmops_cli.cli.registry").cli.registry.COMMANDS])
def test_a_mistyped_command_gets_a_did_you_mean(name: str) -> None:
    for typo in {name[:i] + name[i] + name[i:] for i in range(len(name))} | {name[:-1] + name[-1].upper()}:
        r = run_cli(typo)
        assert r.exit_code == 2
        assert f"No such command {typo!r}. Did you mean {name!r}?" in r.stderr, r.stderr


def test_a_word_like_no_command_gets_no_suggestion() -> None:
    r = run_cli("xyzzy")
    assert r.exit_code == 2 and "No such command 'xyzzy'." in r.stderr and "Did you mean" not in r.stderr


@pytest.mark.parametrize("path", PATHS, ids=" ".join)
def test_root_options_are_accepted_after_any_command(path: tuple[str, ...], tmp_path: Path) -> None:
    """`llmops doctor --no-color` was "No such option": root options work anywhere, as kubectl's global flags."""
    r = run_cli(*path, "--no-color", "-q", "-v", "--config", str(tmp_path / "x.yaml"), "-c", "y.yaml", "--help")
    assert r.exit_code == 0, r.output


def test_root_options_after_the_command_take_effect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "other.yaml").write_text("cluster:\n  name: lab\n")
    r = run_cli("config", "show", "-o", "json", "--config", "other.yaml")
    assert r.exit_code == 0, r.output
    assert '"name": "lab"' in r.stdout
    assert run_cli("config", "validate").stderr.startswith("ok:")
    assert run_cli("config", "validate", "-q").stderr == ""  # -q after the command silences it
    (tmp_path / "bad.yaml").write_text("gpu: [\n")
    assert "Traceback" not in run_cli("config", "show", "-c", "bad.yaml").stderr
    assert "Traceback" in run_cli("config", "show", "-c", "bad.yaml", "-v").stderr


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["gateway", "serve", "--upstream", "vllm:8000"], "--upstream"),
        (["gateway", "serve", "--port", "99999"], "--port"),
        (["gateway", "serve", "--workers", "0"], "--workers"),
        (["gateway", "serve", "--busy-poll", "-1"], "--busy-poll"),
        (["gateway", "serve", "--redis-url", "redis://:secret@cache/zero"], "--redis-url"),
        (["init", "--yes", "--model", "a model"], "--model"),
        (["init", "--yes", "--cluster-name", "Bad_Name"], "--cluster-name"),
    ],
)
def test_a_bad_flag_value_names_the_flag_in_words(argv: list[str], named: str, workdir: Path) -> None:
    """Flag errors showed pydantic's regular expressions and named a PAC_* variable the user never set."""
    r = run_cli(*argv)
    assert r.exit_code == 2
    line = r.stderr.strip()
    assert line.startswith(f"error: {named}: ") and "\n" not in line, line
    assert "PAC_" not in line and "pattern" not in line and not re.search(r"\^|\$'|\{0,|\[\^", line), line
    assert "secret" not in line


def test_a_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAC_UPSTREAM_URL", "vllm:8000")
    r = run_cli("gateway", "serve")
    assert r.exit_code == 2
    assert r.stderr.startswith("error: PAC_UPSTREAM_URL: expected an http:// or https:// URL"), r.stderr
