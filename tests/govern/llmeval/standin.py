"""A stand-in OpenAI-compatible endpoint on loopback: real HTTP, and it refuses what the real servers refuse.

What it enforces, as vLLM v0.34.0 does (PyPI wheel vllm-0.34.0, commit g62d4bc3c7):
- vllm/entrypoints/serve/engine/serving.py ``_check_model``: an unknown model is a 404 ``ErrorResponse``
  (vllm/entrypoints/serve/engine/protocol.py: ``{"error": {"message", "type", "param", "code"}}``) with
  "The model `x` does not exist. Valid aliases: ...", type NotFoundError, param model; a request without
  ``model`` is served by the one model (``_is_model_supported``);
- vllm/entrypoints/openai/chat_completion/protocol.py ``ChatCompletionRequest``: ``messages`` is required;
- /classify (vllm/entrypoints/pooling/classify/api_router.py) exists only for a model with the classify task
  (pooling/factories.py ``register_pooling_api_routers``; otherwise FastAPI's 404 ``{"detail": "Not Found"}``),
  takes ``input`` (a string or list) or ``messages``, answers an unknown model with a 404 NotFoundError
  "The model `x` does not exist." (pooling/base/serving.py ``_maybe_get_adapters``), and a label is null when
  the model's config has no ``id2label`` entry for the winning class (pooling/classify/serving.py);
and as llama-cpp-python 0.3.36's server does for auth (llama_cpp/server/app.py ``authenticate``: a missing or
wrong bearer key is a 401).
Scripted failures (429 with Retry-After, 503, a dropped connection) exercise the client's retries, and it
counts requests in flight so tests can check the client's bound.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[list[dict[str, str]]], str]


def echo_last_user(messages: list[dict[str, str]]) -> str:
    return next(m["content"] for m in reversed(messages) if m["role"] == "user")


@dataclass
class StandIn:
    answer: Answer = echo_last_user
    models: tuple[str, ...] = ("stand-in",)
    api_key: str | None = None
    failures: list[int] = field(default_factory=list)  # statuses to answer first (0: drop the connection)
    retry_after: str | None = None
    models_status: int = 200
    models_body: bytes | None = None  # e.g. an HTML page: not the OpenAI API
    reject_seed: bool = False
    fail_prompt: str | None = None  # a user message containing this always gets a 500
    # vLLM's POST /classify at the server root: {"model", "input"} -> data[i].label (None: no id2label entry)
    classify: Callable[[str], str | None] | None = None
    delay_s: float = 0.0
    in_flight: int = 0
    max_in_flight: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    busy_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(state: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "text/html" if isinstance(body, bytes) else "application/json")
            self.send_header("content-length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if state.api_key is None:
                return True
            if self.headers.get("authorization") == f"Bearer {state.api_key}":
                return True
            self._send(401, {"error": {"message": "Invalid API Key", "type": "invalid_request_error"}})
            return False

        def do_GET(self) -> None:
            if not self._authorised():
                return
            if self.path.rstrip("/").endswith("/models"):
                if state.models_body is not None:
                    self._send(state.models_status, state.models_body)
                else:
                    data = [{"id": m, "object": "model", "owned_by": "stand-in"} for m in state.models]
                    self._send(state.models_status, {"object": "list", "data": data})
                return
            self._send(404, {"detail": "Not Found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if not self._authorised():
                return
            if self.path == "/classify" and state.classify is not None:
                if body.get("model") and body["model"] not in state.models:
                    msg = f"The model `{body['model']}` does not exist."
                    self._send(404, {"error": {"message": msg, "type": "NotFoundError", "param": None, "code": 404}})
                    return
                if "input" not in body and "messages" not in body:
                    self._send(400, {"error": {"message": "1 validation error", "type": "Bad Request", "code": 400}})
                    return
                raw = body["input"] if "input" in body else [m["content"] for m in body["messages"]]
                texts = raw if isinstance(raw, list) else [raw]
                data = [
                    {"index": i, "label": state.classify(str(t)), "probs": [0.5, 0.5], "num_classes": 2}
                    for i, t in enumerate(texts)
                ]
                self._send(
                    200,
                    {
                        "id": "classify-1",
                        "object": "list",
                        "created": 0,
                        "model": body.get("model") or state.models[0],
                        "data": data,
                    },
                )
                return
            if not self.path.endswith("/chat/completions"):
                self._send(404, {"detail": "Not Found"})
                return
            with state.lock:
                state.requests.append(body)
                failure = state.failures.pop(0) if state.failures else None
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            t0 = time.perf_counter()
            try:
                if failure == 0:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if failure is not None:
                    headers = {"retry-after": state.retry_after} if state.retry_after else {}
                    self._send(failure, {"error": {"message": "try again", "code": failure}}, headers)
                    return
                if state.fail_prompt and state.fail_prompt in str(body.get("messages")):
                    self._send(500, {"error": {"message": "internal error"}})
                    return
                if state.reject_seed and "seed" in body:
                    self._send(400, {"error": {"message": "Unrecognized request argument supplied: seed"}})
                    return
                if "messages" not in body:
                    self._send(400, {"error": {"message": "messages: Field required"}})
                    return
                if body.get("model") and body["model"] not in state.models:
                    msg = f"The model `{body['model']}` does not exist. Valid aliases: {', '.join(state.models)}."
                    error = {"message": msg, "type": "NotFoundError", "param": "model", "code": 404}
                    self._send(404, {"error": error})
                    return
                if state.delay_s:
                    time.sleep(state.delay_s)
                text = state.answer(body["messages"])
                self._send(
                    200,
                    {
                        "id": "chatcmpl-standin",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body.get("model") or state.models[0],
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                        ],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    },
                )
            finally:
                with state.lock:
                    state.in_flight -= 1
                    state.busy_s += time.perf_counter() - t0

    return Handler


@contextmanager
def serve(state: StandIn) -> Iterator[str]:
    """Serve ``state`` on a free loopback port; yields the base URL (…/v1)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
