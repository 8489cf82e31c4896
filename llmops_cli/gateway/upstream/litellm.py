"""In-process LiteLLM client (``PAC_LLM_PROVIDER=litellm``), imported only when selected.

LiteLLM reads its own call parameters from the same keyword arguments as the request's fields: about 400 of
them (``litellm.types.utils.all_litellm_params``), among them ``headers`` (sets upstream request headers,
``Authorization`` included), ``mock_response`` (answers without calling the upstream), ``litellm_system_prompt``
(adds a system message no input policy saw) and the endpoints of its logging integrations. So only what LiteLLM
needs to make the call goes in as keyword arguments: the model, the messages (prompt, input), ``stream`` and
``stream_options``, with the base URL, key and timeout from server configuration. Every other field of the
checked body goes in ``extra_body``, which LiteLLM sends to the upstream verbatim: the upstream receives the
body the policies checked, as with the ``http`` adapter, and a request can never set a LiteLLM parameter.
Responses are turned into the same bytes and SSE events the ``http`` adapter produces, so the output policies
run identically.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson

from llmops_cli.errors import ToolMissing
from llmops_cli.gateway.upstream.base import UpstreamError, UpstreamResponse
from llmops_cli.gateway.upstream.http import HttpAdapter


def import_litellm() -> Any:
    # LiteLLM downloads a model cost map at import unless told to use its bundled copy.
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    try:
        import litellm
    except ImportError as e:
        raise ToolMissing("litellm", "pip install 'llmops[litellm]', or set PAC_LLM_PROVIDER=http") from e
    return litellm


def _dump(obj: Any) -> bytes:
    """A LiteLLM response (or stream chunk) as the upstream's JSON.

    LiteLLM moves the fields it does not model into ``provider_specific_fields``: with vLLM's ``reasoning``
    (vLLM's name for the reasoning text since ``reasoning_content`` was deprecated) moved there, the output
    policies, which check a message's ``reasoning``, never saw it. They are put back where the upstream had
    them, so a reply reaches the policies in the shape the ``http`` adapter gives them."""
    if hasattr(obj, "model_dump"):
        obj = obj.model_dump(exclude_none=True)
    if isinstance(obj, dict):
        _restore(obj)
        for choice in obj.get("choices") or ():
            if isinstance(choice, dict):
                _restore(choice)
                for key in ("message", "delta"):
                    if isinstance(choice.get(key), dict):
                        _restore(choice[key])
    return orjson.dumps(obj)


def _restore(holder: dict[str, Any]) -> None:
    """Move what LiteLLM put in ``provider_specific_fields`` back into ``holder`` (never over a field LiteLLM
    kept)."""
    extra = holder.pop("provider_specific_fields", None)
    if isinstance(extra, dict):
        for k, v in extra.items():
            holder.setdefault(k, v)


class _Stream:
    status = 200

    def __init__(self, chunks: Any) -> None:
        self._chunks = chunks

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._chunks:
                yield b"data: " + _dump(chunk) + b"\n\n"
        except Exception as e:
            raise _translate(e) from e
        yield b"data: [DONE]\n\n"

    async def aread(self) -> bytes:
        return b""


class _Refused:
    """The stream of a request the upstream refused (see ``_upstream_reply``): its status and error body, as the
    http adapter gives them (the gateway rebuilds the error either way)."""

    def __init__(self, status: int, body: bytes, retry_after: str | None = None) -> None:
        self.status = status
        self._body = body
        self.retry_after = retry_after

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        yield self._body

    async def aread(self) -> bytes:
        return self._body


def _upstream_reply(e: Exception, base_url: str) -> UpstreamResponse | None:
    """The answer outside 2xx that a LiteLLM error stands for, as the ``http`` adapter would give it; None for
    other errors (no answer: a timeout, a refused connection; or LiteLLM's own failure).

    LiteLLM raises one class per status and keeps the provider's reply, an ``httpx.Response``, in ``.response``:
    when that reply came from a request to ``base_url``, its body and ``Retry-After`` are passed on, so the
    gateway rebuilds the same error for both adapters (``upstream_http_<status>``). LiteLLM also raises errors of
    its own with a status and a stand-in response (its request is a placeholder for ``https://api.openai.com``):
    a 4xx of its own keeps LiteLLM's message; a 5xx of its own (an invalid body from the upstream is raised as
    a 500) is not an upstream answer."""
    status = getattr(e, "status_code", None)
    if not isinstance(status, int) or not 400 <= status < 600 or _translate(e).kind != "protocol":
        return None  # LiteLLM's Timeout carries a 408 of its own: a timeout (504) like any other
    resp = getattr(e, "response", None)
    body = _reply_body(resp, base_url)
    if body is None:
        if status >= 500:
            return None
        err = {"message": str(e), "type": "invalid_request_error", "param": None, "code": None}
        body = orjson.dumps({"error": err})
    headers = getattr(resp, "headers", None)
    retry = headers.get("retry-after") if headers is not None and hasattr(headers, "get") else None
    return UpstreamResponse(status, body, retry_after=retry if isinstance(retry, str) else None)


def _reply_body(resp: Any, base_url: str) -> bytes | None:
    """The body of an ``httpx.Response`` to a request under ``base_url``; None for anything else."""
    if not isinstance(resp, httpx.Response):
        return None
    try:
        if not str(resp.request.url).startswith(base_url + "/"):
            return None
        return resp.content
    except (RuntimeError, httpx.ResponseNotRead):  # no request bound to it; a body never read
        return None


def _translate(e: Exception) -> UpstreamError:
    """A timeout or a connection failure anywhere in the exception's chain is that (LiteLLM raises a refused
    connection as an ``InternalServerError`` with status 500, over openai's and httpx's errors); anything else
    is a protocol failure."""
    name = type(e).__name__
    cause: BaseException | None = e
    for _ in range(16):  # the chain is short (LiteLLM → openai → httpx → aiohttp → OSError); bound it anyway
        if cause is None:
            break
        if isinstance(cause, httpx.TimeoutException | TimeoutError) or "Timeout" in type(cause).__name__:
            return UpstreamError("timeout", f"upstream timed out ({name})")
        if isinstance(cause, httpx.ConnectError | ConnectionError) or "Connection" in type(cause).__name__:
            return UpstreamError("connect", "upstream refused or unreachable")
        cause = cause.__cause__ or cause.__context__
    return UpstreamError("protocol", f"upstream failed: {name}")


def _input_field(path: str) -> str:
    """The field that carries the input of an upstream endpoint."""
    if path.endswith("/chat/completions"):
        return "messages"
    return "input" if path.endswith("/embeddings") else "prompt"


class LiteLLMAdapter:
    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 60.0) -> None:
        self.litellm = import_litellm()
        self.base_url = base_url.rstrip("/")
        if not self.base_url.endswith("/v1"):
            self.base_url += "/v1"
        self.api_key = api_key or "unused"
        self.timeout = timeout
        # LiteLLM has no call that lists an OpenAI-compatible server's models or probes it: the model list
        # (GET /v1/models) and readiness go to the same base URL over plain HTTP, with the same key.
        self.http = HttpAdapter(self.base_url, api_key=api_key, timeout=timeout, max_connections=4)

    def _common(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """LiteLLM's keyword arguments for one call (see the module docstring): the request's own fields in
        ``extra_body``, but the few LiteLLM must read."""
        extra = dict(body)
        args: dict[str, Any] = {"model": f"openai/{extra.pop('model', '')}"}
        for name in (_input_field(path), "stream", "stream_options"):
            if name in extra:
                args[name] = extra.pop(name)
        if extra:
            args["extra_body"] = extra
        args["api_base"] = self.base_url
        args["api_key"] = self.api_key
        args["timeout"] = self.timeout
        # No retries, as with the http adapter: the SDK under LiteLLM retried a 429, a 5xx or a reset twice,
        # tripling the load on an upstream that is already failing or overloaded.
        args["max_retries"] = 0
        return args

    async def request(self, method: str, path: str, body: bytes | None = None) -> UpstreamResponse:
        if method == "GET":
            return await self.http.request(method, path)
        args = self._common(path, orjson.loads(body or b"{}"))
        try:
            if path.endswith("/chat/completions"):
                resp = await self.litellm.acompletion(**args)
            elif path.endswith("/embeddings"):
                resp = await self.litellm.aembedding(**args)
            else:
                resp = await self.litellm.atext_completion(**args)
        except Exception as e:
            refused = _upstream_reply(e, self.base_url)
            if refused is not None:
                return refused
            raise _translate(e) from e
        return UpstreamResponse(200, _dump(resp))

    @asynccontextmanager
    async def stream(self, path: str, body: bytes) -> AsyncIterator[_Stream | _Refused]:
        args = self._common(path, orjson.loads(body))
        out: _Stream | _Refused
        try:
            if path.endswith("/chat/completions"):
                out = _Stream(await self.litellm.acompletion(**args))
            else:
                out = _Stream(await self.litellm.atext_completion(**args))
        except Exception as e:
            refused = _upstream_reply(e, self.base_url)
            if refused is None:
                raise _translate(e) from e
            out = _Refused(refused.status, refused.body, refused.retry_after)
        yield out

    async def ready(self) -> bool:
        return await self.http.ready()

    async def close(self) -> None:
        await self.http.close()
