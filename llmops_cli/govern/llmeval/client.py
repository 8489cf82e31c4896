"""An OpenAI-compatible chat client for evaluation runs: bounded in-flight requests, retries with backoff
on 429 and 5xx, and one-line errors when the endpoint cannot be reached or does not speak the API.

httpx is imported when a run starts, never at CLI start-up.

API facts relied on (vllm-project/vllm v0.34.0, read in the PyPI wheel vllm-0.34.0, commit g62d4bc3c7):
- ``GET {base}/models`` answers ``{"object": "list", "data": [{"id": ...}, ...]}`` and
  ``POST {base}/chat/completions`` answers ``{"model", "choices": [{"message": {"content"}, "finish_reason"}]}``
  (the OpenAI API reference; vllm/entrypoints/serve/engine/protocol.py ``ModelList``/``ModelCard``,
  vllm/entrypoints/openai/chat_completion/protocol.py ``ChatCompletionResponse``; llama-cpp-python's server,
  llama_cpp/server/app.py, serves the same routes).
- ``seed`` (int64) and ``temperature`` are request fields of both (chat_completion/protocol.py
  ``ChatCompletionRequest``); ``max_tokens`` is deprecated there in favour of ``max_completion_tokens`` but
  still read when the latter is absent, and it is the field llama-cpp-python's server takes, so it is sent.
- Errors are ``{"error": {"message", "type", "param", "code"}}`` (serve/engine/protocol.py ``ErrorResponse``);
  an unknown model is a 404 NotFoundError "The model `x` does not exist. Valid aliases: ..."
  (serve/engine/serving.py ``_check_model``).
- vLLM's classification route is ``POST /classify`` at the server root (no ``/v1``), served only for a model
  with the classify task (pooling/factories.py; otherwise 404), request ``{"model", "input": str | [str]}``,
  answer ``{"data": [{"index", "label", "probs", "num_classes"}]}`` where ``label`` is null when the model's
  config has no ``id2label`` entry for the winning class (pooling/classify/api_router.py ``create_classify``,
  protocol.py ``ClassificationCompletionRequest``/``ClassificationData``, serving.py ``_build_response``); an
  unknown model is a 404 NotFoundError (pooling/base/serving.py ``_maybe_get_adapters``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from llmops_cli.errors import LlmopsError

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 20.0
RETRY_AFTER_CAP_S = 60.0


GATEWAY_HEADER = "x-llmops-gateway"  # set by `llmops gateway serve` on every response (llmops_cli.gateway.asgi)


class EndpointError(LlmopsError):
    """The evaluated (or judge) endpoint is unreachable, refuses us, or is not OpenAI-compatible."""

    code = "endpoint"


def redact_url(url: str) -> str:
    """The URL as recorded in evidence: no user:password, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


@dataclass
class Reply:
    """One answer, or the error that stopped it after the retries."""

    text: str = ""
    model: str | None = None
    finish_reason: str | None = None
    error: str | None = None
    status: int | None = None
    attempts: int = 0
    latency_s: float = 0.0
    gateway: str | None = None  # the llmops Policy Gateway's version when it wrote the answer (x-llmops-gateway)


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    errors: int = 0
    busy_s: float = 0.0  # time spent waiting on the endpoint, summed over requests
    latencies: list[float] = field(default_factory=list)


