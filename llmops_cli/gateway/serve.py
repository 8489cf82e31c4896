"""Build the gateway from server settings and run it with uvicorn (uvloop + httptools when installed).

With ``--workers N`` uvicorn starts N processes, each calling :func:`app_from_env`; the CLI exports the
effective settings as ``PAC_*`` variables first so every worker sees the same configuration. ``/metrics``
answers with the sum over all workers (see ``metrics``). Rate-limit buckets are per worker, so a key's
effective limit is up to N times the policy's, unless ``PAC_REDIS_URL`` names a Redis that all workers (and
replicas) share (see ``sharedlimits``).
"""

from __future__ import annotations

import errno
import importlib.util
import inspect
import logging
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops_cli.errors import ConfigError, LlmopsError
from llmops_cli.gateway import governance
from llmops_cli.gateway.app import GatewayApp, create_app
from llmops_cli.gateway.audit import HMAC_KEY_ENV, HMAC_KEY_FILE_ENV, AuditLog, hmac_key
from llmops_cli.gateway.connections import HeaderDeadlineProtocol
from llmops_cli.gateway.metrics import MULTIPROC_ENV, Metrics, serve_metrics
from llmops_cli.gateway.policy.limits import Limiter
from llmops_cli.gateway.redis_client import RedisClient, RedisURL
from llmops_cli.gateway.reload import PolicyHolder
from llmops_cli.gateway.settings import ENV, GatewayServerSettings, redis_password
from llmops_cli.gateway.sharedlimits import SharedLimiter
from llmops_cli.gateway.upstream import build_adapter


def build_app(settings: GatewayServerSettings) -> GatewayApp:
    holder = PolicyHolder.from_file(settings.policy_file)
    metrics = Metrics()
    governance.attach(
        metrics.registry, settings.release_file, settings.incidents_file, interval=settings.governance_refresh
    )
    return create_app(
        holder,
        build_adapter(settings),
        audit=AuditLog(settings.audit_log, key=audit_key()),
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
    HeaderDeadlineProtocol.body_timeout = settings.body_timeout
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


def audit_key() -> bytes:
    """The audit hash key (see ``audit.hmac_key``); ConfigError naming the key file when it is unusable."""
    try:
        return hmac_key()
    except ValueError as e:
        raise ConfigError(
            str(e), path=HMAC_KEY_FILE_ENV, hint="mount the Secret there (at least 16 bytes), or unset the variable"
        ) from e


def check_audit_log(target: str | None) -> None:
    """The audit log file can be opened for appending (created 0600 when missing); ConfigError naming it if
    not."""
    if not target or target == "-":
        return
    try:
        os.close(os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600))
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
    if settings.release_file:
        governance.read_release(settings.release_file)
    if settings.incidents_file:
        governance.read_incidents(settings.incidents_file)
    audit_key()
    if settings.redis_url:
        redis_password()
    if settings.provider == "litellm":
        from llmops_cli.gateway.upstream.litellm import import_litellm

        import_litellm()
    return holder


