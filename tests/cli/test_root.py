from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmops_cli.errors import ExitCode
from tests.helpers import run_cli

GROUPS = ["init", "config", "doctor", "up", "status", "down", "render", "verify", "govern", "gateway", "promote"]


def test_help_lists_every_group_with_a_description_and_exit_codes() -> None:
    r = run_cli("--help")
    assert r.exit_code == 0, r.output
    for name in GROUPS:
        line = next((ln for ln in r.stdout.splitlines() if ln.strip().startswith(name + " ")), None)
        assert line is not None, f"{name} missing from --help"
        assert len(line.split(None, 1)[1]) > 10
    assert "Exit codes: 0 ok" in r.stdout
    assert "4 policy violations" in r.stdout and "130 interrupted" in r.stdout


def test_version() -> None:
    from llmops_cli import __version__

    r = run_cli("--version")
    assert r.exit_code == 0
    assert r.stdout.strip() == f"llmops {__version__}"


def test_version_command_json_envelope() -> None:
    r = run_cli("version", "--all", "-o", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["llmops_result_version"] == "1"
    assert doc["command"] == "version"
    assert doc["status"] == "ok" and doc["errors"] == []
    assert doc["data"]["pins"]["k3s"].startswith("v1.")


def test_unknown_command_is_usage_error() -> None:
    r = run_cli("frobnicate")
    assert r.exit_code == ExitCode.USAGE
    assert "No such command" in r.stderr


def test_bad_option_value_is_usage_error() -> None:
    r = run_cli("config", "show", "-o", "xml")
    assert r.exit_code == ExitCode.USAGE
    assert "Traceback" not in r.output


def test_exit_codes_enum_matches_the_docs() -> None:
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 4, 130, 141]
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for c in ExitCode:
        assert f"| {int(c)} " in readme


