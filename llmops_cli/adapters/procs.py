"""The one subprocess wrapper. Argument lists only: no shell strings are ever built from input."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmops_cli.errors import CommandFailed, ToolMissing

INSTALL_HINTS: dict[str, str] = {
    "git": "install git (apt-get install git / dnf install git)",
    "ssh": "install the OpenSSH client (apt-get install openssh-client)",
    "kubectl": "install kubectl, or run `llmops up` which uses k3s's bundled kubectl",
    "nvidia-smi": "install the NVIDIA driver for your GPU",
    "curl": "install curl (apt-get install curl)",
    "sudo": "run as root or install sudo",
}


@dataclass(frozen=True)
class ProcResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def which(tool: str) -> str | None:
    return shutil.which(tool)


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float | None = None,
) -> ProcResult:
    """Run ``argv`` locally through plumbum; raise CommandFailed / ToolMissing unless ``check=False``."""
    if not argv:
        raise ValueError("empty argv")
    from plumbum import ProcessExecutionError, ProcessTimedOut, local
    from plumbum.commands.processes import CommandNotFound

    try:
        cmd: Any = local[argv[0]][list(argv[1:])]
    except CommandNotFound as e:
        raise ToolMissing(argv[0], INSTALL_HINTS.get(argv[0], f"install {argv[0]}")) from e
    kwargs: dict[str, Any] = {"retcode": None, "timeout": timeout}
    if input is not None:
        cmd = cmd << input  # plumbum feeds the text on stdin (run(stdin=...) wants a file)
    try:
        if cwd is not None or env is not None:
            with local.cwd(cwd or local.cwd), local.env(**dict(env or {})):
                code, out, err = cmd.run(**kwargs)
        else:
            code, out, err = cmd.run(**kwargs)
    except ProcessTimedOut as e:
        raise CommandFailed(argv, -1, "", f"timed out after {timeout}s") from e
    except ProcessExecutionError as e:  # pragma: no cover - retcode=None means plumbum does not raise it
        code, out, err = e.retcode, e.stdout, e.stderr  # type: ignore[assignment]
    result = ProcResult(tuple(argv), int(code if code is not None else -1), out or "", err or "")
    if check and not result.ok:
        raise CommandFailed(argv, result.returncode, result.stdout, result.stderr)
    return result