class ChatClient:
    """One per run, used inside one event loop."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        concurrency: int = 4,
        max_retries: int = 4,
        sleep: Callable[[float], Any] | None = None,
        what: str = "endpoint",
    ) -> None:
        import httpx

        self.base = base_url.rstrip("/")
        self.shown = redact_url(base_url)
        self.what = what
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(
            headers=headers,
            # plain http has no certificates to check (and redirects are not followed): skip building a TLS
            # context, which costs ~40 ms; https keeps httpx's default verification
            verify=not base_url.startswith("http://"),
            timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self._gate = asyncio.Semaphore(concurrency)
        self.max_retries = max_retries
        self.timeout_s = timeout_s
        self.stats = ClientStats()
        self._sleep = sleep or asyncio.sleep
        self._jitter = random.Random(0)  # backoff jitter only; answers never depend on it
        self.seed_supported = True

    async def close(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------------------------- probing
    async def models(self) -> list[str]:
        """The model ids the endpoint serves; fails with one line when it is down or not the OpenAI API."""
        import httpx

        url = f"{self.base}/models"
        try:
            r = await self._http.get(url)
        except httpx.TimeoutException:
            raise EndpointError(
                f"the {self.what} {self.shown} did not answer within {self.timeout_s:g} s",
                hint="is the server up and the URL right?",
            ) from None
        except httpx.HTTPError as e:
            raise EndpointError(
                f"cannot reach the {self.what} {self.shown}: {_reason(e)}",
                hint="start the server or fix the URL (an OpenAI-compatible base URL ends in /v1)",
            ) from None
        if r.status_code in (401, 403):
            raise EndpointError(
                f"the {self.what} {self.shown} refused the request (HTTP {r.status_code})",
                hint="name the variable holding its API key with --api-key-env",
            )
        if r.status_code == 404:
            return []  # some servers do not list models; the first chat request tells
        body = _json(r)
        data = body.get("data") if isinstance(body, dict) else None
        if r.status_code != 200 or not isinstance(data, list):
            raise EndpointError(
                f"the {self.what} {self.shown} is not OpenAI-compatible: GET /models answered "
                f"HTTP {r.status_code} {_kind(r)}",
                hint="give the API's base URL, e.g. http://127.0.0.1:8000/v1",
            )
        return [str(m["id"]) for m in data if isinstance(m, dict) and "id" in m]

    # ------------------------------------------------------------------------------------- chat
    async def chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        seed: int | None,
    ) -> Reply:
        body: dict[str, Any] = {
            "model": model,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if seed is not None and self.seed_supported:
            body["seed"] = seed
        reply = await self._post("chat/completions", body)
        if reply.error is not None and reply.status == 400 and "seed" in (reply.error or "").lower():
            self.seed_supported = False  # an API without `seed`: say so in the evidence, ask again without
            body.pop("seed", None)
            reply = await self._post("chat/completions", body)
        return reply

    async def classify(self, root: str, model: str, text: str) -> tuple[str | None, str | None]:
        """vLLM's /classify on one text: (label, error)."""
        import httpx

        async with self._gate:
            try:
                r = await self._http.post(f"{root.rstrip('/')}/classify", json={"model": model, "input": [text]})
            except httpx.HTTPError as e:
                return None, _reason(e)
        if r.status_code != 200:
            return None, f"POST /classify: {_error_text(r)}"
        body = _json(r)
        try:
            item = body["data"][0]
            label = item["label"]
        except (KeyError, IndexError, TypeError):
            return None, f"POST /classify answered HTTP {r.status_code} {_kind(r)}, not a classification"
        if label is None:  # vLLM: the model's config has no id2label entry for the winning class
            return None, f"the classifier gave no label (class {_argmax(item.get('probs'))} has no id2label entry)"
        return str(label), None

    async def _post(self, path: str, body: dict[str, Any]) -> Reply:
        import httpx

        reply = Reply()
        started = time.perf_counter()
        for attempt in range(self.max_retries + 1):
            reply.attempts = attempt + 1
            retry_after: float | None = None
            async with self._gate:
                t0 = time.perf_counter()
                try:
                    r = await self._http.post(f"{self.base}/{path}", json=body)
                except httpx.TimeoutException:
                    reply.error, reply.status = f"no answer within {self.timeout_s:g} s", None
                    r = None
                except httpx.HTTPError as e:
                    reply.error, reply.status = _reason(e), None
                    r = None
                finally:
                    self.stats.busy_s += time.perf_counter() - t0
            if r is not None:
                reply.status = r.status_code
                reply.gateway = r.headers.get(GATEWAY_HEADER)
                if r.status_code == 200:
                    _fill(reply, _json(r), self.shown)
                    break
                reply.error = _error_text(r)
                if r.status_code not in RETRY_STATUS:
                    break
                retry_after = _retry_after(r.headers.get("retry-after"))
            if attempt == self.max_retries:
                break
            self.stats.retries += 1
            delay = retry_after if retry_after is not None else self._backoff(attempt)
            await self._sleep(delay)
        reply.latency_s = time.perf_counter() - started
        self.stats.requests += 1
        self.stats.latencies.append(reply.latency_s)
        if reply.error is not None:
            self.stats.errors += 1
        return reply

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter")."""
        return self._jitter.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))


def _fill(reply: Reply, body: Any, shown: str) -> None:
    try:
        choice = body["choices"][0]
        content = choice["message"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise EndpointError(
            f"the endpoint {shown} is not OpenAI-compatible: a chat completion without choices[0].message",
            hint="give the API's base URL, e.g. http://127.0.0.1:8000/v1",
        ) from None
    reply.text = content if isinstance(content, str) else ""
    reply.model = str(body.get("model")) if body.get("model") is not None else None
    reply.finish_reason = choice.get("finish_reason")
    reply.error = None


def _argmax(probs: Any) -> str:
    if isinstance(probs, list) and probs and all(isinstance(p, (int, float)) for p in probs):
        return str(max(range(len(probs)), key=lambda i: probs[i]))
    return "?"


def _json(r: Any) -> Any:
    try:
        return r.json()
    except ValueError:
        return None


def _kind(r: Any) -> str:
    ctype = r.headers.get("content-type", "").split(";")[0].strip()
    return f"({ctype})" if ctype else "(no content type)"


def _error_text(r: Any) -> str:
    body = _json(r)
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body.get("message")))
        if isinstance(err, dict):
            err = err.get("message", err)
        if err:
            return f"HTTP {r.status_code}: {str(err)[:200]}"
    return f"HTTP {r.status_code} {_kind(r)}"


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (RFC 9110 §10.2.3 also allows an HTTP date: then the backoff applies)."""
    if not value:
        return None
    try:
        return min(RETRY_AFTER_CAP_S, max(0.0, float(value)))
    except ValueError:
        return None


def _reason(e: Exception) -> str:
    text = str(e).strip()
    if "Connection refused" in text or "connect" in type(e).__name__.lower():
        return "connection refused" if "refused" in text.lower() or not text else text.splitlines()[0][:160]
    return (text.splitlines()[0][:160] if text else type(e).__name__) or type(e).__name__
