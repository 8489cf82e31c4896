"""`llmops gateway serve`."""

from __future__ import annotations

from typing import Annotated

import typer

from llmops_cli.cli.gateway._common import PoliciesOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    policies: PoliciesOpt = None,
    upstream: Annotated[
        str | None,
        typer.Option("--upstream", metavar="URL", help="OpenAI-compatible upstream base URL (env PAC_UPSTREAM_URL)."),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider",
            metavar="http|litellm",
            help="Upstream adapter (env PAC_LLM_PROVIDER; default http). litellm needs pip install 'llmops[litellm]'.",
        ),
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="Bind address (env PAC_HOST; default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (env PAC_PORT; default 8080).")] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            help="Serve Prometheus /metrics on this port of the same host (env PAC_METRICS_PORT; default: not "
            "served). Metrics name models, rules and counts: keep the port to the monitoring system.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Worker processes (env PAC_WORKERS); /metrics sums them. Rate limits are per worker unless "
            "--redis-url is set.",
        ),
    ] = None,
    redis_url: Annotated[
        str | None,
        typer.Option(
            "--redis-url",
            metavar="URL",
            help="redis://host:6379/0 (or rediss:// for TLS), a Redis or Valkey holding the rate-limit buckets "
            "that all workers and replicas share (env PAC_REDIS_URL; password from the file in "
            "PAC_REDIS_PASSWORD_FILE or from PAC_REDIS_PASSWORD, not the command line). Unset: each worker has "
            "its own buckets, as it does whenever Redis does not answer within PAC_REDIS_TIMEOUT (0.1 s).",
        ),
    ] = None,
    audit_log: Annotated[
        str | None,
        typer.Option(
            "--audit-log",
            metavar="FILE",
            help="JSON-lines audit log: a file, or - for stdout (env PAC_AUDIT_LOG).",
        ),
    ] = None,
    release: Annotated[
        str | None,
        typer.Option(
            "--release",
            metavar="FILE",
            help="Release record from `llmops govern release`: the evidence of the served model version, exported "
            "as llmops_model_* gauges on /metrics (env PAC_RELEASE_FILE).",
        ),
    ] = None,
    incidents: Annotated[
        str | None,
        typer.Option(
            "--incidents",
            metavar="FILE",
            help="Incident index (incidents/index.json, kept by `llmops govern incident`), exported as "
            "llmops_incidents* gauges and re-read when it changes (env PAC_INCIDENTS_FILE).",
        ),
    ] = None,
    busy_poll: Annotated[
        float | None,
        typer.Option(
            "--busy-poll",
            metavar="MS",
            help="Poll without sleeping for MS milliseconds after each request or streamed read: lower latency "
            "on VMs, a whole core busy while traffic flows. Only with a CPU limit of at least 1 per worker "
            "(env PAC_BUSY_POLL_MS; default 0, off).",
        ),
    ] = None,
) -> None:
    """Serve the OpenAI-compatible, policy-enforcing gateway in front of an upstream model server.

    Each setting comes from, in this order: its flag, its PAC_* environment variable, llmops.yaml
    (stacks.gateway.policies_file, provider, busy_poll_ms), its default. `llmops config show --sources` shows
    the effective settings and where each came from. Other settings by variable only: PAC_UPSTREAM_API_KEY,
    PAC_UPSTREAM_TIMEOUT, PAC_RELOAD_INTERVAL, PAC_UPSTREAM_MAX_CONNECTIONS, PAC_REDIS_TIMEOUT,
    PAC_HEADER_TIMEOUT (10 s), PAC_BODY_TIMEOUT (30 s), PAC_AUDIT_HMAC_KEY_FILE.

    Examples:
      llmops gateway serve --upstream http://127.0.0.1:8000/v1
      PAC_UPSTREAM_URL=http://vllm:8000 llmops gateway serve --host 0.0.0.0 --metrics-port 9464
      llmops gateway serve --release releases/prod.json --incidents incidents/index.json
    """
    from llmops_cli.cli.gateway._common import configured
    from llmops_cli.gateway.serve import prepare, run
    from llmops_cli.gateway.settings import resolve

    session = get_session(ctx)
    session.start("gateway serve")
    flags = {
        "policy_file": policies,
        "upstream_url": upstream,
        "provider": provider,
        "host": host,
        "port": port,
        "metrics_port": metrics_port,
        "workers": workers,
        "audit_log": audit_log,
        "busy_poll_ms": busy_poll,
        "redis_url": redis_url,
        "release_file": release,
        "incidents_file": incidents,
    }
    settings, _ = resolve(flags, session.environ, configured(session))
    prepared = prepare(settings)  # checks, the app, the sockets: every failure before "listening"
    limits = "per worker"
    if settings.redis_url:
        from llmops_cli.gateway.redis_client import RedisURL

        limits = f"shared in {RedisURL.parse(settings.redis_url).safe()}"
    metrics = f", metrics on http://{prepared.metrics_address}/metrics" if prepared.metrics_address else ""
    session.info(
        f"gateway: {settings.provider} → {settings.upstream_url}, policy {settings.policy_file}, "
        f"rate limits {limits}, listening on http://{prepared.address}{metrics}"
    )
    run(prepared)