@pytest.fixture
def crashing_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import llmops_cli.cli.config as cfg
    from llmops_cli.config import load

    def boom(*a: object, **k: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(load, "load_settings", boom)
    assert cfg  # imported so the patched loader is used by `config show`


def test_unexpected_exception_exits_3_with_a_log_file(crashing_command: None, hermetic_env: Path) -> None:
    r = run_cli("config", "show")
    assert r.exit_code == ExitCode.BUG
    assert "Traceback" not in r.output
    assert "kaboom" in r.stderr
    log = r.stderr.split("traceback in ", 1)[1].split(". This is a bug", 1)[0]
    text = Path(log).read_text()
    assert "Traceback" in text and "RuntimeError: kaboom" in text
    assert str(hermetic_env) in log


def test_verbose_shows_the_traceback(crashing_command: None) -> None:
    r = run_cli("-v", "config", "show")
    assert r.exit_code == ExitCode.BUG
    assert "Traceback" in r.stderr


def test_config_error_is_one_line_and_verbose_adds_traceback(workdir: Path) -> None:
    (workdir / "llmops.yaml").write_text("gpu:\n  mode: sometimes\n")
    r = run_cli("config", "show")
    assert r.exit_code == ExitCode.USAGE
    assert r.stderr.count("\n") == 1
    assert r.stderr.startswith("error: llmops.yaml:2:9: gpu.mode: expected 'auto', 'on' or 'off'")
    rv = run_cli("-v", "config", "show")
    assert rv.exit_code == ExitCode.USAGE and "Traceback" in rv.stderr


def test_error_envelope_on_stdout_with_json_output(workdir: Path) -> None:
    (workdir / "llmops.yaml").write_text("gpu: [\n")
    r = run_cli("config", "show", "-o", "json")
    assert r.exit_code == ExitCode.USAGE
    doc = json.loads(r.stdout)
    assert doc["status"] == "error"
    assert doc["errors"][0]["code"] == "config"
    assert "llmops.yaml:" in doc["errors"][0]["message"]


def test_promote_without_an_environment_is_a_usage_error() -> None:
    # promote exists (it was once "not available"): without its ENV it is a usage error that names what is missing.
    r = run_cli("promote")
    assert r.exit_code == ExitCode.USAGE
    assert "Missing argument 'ENV'" in r.stderr and "Traceback" not in r.output


def test_llmops_config_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "other.yaml"
    p.write_text("cluster:\n  name: fromenv\n")
    monkeypatch.setenv("LLMOPS_CONFIG", str(p))
    r = run_cli("config", "show", "-o", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["data"]["settings"]["cluster"]["name"] == "fromenv"


def test_importing_the_cli_loads_no_heavy_library() -> None:
    heavy = [
        "kubernetes",
        "jinja2",
        "httpx",
        "numpy",
        "pandas",
        "plumbum",
        "questionary",
        "pydantic",
        "yaml",
        "starlette",
        "uvicorn",
        "rich",
        "celpy",
        "pyarrow",
        "psycopg",
    ]
    code = f"import sys, llmops_cli.cli.app, llmops_cli.__main__; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2]
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_python_dash_m_entry_point(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "llmops_cli", "--version"], capture_output=True, text=True, cwd=Path(__file__).parents[2]
    )
    assert out.returncode == 0 and out.stdout.startswith("llmops ")


@pytest.mark.parametrize("columns", [20, 52, 60, 79, 80, 81, 120, 300])
def test_quick_root_help_is_what_typer_prints(
    columns: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`llmops`, `--help` and `-h` answer without importing Typer (``roothelp``); the text must stay exactly
    Typer's for the same root group, whatever the terminal width (Click wraps at min(columns, 80) - 2, at
    least 50)."""
    from typer.main import get_command

    from llmops_cli.cli import roothelp
    from llmops_cli.cli.app import app

    monkeypatch.setenv("COLUMNS", str(columns))
    with pytest.raises(SystemExit) as exited:
        get_command(app).main(args=["--help"], prog_name="llmops", standalone_mode=True)
    assert exited.value.code == 0
    typer_text = capsys.readouterr().out
    assert "Usage: llmops" in typer_text and "Commands:" in typer_text
    assert roothelp.render() == typer_text
    assert roothelp.render(columns) == typer_text


def test_quick_root_answers_and_the_rest_goes_through_typer(capsys: pytest.CaptureFixture[str]) -> None:
    from llmops_cli import __version__
    from llmops_cli.__main__ import main
    from llmops_cli.cli import roothelp

    assert main([]) == ExitCode.USAGE  # Click's no_args_is_help: the help on stderr, exit 2
    out = capsys.readouterr()
    assert out.out == "" and out.err == roothelp.render()
    for flag in ("--help", "-h"):
        assert main([flag]) == 0
        assert capsys.readouterr().out == roothelp.render()
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"llmops {__version__}\n"
    assert roothelp.answer(["--help", "config"]) is None
    assert roothelp.answer(["-q", "--version"]) is None
    assert roothelp.answer(["version"]) is None


def test_root_help_and_version_do_not_import_typer() -> None:
    code = (
        "import sys\nfrom llmops_cli.__main__ import main\n"
        "assert main(['--help']) == 0 and main(['--version']) == 0\n"
        "heavy = sorted(m for m in ('typer', 'click', 'rich', 'pydantic', 'yaml') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["config", "--help"], ["version", "--all"], ["version", "--all", "-o", "json"]],
    ids=["quick-help", "typer-help", "command", "json"],
)
def test_a_closed_output_pipe_ends_quietly_with_141(argv: list[str], tmp_path: Path) -> None:
    """`llmops ... | head`: once the reader has gone, no "unexpected error … this is a bug" and no crash log
    (both happened before), whichever path wrote: the quick root help, Typer's help (Click exits 1 on its own)
    or a command's output."""
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path), "NO_COLOR": "1"}
    try:
        r = subprocess.run(
            [sys.executable, "-m", "llmops_cli", *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert r.returncode == ExitCode.PIPE_CLOSED == 141
    assert r.stderr == ""
    assert not list(tmp_path.rglob("crash-*.log"))


def test_only_our_own_closed_output_counts_as_a_closed_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    """The quiet 141 needs stdout itself to have lost its reader; a BrokenPipeError from anything else (a
    socket, a child's stdin) while stdout is fine stays an error."""
    import io
    import os

    from llmops_cli import __main__ as entry

    read_end, write_end = os.pipe()
    try:
        monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.FileIO(write_end, "w", closefd=False)))
        assert entry._stdout_gone() is False  # a reader is there
        os.close(read_end)
        read_end = -1
        assert entry._stdout_gone() is True
    finally:
        if read_end >= 0:
            os.close(read_end)
        os.close(write_end)
