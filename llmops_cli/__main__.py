"""Entry point and the one error boundary around the Typer app."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmops_cli.cli.runstate import RunState


def _wants_verbose(argv: list[str], state: RunState) -> bool:
    if state.verbosity:
        return True
    for a in argv:
        if a == "--":
            break
        if a == "--verbose" or (a.startswith("-") and not a.startswith("--") and "v" in a[1:] and a[1:].isalpha()):
            return True
    return False


def _log_dir() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "llmops", "logs")


def _write_crash_log(text: str) -> str | None:
    import time

    try:
        d = _log_dir()
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(path, 0o600)
        return path
    except OSError:
        return None


def _error_line(message: str) -> None:
    no_color = "NO_COLOR" in os.environ or not sys.stderr.isatty()
    prefix = "error:" if no_color else "\x1b[31merror:\x1b[0m"
    sys.stderr.write(f"{prefix} {message}\n")
    sys.stderr.flush()


def _emit_error_envelope(state: RunState, code: str, message: str, status: str = "error") -> None:
    session = state.session
    if session is None or not getattr(session, "machine", False):
        return
    import contextlib

    with contextlib.suppress(Exception):  # never let the boundary itself fail
        session.emit(None, status=status, errors=[{"code": code, "message": message}])


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return (and exit with) an ExitCode."""
    from llmops_cli.cli.runstate import RunState
    from llmops_cli.errors import ExitCode, LlmopsError

    args = list(sys.argv[1:] if argv is None else argv)
    state = RunState()
    code: int
    try:
        from llmops_cli.cli.roothelp import answer

        quick = answer(args)  # `llmops`, `--help`, `--version`: no Typer import
        if quick is not None:
            sys.stdout.flush()
            return quick
        from typer.main import get_command

        from llmops_cli.cli.app import app

        command = get_command(app)
        rv = command.main(args=args, prog_name="llmops", standalone_mode=False, obj=state)
        code = int(rv) if isinstance(rv, int) else 0
        if code == ExitCode.INTERRUPTED:  # Typer answers Ctrl-C with a silent Exit(130)
            sys.stderr.write("\ninterrupted\n")
    except LlmopsError as e:
        if _wants_verbose(args, state):
            import traceback

            traceback.print_exc()
        _emit_error_envelope(state, e.code, str(e))
        _error_line(str(e))
        code = int(e.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        code = int(ExitCode.INTERRUPTED)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if code == 1 and _stdout_gone():  # Click's own answer to a closed pipe: exit 1, silently
            code = _output_closed()
    except BrokenPipeError as e:
        code = _output_closed() if _stdout_gone() else _handle_other(e, args, state)
    except Exception as e:
        code = _handle_other(e, args, state)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = _output_closed()
    return code


def _stdout_gone() -> bool:
    """Whether whoever read our standard output has gone (a pipe with no reader: poll says POLLERR)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return False


def _output_closed() -> int:
    """`llmops ... | head`: the reader took what it wanted and left. Stop quietly, as a process killed by SIGPIPE
    would, instead of reporting a bug; and point stdout at /dev/null, so that Python's own flush at exit does not
    complain about the pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass
    from llmops_cli.errors import ExitCode

    return int(ExitCode.PIPE_CLOSED)


def _handle_other(e: Exception, args: list[str], state: RunState) -> int:
    from llmops_cli.errors import ExitCode

    if isinstance(e, ModuleNotFoundError):
        from llmops_cli.extras import missing_extra

        missing = missing_extra(e)
        if missing is not None:
            _emit_error_envelope(state, missing.code, str(missing))
            _error_line(str(missing))
            return int(missing.exit_code)

    # Typer's bundled click raises these in non-standalone mode; they carry their own exit code and text.
    exit_code = getattr(e, "exit_code", None)
    if hasattr(e, "show") and isinstance(exit_code, int):
        if exit_code == 0:
            return 0
        e.show()  # type: ignore[attr-defined]
        return int(ExitCode.USAGE) if exit_code == 2 else exit_code
    if type(e).__name__ == "Abort":
        sys.stderr.write("aborted\n")
        return int(ExitCode.INTERRUPTED)
    if type(e).__name__ == "Exit":
        return int(getattr(e, "exit_code", 0))
    import traceback

    tb = traceback.format_exc()
    if _wants_verbose(args, state):
        sys.stderr.write(tb)
    log = _write_crash_log(tb)
    where = f"; traceback in {log}" if log else ""
    _emit_error_envelope(state, "bug", f"unexpected error: {e!r}", status="bug")
    _error_line(
        f"unexpected error ({type(e).__name__}: {e}){where}. This is a bug in llmops: please report it with that file."
    )
    return int(ExitCode.BUG)


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
