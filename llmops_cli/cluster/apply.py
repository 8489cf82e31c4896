"""Run a plan (check → apply → verify, recorded in the state file) or describe it for ``--dry-run``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from llmops_cli.cluster.poll import transient
from llmops_cli.errors import LlmopsError
from llmops_cli.reporting import Status

if TYPE_CHECKING:
    from llmops_cli.cluster.model import Plan, Step, StepContext

PREFLIGHT_HINT = "`llmops doctor` lists every problem"
PlannedStatus = Literal["done", "todo", "pending", "will-fail"]


@dataclass(frozen=True)
class PlannedStep:
    id: str
    phase: str
    description: str
    changes: str
    status: PlannedStatus
    detail: str = ""
    mutating: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "phase": self.phase,
            "description": self.description,
            "changes": self.changes,
            "status": self.status,
            "detail": self.detail,
            "mutating": self.mutating,
        }


@dataclass
class RunResult:
    steps: list[dict[str, Any]] = field(default_factory=list)
    changed: int = 0
    seconds: float = 0.0
    phases: list[tuple[str, float]] = field(default_factory=list)


def _is_done(step: Step, ctx: StepContext) -> bool:
    if step.check is None:
        return ctx.state.is_done(step.id, step.fingerprint)
    return step.check(ctx)


def _is_done_yet(step: Step, ctx: StepContext) -> bool:
    """Like :func:`_is_done`, but a check that cannot reach the cluster yet (k3s stopped or restarting) means
    "not done": the step then runs, and its waits poll until their deadline."""
    try:
        return _is_done(step, ctx)
    except LlmopsError as e:
        if transient(e):
            return False
        raise


def describe_plan(plan: Plan, ctx: StepContext) -> list[PlannedStep]:
    """What ``up`` would do. Runs only the read-only checks (ctx must wrap a DryRunHost and a read-only Kube);
    a check that cannot run yet (no cluster before k3s is installed) reports "pending"."""
    out = []
    blocked = False
    for step in plan.steps:
        if step.will_fail:
            out.append(_planned(step, "will-fail", step.will_fail))
            blocked = True
            continue
        try:
            done = _is_done(step, ctx)
        except LlmopsError as e:
            out.append(_planned(step, "pending", f"cannot check yet: {e.message}"))
            continue
        if done:
            out.append(_planned(step, "done", "already done"))
        else:
            out.append(_planned(step, "todo", "after an earlier failure" if blocked else ""))
    return out


def _planned(step: Step, status: PlannedStatus, detail: str) -> PlannedStep:
    return PlannedStep(step.id, step.phase, step.description, step.changes, status, detail, step.mutating)


def _preflight(plan: Plan, ctx: StepContext) -> None:
    """Stop before the first change when a step is known to fail on this host (and is not done already)."""
    for step in plan.steps:
        if not step.will_fail:
            continue
        try:
            done = _is_done(step, ctx)
        except LlmopsError:
            done = False
        if not done:
            ctx.state.mark_failed(step.id)
            raise LlmopsError(step.will_fail, code="preflight", hint=PREFLIGHT_HINT)


def apply_plan(plan: Plan, ctx: StepContext) -> RunResult:
    """Execute ``plan``; a failure records the step and re-raises, so the next run resumes there."""
    if ctx.dry_run:
        raise LlmopsError("apply_plan called in a dry run", code="bug")
    reporter = ctx.reporter
    for w in plan.warnings:
        reporter.warn(w)
    if ctx.state.failed:
        reporter.info(f"resuming: the previous run stopped at step {ctx.state.failed}")
    _preflight(plan, ctx)
    result = RunResult()
    started = time.monotonic()
    phase: str | None = None
    phase_started = started
    for step in plan.steps:
        if step.phase != phase:
            if phase is not None:
                result.phases.append((phase, time.monotonic() - phase_started))
            phase, phase_started = step.phase, time.monotonic()
            reporter.phase(phase)
        t0 = time.monotonic()
        try:
            if _is_done_yet(step, ctx):
                if step.record:
                    ctx.state.mark_done(step.id, step.fingerprint)
                reporter.step(step.description, "ok", "already done")
                result.steps.append({"id": step.id, "status": "ok", "seconds": 0.0})
                continue
            if step.will_fail:
                # Known from the facts and confirmed by the check just now: stop before changing anything.
                raise LlmopsError(step.will_fail, code="preflight", hint=PREFLIGHT_HINT)
            reporter.step(step.description, "running")
            step.apply(ctx)
            if step.verify is not None:
                step.verify(ctx)
        except BaseException:
            ctx.state.mark_failed(step.id)
            reporter.step(step.description, "fail")
            raise
        if step.record:
            ctx.state.mark_done(step.id, step.fingerprint)
        seconds = time.monotonic() - t0
        status: Status = "changed" if step.mutating else "ok"
        result.changed += int(step.mutating)
        reporter.step(step.description, status, f"{seconds:.1f}s")
        result.steps.append({"id": step.id, "status": status, "seconds": round(seconds, 2)})
    if phase is not None:
        result.phases.append((phase, time.monotonic() - phase_started))
    result.seconds = time.monotonic() - started
    return result
