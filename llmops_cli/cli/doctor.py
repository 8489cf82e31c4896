"""`llmops doctor`: check this host (or one over SSH) for k3s, GPU and platform readiness."""

from __future__ import annotations

from typing import Annotated

import typer

from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session

_ICON = {"ok": "ok  ", "warn": "warn", "fail": "FAIL", "skip": "skip"}
_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


def command(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option("--host", metavar="USER@ADDR", help="Check a host over SSH instead of this one.")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", metavar="N", help="SSH port (default: ssh's own).")] = None,
    key: Annotated[str | None, typer.Option("-i", "--identity", metavar="KEY", help="SSH private key file.")] = None,
    ssh_config: Annotated[
        str | None, typer.Option("--ssh-config", metavar="FILE", help="An ssh_config file instead of ~/.ssh/config.")
    ] = None,
    accept_new_host_key: Annotated[
        bool, typer.Option("--accept-new-host-key", help="Trust the host's key if known_hosts has none yet.")
    ] = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Check this host (or one over SSH) for k3s, GPU and platform readiness; exit 1 when a check fails.

    The report goes to stdout (coloured on a terminal), so `llmops doctor | less` pages it. Over SSH the host key
    is checked against known_hosts (an unknown one is refused with its fingerprint), and nothing on the host
    changes: every probe is read-only.

    Examples:
      llmops doctor
      llmops doctor -o json
      llmops doctor --host ubuntu@203.0.113.10 -i ~/.ssh/cloud.pem
      llmops doctor --host root@gpu-1 --port 2222 --accept-new-host-key
    """
    from rich.text import Text

    from llmops_cli.cli.hostopts import local_host
    from llmops_cli.doctor.run import diagnose

    session = get_session(ctx)
    session.start("doctor", output)
    if host is None:
        if port is not None or key is not None or ssh_config is not None or accept_new_host_key:
            from llmops_cli.errors import UsageError

            raise UsageError("--port, -i, --ssh-config and --accept-new-host-key go with --host", hint="add --host")
        report = diagnose(session.settings(), local_host(session), session.environ)
    else:
        report = _remote(session, host, port, key, ssh_config, accept_new_host_key)
    failures = [r for r in report.results if r.status == "fail"]
    if session.machine:
        errors = [{"code": "check_failed", "message": f"{r.name}: {r.detail}"} for r in failures]
        session.emit(report.to_dict(), status="error" if failures else "ok", errors=errors)
    else:
        out = session.out
        for r in report.results:
            out.print(Text.assemble((_ICON[r.status], _STYLE[r.status]), f"  {r.name:<17} {r.detail}"))
            if r.hint and r.status in ("warn", "fail"):
                out.print(Text(f"      {'':<17} → {r.hint}"))
        if failures:
            out.print(Text(f"{len(failures)} check(s) failed", style="bold red"))
        else:
            out.print(Text("ready for `llmops promote`" if host else "ready for `llmops up`", style="green"))
    if failures:
        raise typer.Exit(1)


def _remote(session: object, spec: str, port: int | None, key: str | None, config: str | None, accept: bool):  # type: ignore[no-untyped-def]
    """Connect (host key checked), then the same read-only facts and checks as on this machine."""
    from llmops_cli.adapters.ssh import SshTarget, connect
    from llmops_cli.cli.session import Session, user_path
    from llmops_cli.doctor.run import diagnose

    assert isinstance(session, Session)
    target = SshTarget.parse(
        spec,
        port=port,
        key=str(user_path(key)) if key else None,
        config=str(user_path(config)) if config else None,
        accept_new_host_key=accept,
    )
    with connect(target, on_new_key=session.info) as remote:
        session.info(f"checks on {target.display} ({remote.run(['hostname']).stdout.strip()}) over SSH")
        return diagnose(session.settings(), remote, session.environ, remote=True)
