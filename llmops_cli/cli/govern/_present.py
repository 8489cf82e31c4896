"""How `llmops govern` prints results: data to stdout, people's text to stderr, GitHub annotations in CI."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from llmops_cli.cli.output import write_stdout
from llmops_cli.cli.session import Session

if TYPE_CHECKING:
    from llmops_cli.govern.api import CheckReport
    from llmops_cli.govern.evidence import VerifyReport
    from llmops_cli.govern.stages import StageResult


def emit_stage(session: Session, result: StageResult, markdown: str | None) -> None:
    """-o json/yaml: the stage's metrics in an envelope; text: its Markdown on stdout."""
    if session.machine:
        session.emit(result.metrics)
    elif markdown is not None:
        write_stdout(markdown)


def check_outcome(session: Session, report: CheckReport, junit: Path | None) -> None:
    from llmops_cli.errors import PolicyViolation
    from llmops_cli.fsutil import atomic_write
    from llmops_cli.govern.reports.github import append_step_summary, in_github_actions, workflow_commands

    if junit is not None:
        atomic_write(junit, report.junit_xml)
    if in_github_actions(session.environ):
        stream = sys.stderr if session.machine else sys.stdout
        for line in workflow_commands([r.to_dict() for r in report.results], report.fail_on):
            stream.write(line + "\n")
        stream.flush()
        append_step_summary(session.environ, report.summary_markdown)
    failed = [r for r in report.results if r.failed(report.fail_on)]  # type: ignore[arg-type]
    if session.machine:
        errors = [{"code": "policy_violation", "message": f"{r.id}: {r.message}"} for r in failed]
        session.emit(report.to_dict(), status="ok" if report.status == "pass" else "fail", errors=errors)
        if failed:
            raise typer.Exit(4)
        return
    n = report.counts
    if report.coverage is not None:
        cov = report.coverage.to_dict()
        missing = ", ".join(cov["missing"][:6]) + (" ..." if len(cov["missing"]) > 6 else "")
        session.info(
            f"evidence coverage: {cov['present']}/{cov['total']} lifecycle artefacts, "
            f"{cov['automatic_share'] * 100:.0f} % generated automatically (target ≥ 90 %)"
            + (f"; missing: {missing}" if missing else "")
        )
    signed = f"signed by {report.signed_by}" if report.signed_by else "unsigned"
    kept = "" if report.new_bundle else " (identical to an earlier run, kept)"
    session.info(
        f"{report.status.upper()}: {n['passed']} passed, {n['failed']} failed, {n['warnings']} warnings · "
        f"evidence: {report.bundle}{kept} ({signed})"
    )
    if failed:
        raise PolicyViolation(
            f"{len(failed)} governance rule(s) failed: {', '.join(r.id for r in failed)}",
            hint=f"see {report.bundle / 'summary.md'}",
        )


def verify_outcome(session: Session, report: VerifyReport, with_project: bool) -> None:
    from llmops_cli.govern.evidence import EvidenceMismatch

    if not report.ok:
        if session.machine:
            session.emit(
                report.to_dict(), status="fail", errors=[{"code": "evidence_mismatch", "message": report.problem()}]
            )
            raise typer.Exit(1)
        raise EvidenceMismatch(
            f"{report.bundle}: {report.problem()}", hint="re-run `llmops govern check` or restore the files"
        )
    if session.machine:
        session.emit(report.to_dict())
        return
    extra = f", {report.inputs_checked} inputs" if with_project else ""
    if report.signature == "verified":
        signed = f"signed by {report.signed_by}"
    else:
        signed = "UNSIGNED (anyone could have rewritten it; use --require-signature to refuse)"
    status = f"{report.status.upper()} · " if report.status else ""
    session.info(f"ok: {status}{report.checked} artefacts{extra} match {report.bundle / 'manifest.json'} · {signed}")


def emit_llm_eval(session: Session, result: StageResult, run: Any, transcript: Path | None) -> None:
    """-o json/yaml: the metrics (and the run's timings) in an envelope; text: the report on stdout."""
    from llmops_cli.fsutil import atomic_write
    from llmops_cli.govern.llmeval.stage import TRANSCRIPT

    if transcript is not None:
        atomic_write(transcript, result.artefacts[TRANSCRIPT])
    timing = run.timing()
    if session.machine:
        session.emit({**result.metrics, "timing": timing})
        return
    write_stdout(result.artefacts.get("llm_eval.md", ""))
    req = result.metrics["requests"]
    session.info(
        f"{req['total']} requests ({req['failed']} failed, {timing['retries']} retries) in {timing['wall_s']} s; "
        f"endpoint busy {timing['endpoint_busy_s']} s, p50 {timing['latency_p50_s']} s"
    )
