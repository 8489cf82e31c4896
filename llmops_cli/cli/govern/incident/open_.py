"""`llmops govern incident open`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from llmops_cli.cli.govern._common import ProjectOpt
from llmops_cli.cli.govern.incident._options import AuditLogOpt, EvidenceOpt, LookbackOpt, ReleaseOpt
from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    payload: Annotated[
        Path, typer.Argument(metavar="PAYLOAD", help="Alertmanager's webhook body (JSON file, or - for stdin).")
    ],
    project: ProjectOpt = None,
    audit_log: AuditLogOpt = None,
    lookback: LookbackOpt = "15m",
    release: ReleaseOpt = None,
    evidence: EvidenceOpt = None,
    analysis_run: Annotated[
        Path | None,
        typer.Option(
            "--analysis-run", metavar="FILE", help="The failed AnalysisRun (kubectl get analysisrun -o yaml)."
        ),
    ] = None,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Open an incident from an alert (or update the open one of its alert group).

    A resolved notification notes the resolution on its group's open incident. The record holds what
    happened, severity, the model and version, a timeline, the affected requests and clients (counts from
    the audit log), the release's evidence and the actions taken; its review is due by severity
    (governance.runtime.review_within).

    Examples:

    \b
      llmops govern incident open alert.json --audit-log /var/log/llmops/audit.jsonl
      curl -s ... | llmops govern incident open - --release releases/prod.json -o json
    """
    from llmops_cli.cli.govern._runtime import now
    from llmops_cli.cli.govern._runtime import project as resolve
    from llmops_cli.govern.api import trust_from_settings
    from llmops_cli.govern.runtime.api import open_incident

    session = get_session(ctx)
    session.start("govern incident open", output)
    proj = resolve(session, project)
    text = sys.stdin.read() if str(payload) == "-" else None
    rel = release
    if rel is None and proj.settings.stacks.gateway.release_file:
        candidate = proj.resolve(proj.settings.stacks.gateway.release_file)
        rel = candidate if candidate.is_file() else None
    trust = trust_from_settings(proj.settings.governance, proj.base) if evidence is not None else None
    done = open_incident(
        proj,
        payload,
        payload_text=text,
        audit_log=audit_log,
        lookback=lookback,
        release_file=rel,
        bundle=evidence,
        trust=trust,
        analysis_run=analysis_run,
        now=now(session),
    )
    if session.machine:
        session.emit(
            {
                "created": done.created,
                "note": done.note,
                "path": str(done.path) if done.path else None,
                "incident": done.record,
            }
        )
        return
    if done.record is None:
        session.info(done.note)
        return
    r = done.record
    session.info(
        f"{r['id']} {done.note}: {r['severity']} · {r['title']} · review due {r['review']['due']} · {done.path}"
    )
