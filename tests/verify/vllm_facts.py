"""What the pinned vLLM exports on /metrics, as a fact table keyed by the vLLM release, and the fake upstream
serving it.

Facts (vllm-project/vllm v0.34.0, PyPI wheel vllm-0.34.0 (commit g62d4bc3c7), ``vllm/v1/metrics/loggers.py``,
``PrometheusStatLogger.__init__``; the same names at v0.11.0, which the first table was read from): every metric
below is a prometheus_client object with the label names ``model_name`` (the served model name) and ``engine``
(the engine index), and its labelled child is created when the server starts (``create_metric_per_engine``), so
each series exists, at zero, before the first request. Counters are exposed with the ``_total`` suffix that
prometheus_client adds; histograms as ``_bucket``/``_sum``/``_count``. Families with more labels (``source``,
``finished_reason``, ``reason``, ``sleep_state``) or only under a feature flag are left out.

The table is written from that source, not from llmops' metric map, so a map entry vLLM does not export fails the
tests instead of agreeing with itself; it is looked up by the pinned version, so a vLLM bump without reading the
new release's metrics fails too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from llmops_cli import versions
from llmops_cli.gateway.testing.fake_upstream import FakeConfig, FakeUpstream

VLLM_METRICS: dict[str, dict[str, str]] = {
    "v0.34.0": {
        "vllm:num_requests_running": "gauge",
        "vllm:num_requests_waiting": "gauge",
        "vllm:kv_cache_usage_perc": "gauge",
        "vllm:prefix_cache_queries": "counter",
        "vllm:prefix_cache_hits": "counter",
        "vllm:num_preemptions": "counter",
        "vllm:prompt_tokens": "counter",
        "vllm:prompt_tokens_cached": "counter",
        "vllm:generation_tokens": "counter",
        "vllm:request_prompt_tokens": "histogram",
        "vllm:request_generation_tokens": "histogram",
        "vllm:iteration_tokens_total": "histogram",
        "vllm:request_max_num_generation_tokens": "histogram",
        "vllm:request_params_n": "histogram",
        "vllm:request_params_max_tokens": "histogram",
        "vllm:time_to_first_token_seconds": "histogram",
        "vllm:inter_token_latency_seconds": "histogram",
        "vllm:request_time_per_output_token_seconds": "histogram",
        "vllm:e2e_request_latency_seconds": "histogram",
        "vllm:request_queue_time_seconds": "histogram",
        "vllm:request_inference_time_seconds": "histogram",
        "vllm:request_prefill_time_seconds": "histogram",
        "vllm:request_decode_time_seconds": "histogram",
        "vllm:request_num_preemptions": "histogram",
    },
}


def pinned() -> dict[str, str]:
    """The families of the vLLM release llmops pins (a KeyError: its metrics were not read yet)."""
    return VLLM_METRICS[versions.VLLM_VERSION]


LABELS = ("model_name", "engine")


def registry(model: str, *, drop: Iterable[str] = (), label: str = "model_name") -> Any:
    """A registry shaped like vLLM's at start-up for ``model``, without the families in ``drop``."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    dropped = set(drop)
    reg = CollectorRegistry()
    kinds = {"gauge": Gauge, "counter": Counter, "histogram": Histogram}
    labels = (label, "engine")
    for name, kind in pinned().items():
        if name in dropped:
            continue
        metric = kinds[kind](name, name, list(labels), registry=reg)
        metric.labels(model, "0")
    return reg


class VllmStandIn:
    """The fake OpenAI upstream (completions, streams, /v1/models) plus vLLM's /metrics."""

    def __init__(self, model: str, **config: Any) -> None:
        self.model = model
        self.fake = FakeUpstream(FakeConfig(models=(model,), **config))
        self.registry = registry(model)

    def set_metrics(self, *, drop: Iterable[str] = (), model: str | None = None) -> None:
        self.registry = registry(model or self.model, drop=drop)

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]], send: Callable[..., Any]
    ) -> None:
        if scope["type"] == "http" and scope["path"] == "/metrics":
            from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

            body = generate_latest(self.registry)
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", CONTENT_TYPE_LATEST.encode())],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.fake(scope, receive, send)
