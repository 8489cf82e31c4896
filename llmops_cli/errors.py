"""One exception root for everything llmops raises on purpose, and the exit codes.

Messages are written for the person at the terminal: say what is wrong, where (file:line, field) and what
to do next. The single error boundary in ``llmops_cli.__main__`` turns these into one line and an exit code.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes; listed in ``llmops --help`` and the README."""

    OK = 0
    ERROR = 1
    USAGE = 2
    BUG = 3
    POLICY_VIOLATION = 4
    INTERRUPTED = 130
    PIPE_CLOSED = 141  # the reader of stdout left (`llmops ... | head`), as the shell reports SIGPIPE


EXIT_CODES_HELP = (
    "Exit codes: 0 ok · 1 error · 2 usage or bad input · 3 bug (a log file holds the traceback) · "
    "4 policy violations · 130 interrupted · 141 output pipe closed."
)


class LlmopsError(Exception):
    """Base of every error llmops raises for the user.

    ``code`` is a stable machine-readable identifier (for ``-o json`` envelopes), ``hint`` the next step.
    """

    exit_code: ExitCode = ExitCode.ERROR
    code: str = "error"

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class UsageError(LlmopsError):
    """Bad flags, arguments or input files: exit 2."""

    exit_code = ExitCode.USAGE
    code = "usage"


class ConfigError(UsageError):
    """llmops.yaml (or an env var / flag override) is invalid."""

    code = "config"

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        path: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        where = ""
        if file:
            where = file
            if line is not None:
                where += f":{line}"
                if column is not None:
                    where += f":{column}"
            where += ": "
        field = f"{path}: " if path else ""
        super().__init__(f"{where}{field}{message}", hint=hint)


class InputError(UsageError):
    """A data, policy or metadata file the user gave cannot be used."""

    code = "input"


class PolicyViolation(LlmopsError):
    """Governance or gateway policies found violations: exit 4."""

    exit_code = ExitCode.POLICY_VIOLATION
    code = "policy_violation"


class CommandFailed(LlmopsError):
    """An external command exited non-zero."""

    code = "command_failed"

    def __init__(
        self,
        argv: Sequence[str],
        returncode: int,
        stdout: str = "",
        stderr: str = "",
        *,
        hint: str | None = None,
    ) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        tail = stderr.strip().splitlines()[-5:] or stdout.strip().splitlines()[-5:]
        detail = (": " + " | ".join(tail)) if tail else ""
        super().__init__(f"`{' '.join(self.argv)}` exited {returncode}{detail}", hint=hint)


class ToolMissing(LlmopsError):
    """A program llmops needs is not installed."""

    code = "tool_missing"

    def __init__(self, tool: str, install_hint: str) -> None:
        self.tool = tool
        super().__init__(f"`{tool}` is not installed", hint=install_hint)


class ClusterError(LlmopsError):
    """The Kubernetes API answered with an error we can explain."""

    code = "cluster"


class WaitTimeout(LlmopsError):
    """A wait for a healthy state ran out of time; the message names what is unhealthy."""

    code = "timeout"


class RemoteError(LlmopsError):
    """An SSH host could not be reached or refused us."""

    code = "remote"
