"""Human output of `up` (plan table, results, notes); kept apart so up.py stays a thin command."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmops_cli.cli.session import Session
    from llmops_cli.cluster.up import UpReport

_MARK = {"done": "done ", "todo": "todo ", "pending": "later", "will-fail": "FAIL "}


def print_plan(session: Session, report: UpReport, *, show_password: bool = False) -> None:
    s = report.plan.summary
    out = session.out
    out.print(
        f"Plan for cluster {s['cluster']} (env {s['environment']}, k3s {s['k3s_version']}, "
        f"GPU {'on' if s['gpu'] else 'off'}, GitOps {s['gitops']}: {s['repo_url']})"
        + (f", airgap bundle {s['airgap']}" if s.get("airgap") else ""),
        markup=False,
    )
    phase = None
    for i, p in enumerate(report.planned, 1):
        if p.phase != phase:
            phase = p.phase
            out.print(f"\n[{phase}]", markup=False)
        out.print(f" {i:2}. {_MARK[p.status]} {p.description}", markup=False)
        out.print(f"            changes: {p.changes}", markup=False)
        if p.detail:
            out.print(f"            {p.detail}", markup=False)
    for w in report.plan.warnings:
        session.warn(w)
    todo = sum(p.status in ("todo", "pending") for p in report.planned)
    fails = [p for p in report.planned if p.status == "will-fail"]
    session.info(f"\ndry run: nothing was changed; {todo} step(s) to run, {len(fails)} would fail.")


def print_result(session: Session, report: UpReport, *, show_password: bool = False) -> None:
    run = report.run
    if run is not None:
        for phase, seconds in run.phases:
            session.info(f"  {phase:<12} {seconds:6.1f}s")
        verdict = f"{run.changed} step(s) changed" if run.changed else "nothing to change"
        session.info(f"platform is up ({verdict}, {run.seconds:.0f}s)")
    for key, value in report.results.items():
        if key == "gpu_smoke":
            session.info(f"GPU smoke test: {value}")
    for note in report.notes:
        session.info(note)
    if show_password:
        for key, value in report.secrets.items():
            session.out.print(f"{key}: {value}", markup=False)
