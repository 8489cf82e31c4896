"""Human output of `promote`: the gate, each host's plan, the release's diff, and the result."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmops_cli.cli.session import Session
    from llmops_cli.promote.api import PreparedPromote, PromoteReport

_MARK = {"done": "done ", "todo": "todo ", "pending": "later", "will-fail": "FAIL "}


def _gate_lines(prepared: PreparedPromote) -> list[str]:
    g = prepared.gate
    if not g.required and g.bundle is None:
        return [f"gate: {prepared.env} does not require evidence (requires_evidence: false)"]
    verdict = "passes" if g.ok else "REFUSES"
    lines = [f"gate: {verdict} for {g.model or 'the release'}"]
    if g.bundle is not None:
        sig = g.signature + (f" by {g.signed_by}" if g.signed_by else "")
        lines.append(f"  evidence {g.bundle} ({g.digest}), status {g.status}, signature {sig}")
    if g.risk_score is not None or g.risk_class:
        lines.append(f"  risk score {g.risk_score:g} {g.risk_level or ''}, class {g.risk_class or 'none'}".rstrip())
    lines += [f"  - {r}" for r in g.reasons()]
    return lines


def print_prepared(session: Session, prepared: PreparedPromote, *, summary_only: bool = False) -> None:
    out = session.out
    for line in _gate_lines(prepared):
        session.info(line)
    cp = prepared.cluster
    if cp is not None and not summary_only:
        out.print(
            f"Plan for environment {cp.env}: {len(cp.nodes)} host(s), API {cp.api_server} "
            f"({cp.api.describe() if cp.api is not None else 'direct'}), context {cp.context}",
            markup=False,
        )
        for node in cp.nodes:
            f = node.facts
            k3s = f"k3s {f.k3s.version} installed" if f.k3s.installed else "no k3s"
            out.print(
                f"\n== {node.name} ({node.spec.user}@, {node.role.kind}, {f.hostname}, {f.os_pretty}, "
                f"GPU {'on' if node.plan.gpu else 'off'}, {k3s})",
                markup=False,
            )
            for i, p in enumerate(node.planned, 1):
                out.print(f" {i:2}. {_MARK[p.status]} [{p.phase}] {p.description}", markup=False)
                out.print(f"            changes: {p.changes}", markup=False)
                if p.detail:
                    out.print(f"            {p.detail}", markup=False)
            for w in node.plan.warnings:
                session.warn(f"{node.name}: {w}")
        for w in cp.warnings:
            session.warn(w)
    elif cp is not None:
        todo = cp.summary()["steps"]
        session.info(f"{len(todo)} step(s) to run on {len(cp.nodes)} host(s) (`--dry-run` lists each)")
    change = prepared.change
    stat = change.stat()
    session.info(
        f"release: {change.release.label} -> {change.folder} on branch {change.branch} "
        f"({stat['added']} added, {stat['changed']} changed, {stat['removed']} removed)"
        + (f"; restores {change.restores[:12]}" if change.restores else "")
    )
    if not summary_only:
        for ref, pin in change.release.image_digests.items():
            session.info(f"  image {ref} -> {pin.get('digest')} (from {pin.get('source')})")
        out.print("\ncommit message:", markup=False)
        for line in change.message.splitlines():
            out.print(f"    {line}", markup=False)
        diff = change.diff()
        out.print("\n" + (diff or "(no change to the tree)\n"), markup=False, end="")
    for failure in prepared.failures:
        session.err.print(f"FAIL {failure}", markup=False)
    if prepared.options.dry_run:
        session.info("dry run: nothing was changed")


def print_report(session: Session, report: PromoteReport) -> None:
    if report.run is not None:
        for host, run in report.run.runs.items():
            session.info(f"{host}: {run.changed} step(s) changed in {run.seconds:.0f}s")
    change = report.prepared.change
    if report.commit:
        session.out.print(f"{report.commit} {change.message.splitlines()[0]}", markup=False)
    if report.pushed:
        session.info(f"pushed {change.branch}")
    if report.synced:
        session.info("Argo CD: " + ", ".join(f"{k} {v}" for k, v in sorted(report.synced.items())))
    for note in report.notes:
        session.info(note)