@dataclass
class Prepared:
    """A gateway ready to run: settings checked, its sockets bound, its app built (one worker)."""

    settings: GatewayServerSettings
    sock: socket.socket
    app: GatewayApp | None  # None with several workers: each builds its own
    metrics_server: Any = None
    metrics_dir: str | None = None

    @property
    def address(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def metrics_address(self) -> str | None:
        if self.metrics_server is None:
            return None
        host, port = self.metrics_server.server_address[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def close(self) -> None:
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()
        self.sock.close()
        if self.metrics_dir is not None:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)


def bind(host: str, port: int, flag: str = "--port") -> socket.socket:
    """A TCP socket bound to ``host:port`` (as uvicorn binds: SO_REUSEADDR, inheritable by workers). An address
    that cannot be bound is an LlmopsError of one line naming it and the flag to change."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise bind_error(e, host, port, flag) from None
    sock.set_inheritable(True)
    return sock


def bind_error(e: OSError, host: str, port: int, flag: str) -> LlmopsError:
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if e.errno == errno.EADDRINUSE:
        return LlmopsError(f"{where} is already in use; pick another {flag}", code="address_in_use")
    if isinstance(e, socket.gaierror):
        return LlmopsError(f"cannot listen on {where}: unknown host; pick another --host", code="bind_failed")
    if e.errno == errno.EADDRNOTAVAIL:
        return LlmopsError(
            f"cannot listen on {where}: this machine has no such address; pick another --host", code="bind_failed"
        )
    if e.errno == errno.EACCES:
        return LlmopsError(
            f"cannot listen on {where}: permission denied (ports below 1024 need privileges); pick another {flag}",
            code="bind_failed",
        )
    return LlmopsError(f"cannot listen on {where}: {e.strerror or e}", code="bind_failed")


def prepare(settings: GatewayServerSettings) -> Prepared:
    """Everything that can fail before the gateway serves: the checks of :func:`check`, the app (one worker),
    the listening socket and the metrics port. Nothing is reported as listening before this returns."""
    check(settings)
    settings = settings.model_copy(update={"policy_file": str(Path(settings.policy_file).resolve())})
    app = None
    metrics_dir = None
    if settings.workers > 1:
        # One directory for all workers' metrics, fresh for this run (stale files would add old counts).
        metrics_dir = tempfile.mkdtemp(prefix="llmops-gateway-metrics-")
    else:
        HeaderDeadlineProtocol.header_timeout = settings.header_timeout
        HeaderDeadlineProtocol.body_timeout = settings.body_timeout
        app = build_app(settings)
    sock = bind(settings.host, settings.port)
    prepared = Prepared(settings, sock, app, metrics_dir=metrics_dir)
    if settings.metrics_port is not None:
        try:
            registry = app.metrics.scrape_registry() if app is not None else _workers_registry(metrics_dir)
            prepared.metrics_server = serve_metrics(registry, settings.host, settings.metrics_port)
        except OSError as e:
            prepared.close()
            raise bind_error(e, settings.host, settings.metrics_port, "--metrics-port") from None
    return prepared


def _workers_registry(metrics_dir: str | None) -> Any:
    from prometheus_client import CollectorRegistry, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=metrics_dir)
    return registry


def run(prepared: Prepared) -> None:
    """Serve until SIGINT/SIGTERM; in-flight requests and streams drain for up to 30 s. After SIGINT (Ctrl-C)
    raises KeyboardInterrupt (exit 130), as uvicorn's own ``run`` does not."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = prepared.settings
    common: dict[str, Any] = dict(
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
    try:
        if prepared.app is not None:
            # Server.run, not uvicorn.run: that one swallows the KeyboardInterrupt a Ctrl-C ends in.
            uvicorn.Server(uvicorn.Config(prepared.app, **common)).run(sockets=[prepared.sock])
            return
        from uvicorn.supervisors import Multiprocess

        class Supervisor(Multiprocess):
            interrupted = False

            def handle_int(self) -> None:
                self.interrupted = True
                super().handle_int()

        export_env(settings)
        if not os.environ.get(HMAC_KEY_FILE_ENV):  # one random audit hash key for all workers of this run
            os.environ[HMAC_KEY_ENV] = hmac_key().hex()
        assert prepared.metrics_dir is not None
        os.environ[MULTIPROC_ENV] = prepared.metrics_dir
        config = uvicorn.Config(
            "llmops_cli.gateway.serve:app_from_env", factory=True, workers=settings.workers, **common
        )
        kwargs: dict[str, Any] = {"sockets": [prepared.sock]}
        if "target" in inspect.signature(Multiprocess).parameters:  # older uvicorn releases take the server's run
            kwargs["target"] = uvicorn.Server(config).run
        supervisor = Supervisor(config, **kwargs)
        supervisor.run()
        if supervisor.interrupted:
            raise KeyboardInterrupt
    finally:
        prepared.close()


def serve(settings: GatewayServerSettings) -> None:
    """:func:`prepare`, then :func:`run`."""
    run(prepare(settings))
