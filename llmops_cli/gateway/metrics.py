"""Prometheus metrics of one gateway worker, on a registry of its own (one per app instance), served on a port
of their own (``serve_metrics``; ``--metrics-port``): they name models, policy rules and counts, which the API
port does not show to whoever can reach it.

With ``--workers N`` (N > 1) the workers share one port, so a scrape reaches one of them at random: each would
answer with its own counts, and Prometheus would see counters jump between workers. ``serve`` then points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before the workers start; prometheus_client keeps every
worker's values in memory-mapped files there, and ``/metrics`` answers with the sum over all workers (the
in-flight gauge: over the live ones). That costs a file-backed update per observation, so a single worker keeps
plain in-memory values.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_GAP = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
_MAX_MODELS = 64


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        # Several workers share the values (see the module docstring). prometheus_client chose its value class
        # from the same variable when it was imported.
        self.shared = bool(os.environ.get(MULTIPROC_ENV))
        r = self.registry = CollectorRegistry(auto_describe=True)
        p = "llmops_gateway_"
        self.requests = Counter(
            p + "requests_total",
            "Requests by route, model and status.",
            ["route", "model", "status"],
            registry=r,
        )
        self.duration = Histogram(
            p + "request_duration_seconds", "Request duration.", ["route"], buckets=_LATENCY, registry=r
        )
        self.ttft = Histogram(
            p + "time_to_first_token_seconds",
            "Time to the first streamed token.",
            ["route"],
            buckets=_LATENCY,
            registry=r,
        )
        self.gap = Histogram(
            p + "inter_chunk_seconds",
            "Gap between streamed chunks sent.",
            ["route"],
            buckets=_GAP,
            registry=r,
        )
        self.tokens = Counter(
            p + "tokens_total", "Tokens in (prompt) and out (completion).", ["direction", "model"], registry=r
        )
        self.decisions = Counter(
            p + "policy_decisions_total",
            "Policy decisions by rule and action.",
            ["rule", "action"],
            registry=r,
        )
        self.upstream_errors = Counter(
            p + "upstream_errors_total",
            "Upstream failures and refusals by error code (upstream_timeout, upstream_http_503, ...).",
            ["kind"],
            registry=r,
        )
        self.stream_errors = Counter(
            p + "stream_errors_total",
            "Streams cut short by an upstream failure after their 200 headers went out (an SSE error event, "
            "then close), by route and error code: the 5xx these clients would otherwise have had.",
            ["route", "kind"],
            registry=r,
        )
        self.in_flight = Gauge(
            p + "in_flight_requests", "Requests being served.", multiprocess_mode="livesum", registry=r
        )
        self.ratelimit_store_errors = Counter(
            p + "ratelimit_store_errors_total",
            "Rate-limit checks the shared store (Redis) could not answer, by kind (connect, timeout, lost, "
            "protocol, error); each fell back to the worker's own buckets.",
            ["kind"],
            registry=r,
        )
        self.policy_reloads = Counter(p + "policy_reloads_total", "Policy reloads by result.", ["result"], registry=r)
        self.audit_errors = Counter(
            p + "audit_write_errors_total",
            "Audit records that could not be written (a full disk, a closed pipe); while they fail, requests are "
            "refused (audit.on_failure: refuse).",
            registry=r,
        )
        self.audit_suppressed = Counter(
            p + "audit_records_suppressed_total",
            "Audit records not written because their kind is rate-limited (unauthenticated requests), by reason.",
            ["reason"],
            registry=r,
        )
        self._models: set[str] = set()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

    def child(self, metric: Any, *values: str) -> Any:
        """``metric.labels(*values)``, cached: ``labels`` validates and locks on every call, which showed up
        in the per-request profile. Label values are bounded (routes, statuses, rule ids, 64 models)."""
        key = (id(metric), values)
        c = self._children.get(key)
        if c is None:
            c = self._children[key] = metric.labels(*values)
        return c

    def model_label(self, model: str | None, new: bool = True) -> str:
        """Bound label cardinality: the first 64 model names, then `other`. ``new=False``: a name without a
        slot yet does not take one (the caller has not seen the model work: a denied or failed request, whose
        model name the client chose freely)."""
        if not model:
            return ""
        if model in self._models:
            return model
        if new and len(self._models) < _MAX_MODELS:
            self._models.add(model)
            return model
        return "other"

    def render(self) -> bytes:
        """The text exposition a scrape gets."""
        return generate_latest(self.scrape_registry())

    def scrape_registry(self) -> Any:
        """What a scrape reads: this registry, or with several workers the sum of all of theirs."""
        if self.shared:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return registry
        return self.registry

    def close(self) -> None:
        """At worker exit: its in-flight gauge leaves the sum (its counters stay in it)."""
        if self.shared:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())


# Seconds a connection to the metrics port may take to send its request (and to take the answer): a scrape is
# one quick GET. prometheus_client's own server waits for ever, in a thread per connection of this process.
SCRAPE_TIMEOUT = 10.0


def serve_metrics(registry: Any, host: str, port: int) -> Any:
    """Answer scrapes of ``registry`` on ``host:port`` from a thread of this process (prometheus_client's WSGI
    app and server, each connection with a deadline: ``SCRAPE_TIMEOUT``); the server, to ``shutdown()``. OSError
    when the address cannot be bound."""
    import socket
    import sys
    import threading
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from prometheus_client import make_wsgi_app
    from prometheus_client.exposition import ThreadingWSGIServer

    class Handler(WSGIRequestHandler):
        timeout = SCRAPE_TIMEOUT  # StreamRequestHandler: the connection's socket timeout

        def log_message(self, format: str, *args: Any) -> None:
            pass

    # The address family of the host's first address, as prometheus_client's own server picks it.
    family, _, _, _, sockaddr = socket.getaddrinfo(host or None, port)[0]

    class Server(ThreadingWSGIServer):
        address_family = family

        def handle_error(self, request: Any, client_address: Any) -> None:
            if isinstance(sys.exc_info()[1], TimeoutError | ConnectionError):
                return  # a client that took too long or went away: no traceback on stderr for each
            super().handle_error(request, client_address)

    server = make_server(str(sockaddr[0]), port, make_wsgi_app(registry), Server, handler_class=Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="llmops-metrics").start()
    return server
