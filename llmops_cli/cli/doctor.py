"""`llmops doctor`: check this host for k3s, GPU and platform readiness."""

from __future__ import annotations

import typer

from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session

_ICON = {"ok": "ok  ", "warn": "warn", "fail": "FAIL", "skip": "skip"}


def command(ctx: typer.Context, output: OutputOpt = OutputFormat.text) -> None:
    """Check this host for k3s, GPU and platform readiness; exit 1 when a check fails.

    Examples:
      llmops doctor
      llmops doctor -o json
    """
    from llmops_cli.cli.hostopts import local_host
    from llmops_cli.doctor.run import diagnose

    session = get_session(ctx)
    session.start("doctor", output)
    report = diagnose(session.settings(), local_host(session), session.environ)
    if session.machine:
        session.emit(report.to_dict(), status="ok" if report.ok else "error")
    else:
        for r in report.results:
            session.err.print(f"{_ICON[r.status]}  {r.name:<17} {r.message}", markup=False)
            if r.hint and r.status in ("warn", "fail"):
                session.err.print(f"      {'':<17} → {r.hint}", markup=False)
        failures = sum(r.status == "fail" for r in report.results)
        session.info("ready for `llmops up`" if report.ok else f"{failures} check(s) failed")
    if not report.ok:
        raise typer.Exit(1)
