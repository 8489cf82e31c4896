"""`llmops verify`: offline checks of config, policies and the rendered tree, and live checks of the platform."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import Session, get_session

if TYPE_CHECKING:
    from llmops_cli.verify.model import CheckResult

_ICON = {"ok": "✓", "warn": "!", "fail": "✗", "skip": "-"}


def _url(flag: str, what: str) -> Any:
    return typer.Option(flag, metavar="URL", help=f"{what}; checks only this (with the others given).")


def command(
    ctx: typer.Context,
    env: Annotated[
        list[str] | None,
        typer.Option(
            "--env",
            "-e",
            metavar="NAME",
            help="Environment: its tree offline (repeatable), and what the live checks expect (the first; "
            "default: the one the cluster runs, else dev).",
        ),
    ] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Only the offline checks: nothing is contacted.")] = False,
    live_only: Annotated[bool, typer.Option("--live-only", help="Only the live checks.")] = False,
    context: Annotated[
        str | None,
        typer.Option(
            "--context",
            metavar="NAME",
            help="Kubeconfig context of the cluster to check (default: llmops-<cluster>), e.g. llmops-prod for "
            "a remote environment; reached through port-forwards like the local one.",
        ),
    ] = None,
    gateway_url: Annotated[str | None, _url("--gateway-url", "Policy Gateway base URL")] = None,
    gateway_metrics_url: Annotated[
        str | None,
        typer.Option(
            "--gateway-metrics-url",
            metavar="URL",
            help="The gateway's /metrics (default: <gateway-url>/metrics); confirms the email redaction.",
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            metavar="KEY",
            envvar="LLMOPS_API_KEY",
            show_envvar=True,
            help="A gateway API key, for the completion checks (llmops gateway keys create verify).",
        ),
    ] = None,
    vllm_url: Annotated[str | None, _url("--vllm-url", "vLLM (OpenAI API) base URL")] = None,
    pg_dsn: Annotated[
        str | None,
        typer.Option(
            "--pg-dsn",
            metavar="DSN",
            envvar="LLMOPS_PG_DSN",
            show_envvar=True,
            help="pgvector: postgresql://user:password@host:5432/db; checks only this (with the others given).",
        ),
    ] = None,
    prometheus_url: Annotated[str | None, _url("--prometheus-url", "Prometheus base URL")] = None,
    grafana_url: Annotated[
        str | None,
        typer.Option(
            "--grafana-url",
            metavar="URL",
            envvar="LLMOPS_GRAFANA_URL",
            show_envvar=True,
            help="Grafana base URL, credentials in it (http://user:password@host); checks only this (with the "
            "others given).",
        ),
    ] = None,
    loki_url: Annotated[str | None, _url("--loki-url", "Loki base URL")] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", metavar="SECONDS", min=1, help="Per request (completions: 3x).")
    ] = 10.0,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Check config, policies and the rendered tree, then the running platform; exit 1 if any check fails.

    Live checks reach the cluster of the kubeconfig context llmops-<cluster> (or --context) through
    port-forwards they open and close themselves, or the endpoints given (which then select what is checked).

    Examples:
      llmops verify
      llmops verify --offline -o json
      llmops verify --api-key "$KEY"
      llmops verify --context llmops-prod --api-key "$KEY"
      llmops verify --live-only --gateway-url http://127.0.0.1:8080 --prometheus-url http://127.0.0.1:9090
    """
    from llmops_cli.errors import UsageError
    from llmops_cli.verify import run_verify
    from llmops_cli.verify.model import Endpoints, VerifyOptions, summary

    session = get_session(ctx)
    session.start("verify", output)
    loaded = session.loaded()
    unknown = [e for e in env or [] if e not in loaded.settings.environments]
    if unknown:
        known = ", ".join(loaded.settings.environments)
        raise UsageError(f"unknown environment {unknown[0]!r}", hint=f"known: {known}")
    endpoints = Endpoints(
        gateway_url=gateway_url,
        gateway_metrics_url=gateway_metrics_url,
        api_key=api_key,
        vllm_url=vllm_url,
        pg_dsn=pg_dsn,
        prometheus_url=prometheus_url,
        grafana_url=grafana_url,
        loki_url=loki_url,
    )
    if offline and live_only:
        raise UsageError("--offline and --live-only exclude each other", hint="give one of them")
    if offline and endpoints.explicit_components():
        raise UsageError("--offline runs no live check, yet endpoints were given", hint="drop --offline")
    if context is not None and (offline or endpoints.explicit_components()):
        raise UsageError(
            "--context selects the cluster to check; "
            + ("--offline contacts none" if offline else "the endpoints given are checked without one"),
            hint="give --context, or --offline / the endpoints",
        )
    options = VerifyOptions(tuple(env or ()), offline, live_only, endpoints, timeout, context)
    report = run_verify(
        loaded, options, environ=session.environ, on_result=None if session.machine else _printer(session)
    )
    if session.machine:
        session.emit(report.to_dict(), status="fail" if report.failed else "ok")
    else:
        s = summary(report.results)
        session.info(
            f"verify: {s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped, "
            f"{s['warnings']} warnings in {s['seconds']:.2f}s" + (f" (environment {report.env})" if report.env else "")
        )
    if report.failed:
        raise typer.Exit(1)


def _printer(session: Session) -> Callable[[CheckResult], None]:
    def show(r: CheckResult) -> None:
        err = session.err
        if r.status == "skip":
            err.print(f"  {_ICON['skip']} {r.name:<40} skipped: {r.detail}", markup=False)
        else:
            err.print(f"  {_ICON[r.status]} {r.name:<40} {r.seconds:6.2f}s  {r.detail}", markup=False)
        if r.hint and r.status != "ok":
            err.print(f"      hint: {r.hint}", markup=False)

    return show
