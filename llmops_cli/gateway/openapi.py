"""The gateway's OpenAPI 3.1 document (served at ``/openapi.json``; schemathesis tests against it).

Request schemas describe what the gateway accepts, in the subset of OpenAI's API it enforces policies on.
"""

from __future__ import annotations

from typing import Any

import orjson

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
_MESSAGE = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {
        "role": {"type": "string", "enum": ["system", "user", "assistant", "tool", "developer"]},
        "content": {"type": "string"},
        "name": {"type": "string"},
    },
}
_COMMON = {
    "model": {"type": "string", "minLength": 1},
    "max_tokens": {"type": "integer", "minimum": 1},
    "temperature": {"type": "number", "minimum": 0, "maximum": 2},
    "stream": {"type": "boolean"},
    "user": {"type": "string"},
}
_CHAT = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": {**_COMMON, "messages": {"type": "array", "items": _MESSAGE, "minItems": 1}},
}
_COMPLETION = {
    "type": "object",
    "required": ["model", "prompt"],
    "properties": {
        **_COMMON,
        "prompt": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    },
}
_EMBED = {
    "type": "object",
    "required": ["model", "input"],
    "properties": {
        "model": {"type": "string", "minLength": 1},
        "input": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    },
}


# Any other 4xx comes from the upstream (see ``replies``).
_UPSTREAM_4XX = {
    "4XX": {
        "description": "The upstream refused the request: its status, its error rebuilt by the gateway",
        "content": {"application/json": {"schema": _ERROR}},
    }
}


def _errors(*codes: int) -> dict[str, Any]:
    desc = {
        400: "Bad request or content policy",
        401: "Missing or invalid key",
        403: "Model not allowed",
        429: "Rate limited",
        502: "Upstream failed",
        503: "At capacity",
        504: "Upstream timed out",
    }
    return {str(c): {"description": desc[c], "content": {"application/json": {"schema": _ERROR}}} for c in codes}


def _post(summary: str, schema: dict[str, Any], sse: bool) -> dict[str, Any]:
    ok: dict[str, Any] = {"application/json": {"schema": {"type": "object"}}}
    if sse:
        ok["text/event-stream"] = {"schema": {"type": "string"}}
    return {
        "post": {
            "summary": summary,
            "security": [{"bearer": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
            "responses": {
                "200": {"description": "OK", "content": ok},
                **_errors(400, 401, 403, 429, 502, 503, 504),
                **_UPSTREAM_4XX,
            },
        }
    }


def _get(summary: str, codes: tuple[int, ...] = (200,), secured: bool = False) -> dict[str, Any]:
    responses: dict[str, Any] = {str(c): {"description": "status"} for c in codes}
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if secured:
        op["security"] = [{"bearer": []}]
        responses.update(_errors(401, 502, 504), **_UPSTREAM_4XX)
    return {"get": op}


SCHEMA: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "llmops Policy Gateway", "version": "1"},
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "paths": {
        "/v1/chat/completions": _post("Chat completion (SSE when stream is true)", _CHAT, True),
        "/v1/completions": _post("Text completion (SSE when stream is true)", _COMPLETION, True),
        "/v1/embeddings": _post("Embeddings", _EMBED, False),
        "/proxy/completion": _post("Chat completion, never streamed", _CHAT, False),
        "/proxy/completion/stream": _post("Chat completion, always streamed (SSE)", _CHAT, True),
        "/v1/models": _get("Models this key may use", secured=True),
        "/healthz": _get("Liveness"),
        "/readyz": _get("Readiness: upstream reachable and requests recorded (status words only)", (200, 503)),
    },
}
OPENAPI = orjson.dumps(SCHEMA)
