"""`llmops doctor`: check this host for k3s, GPU and platform readiness."""

from __future__ import annotations

import typer

from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session

_ICON = {"ok": "ok  ", "warn": "warn", "fail": "FAIL", "skip": "skip"}
_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


def command(ctx: typer.Context, output: OutputOpt = OutputFormat.text) -> None:
    """Check this host for k3s, GPU and platform readiness; exit 1 when a check fails.

    The report goes to stdout (coloured on a terminal), so `llmops doctor | less` pages it.

    Examples:
      llmops doctor
      llmops doctor -o json
    """
    from rich.text import Text

    from llmops_cli.cli.hostopts import local_host
    from llmops_cli.doctor.run import diagnose

    session = get_session(ctx)
    session.start("doctor", output)
    report = diagnose(session.settings(), local_host(session), session.environ)
    failures = [r for r in report.results if r.status == "fail"]
    if session.machine:
        errors = [{"code": "check_failed", "message": f"{r.name}: {r.message}"} for r in failures]
        session.emit(report.to_dict(), status="error" if failures else "ok", errors=errors)
    else:
        out = session.out
        for r in report.results:
            out.print(Text.assemble((_ICON[r.status], _STYLE[r.status]), f"  {r.name:<17} {r.message}"))
            if r.hint and r.status in ("warn", "fail"):
                out.print(Text(f"      {'':<17} → {r.hint}"))
        if failures:
            out.print(Text(f"{len(failures)} check(s) failed", style="bold red"))
        else:
            out.print(Text("ready for `llmops up`", style="green"))
    if failures:
        raise typer.Exit(1)
