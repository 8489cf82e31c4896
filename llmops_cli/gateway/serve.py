"""Build the gateway from server settings and run it with uvicorn (uvloop + httptools when installed).

With ``--workers N`` uvicorn starts N processes, each calling :func:`app_from_env`; the CLI exports the
effective settings as ``PAC_*`` variables first so every worker sees the same configuration. ``/metrics``
answers with the sum over all workers (see ``metrics``). Rate-limit buckets are per worker, so a key's
effective limit is up to N times the policy's, unless ``PAC_REDIS_URL`` names a Redis that all workers (and
replicas) share (see ``sharedlimits``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from llmops_cli.errors import ConfigError
from llmops_cli.gateway.app import GatewayApp, create_app
from llmops_cli.gateway.audit import AuditLog
from llmops_cli.gateway.connections import HeaderDeadlineProtocol
from llmops_cli.gateway.metrics import MULTIPROC_ENV, Metrics
from llmops_cli.gateway.policy.limits import Limiter
from llmops_cli.gateway.redis_client import RedisClient, RedisURL
from llmops_cli.gateway.reload import PolicyHolder
from llmops_cli.gateway.settings import ENV, GatewayServerSettings, redis_password
from llmops_cli.gateway.sharedlimits import SharedLimiter
from llmops_cli.gateway.upstream import build_adapter


def build_app(settings: GatewayServerSettings) -> GatewayApp:
    holder = PolicyHolder.from_file(settings.policy_file)
    metrics = Metrics()
    return create_app(
        holder,
        build_adapter(settings),
        audit=AuditLog(settings.audit_log),
        metrics=metrics,
        reload_interval=settings.reload_interval,
        busy_poll=settings.busy_poll_ms / 1000,
        shared_limits=shared_limits(settings, metrics),
        body_timeout=settings.body_timeout,
    )


def shared_limits(settings: GatewayServerSettings, metrics: Metrics) -> SharedLimiter | None:
    """The Redis-backed limiter when ``PAC_REDIS_URL`` is set (password from ``PAC_REDIS_PASSWORD_FILE``,
    ``PAC_REDIS_PASSWORD`` or the URL)."""
    if not settings.redis_url:
        return None
    url = RedisURL.parse(settings.redis_url, redis_password())
    return SharedLimiter(
        RedisClient(url, settings.redis_timeout),
        Limiter(),
        on_error=lambda kind: metrics.child(metrics.ratelimit_store_errors, kind).inc(),
    )


def app_from_env() -> GatewayApp:
    """uvicorn factory for worker processes."""
    settings = GatewayServerSettings.from_env()
    HeaderDeadlineProtocol.header_timeout = settings.header_timeout
    return build_app(settings)


def export_env(settings: GatewayServerSettings) -> None:
    for name, var in ENV.items():
        value = getattr(settings, name)
        if value is not None:
            os.environ[var] = str(value)


def _fast_loop() -> dict[str, Any]:
    """uvloop when installed, and httptools (a dependency) with the header deadline (see ``connections``)."""
    opts: dict[str, Any] = {"http": HeaderDeadlineProtocol}
    if importlib.util.find_spec("uvloop"):
        opts["loop"] = "uvloop"
    return opts


def check_audit_log(target: str | None) -> None:
    """The audit log file can be opened for appending (created when missing); ConfigError naming it if not."""
    if not target or target == "-":
        return
    try:
        with open(target, "ab"):
            pass
    except OSError as e:
        raise ConfigError(
            f"cannot write the audit log {target}: {e.strerror or e}",
            hint="create its directory or fix its permissions, or choose another file with --audit-log or "
            "PAC_AUDIT_LOG; - writes to stdout",
        ) from e


def check(settings: GatewayServerSettings) -> PolicyHolder:
    """Validate what serving needs before any socket opens (policy file, audit log; the LiteLLM import when
    selected)."""
    holder = PolicyHolder.from_file(settings.policy_file)
    check_audit_log(settings.audit_log)
    if settings.redis_url:
        redis_password()
    if settings.provider == "litellm":
        from llmops_cli.gateway.upstream.litellm import import_litellm

        import_litellm()
    return holder


def serve(settings: GatewayServerSettings) -> None:
    """Run until SIGINT/SIGTERM; in-flight requests and streams drain for up to 30 s."""
    import uvicorn

    check(settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings.model_copy(update={"policy_file": str(Path(settings.policy_file).resolve())})
    common: dict[str, Any] = dict(
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_level="info",
        # Nothing in the gateway reads the client address, so X-Forwarded-* is not trusted or parsed (one
        # middleware less per request), and responses do not name the server software.
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=30,
        lifespan="on",
        **_fast_loop(),
    )
    if settings.workers > 1:
        export_env(settings)
        # One directory for all workers' metrics, fresh for this run (stale files would add old counts).
        metrics_dir = tempfile.mkdtemp(prefix="llmops-gateway-metrics-")
        os.environ[MULTIPROC_ENV] = metrics_dir
        try:
            uvicorn.run("llmops_cli.gateway.serve:app_from_env", factory=True, workers=settings.workers, **common)
        finally:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    else:
        HeaderDeadlineProtocol.header_timeout = settings.header_timeout
        uvicorn.run(build_app(settings), **common)
