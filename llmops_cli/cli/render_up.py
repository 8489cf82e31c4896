"""Human output of `up` (plan table, results, notes); kept apart so up.py stays a thin command."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmops_cli.cli.session import Session
    from llmops_cli.cluster.up import PreparedUp, UpReport

# Doctor checks that say what a failing plan step already says (not repeated).
SAME_AS_STEP = {
    "init": "install_k3s",
    "k3s": "install_k3s",
    "nvidia": "check_nvidia_driver",
    "nvidia-toolkit": "install_container_toolkit",
}
_MARK = {"done": "done ", "todo": "todo ", "pending": "later", "will-fail": "FAIL "}


def preflight_failures(session: Session, prepared: PreparedUp) -> list[str]:
    """What is known to fail before anything changes: plan steps that cannot succeed on this host, and the
    host checks `llmops doctor` fails (one line each, with the fix)."""
    from llmops_cli.doctor.checks import run_checks

    out = [f"{p.description}: {p.detail}" for p in prepared.failures]
    failing_steps = {p.id for p in prepared.failures}
    for r in run_checks(prepared.facts, prepared.settings, session.environ, gpu=prepared.plan.gpu):
        if r.status == "fail" and SAME_AS_STEP.get(r.name) not in failing_steps:
            out.append(f"{r.name}: {r.detail}" + (f" ({r.hint})" if r.hint else ""))
    return out


def print_summary(session: Session, prepared: PreparedUp) -> None:
    """What consent is asked for: steps, restarts, files written, packages installed."""
    s = prepared.summary()
    if not s["steps"]:
        session.info("nothing to change: the platform is up (checking it)")
        return
    session.info(f"`llmops up` will change this machine ({len(s['steps'])} step(s); `--dry-run` shows each):")
    for step in s["steps"]:
        session.info(f"  - {step}")
    for label, key in (("restarts", "restarts"), ("writes", "writes"), ("installs", "installs")):
        if s[key]:
            session.info(f"  {label}: {', '.join(s[key])}")
    for w in prepared.plan.warnings:
        session.warn(w)


def print_plan(
    session: Session, report: UpReport, *, show_password: bool = False, failures: list[str] | None = None
) -> None:
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
    for f in failures or []:
        session.err.print(f"FAIL {f}", markup=False)
    if failures:
        session.info(f"\nnothing was changed: {len(failures)} known failure(s) above; `llmops doctor` has the details.")
    else:
        session.info(f"\ndry run: nothing was changed; {todo} step(s) to run.")


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
