"""`llmops status`: nodes, GPUs, Argo CD applications and endpoints."""

from __future__ import annotations

import typer

from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


def command(ctx: typer.Context, output: OutputOpt = OutputFormat.text) -> None:
    """Show nodes, GPU allocatable, each Application's sync/health, endpoints and pins; exit 1 if unhealthy.

    Examples:
      llmops status
      llmops status -o json
    """
    from llmops_cli.cluster.context import user_kube_factory
    from llmops_cli.cluster.status import collect_status

    session = get_session(ctx)
    session.start("status", output)
    settings = session.settings()
    name = settings.cluster.context_name
    report = collect_status(user_kube_factory(name, session.environ)(), settings, context=name)
    if session.machine:
        session.emit(report.to_dict(), status="ok" if report.healthy else "error")
    else:
        out = session.out
        for n in report.nodes:
            out.print(
                f"node {n['name']}: {'Ready' if n['ready'] else 'NotReady'} {n['version']} gpu={n['gpu_allocatable']}",
                markup=False,
            )
        for a in report.applications:
            out.print(f"app  {a['name']:<28} {a['sync']}/{a['health']}", markup=False)
        for e in report.endpoints:
            where = f"{e['url']}  ({e['port_forward']})" if e["present"] else "not deployed"
            out.print(f"endpoint {e['name']:<8} {where}", markup=False)
        out.print("pins: " + ", ".join(f"{k} {v}" for k, v in report.pins.items()), markup=False)
        for p in report.problems:
            session.warn(p)
    if not report.healthy:
        raise typer.Exit(1)
