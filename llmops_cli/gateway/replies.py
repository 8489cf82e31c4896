"""What the client gets when the upstream answers with a status outside 2xx (non-streamed and streamed alike).

Nothing the upstream sends leaves unchecked, error bodies included: some OpenAI-compatible servers and LiteLLM
quote the request in their error messages, and an upstream may put anything in a body. So the gateway never
forwards an error body; it rebuilds one:

* 4xx: the upstream's status and an OpenAI error object built from the string fields of the upstream's
  (``message``, ``type``, ``param``, ``code``; anything else dropped; a missing ``type`` is ``upstream_error``
  and a missing ``code`` is ``upstream_http_<status>``), checked by the output PII detectors and the blocked
  patterns. A ``deny`` finding or a blocked pattern withholds the upstream's text and answers a generic error
  with the same status: the request already failed upstream, and answering 400 ``content_policy_violation``
  instead would misreport why (a 404 or a 429 is something the client acts on), while the upstream's text
  still never leaves. A body that is not JSON, or not an error object of a known shape, gets a generic error.
* 401 and 407: 502; the upstream refused the gateway's own credentials, which the client's key has nothing to
  do with (forwarding a 401 would send the client checking its key).
* 5xx: 502 with a generic error (an upstream's 5xx message may carry its internals).
* 1xx, 3xx and anything else: 502 ``upstream_protocol``; the gateway follows no redirects.

Every error code the gateway reports for an upstream starts ``upstream_``: ``upstream_timeout``,
``upstream_connect``, ``upstream_protocol`` (from :class:`~llmops_cli.gateway.upstream.UpstreamError` kinds)
and ``upstream_http_<status>`` for a 4xx or 5xx answer. The same string is the audit record's ``error`` and the
``kind`` label of ``llmops_gateway_upstream_errors_total``.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from llmops_cli.gateway.asgi import error_body
from llmops_cli.gateway.policy.engine import CompiledPolicy, Decision, Denied
from llmops_cli.gateway.policy.patterns import normalise

_FIELDS = ("message", "type", "param", "code")


# Retry-After as delta-seconds or an HTTP-date (RFC 9110 §10.2.3); anything else is not passed on.
_RETRY_AFTER = re.compile(r"\d{1,9}|[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")


def retry_after(upstream_status: int, value: str | None) -> list[tuple[bytes, bytes]] | None:
    """The ``Retry-After`` header to pass on with the answer to an upstream 429 or 503 (the client's SDK backs off
    as the upstream asked); None for other statuses or a value that is not a valid Retry-After."""
    if upstream_status not in (429, 503) or value is None:
        return None
    value = value.strip()
    if not _RETRY_AFTER.fullmatch(value):
        return None
    return [(b"retry-after", value.encode("ascii"))]


UPSTREAM_PREFIX = "upstream_"  # every error code the gateway reports for an upstream starts with it


def upstream_code(kind: str) -> str:
    """The error code of an :class:`~llmops_cli.gateway.upstream.UpstreamError` kind."""
    return UPSTREAM_PREFIX + kind


def refusal(status: int, body: bytes, policy: CompiledPolicy, decisions: list[Decision]) -> tuple[int, str, bytes]:
    """``(client status, error code, client body)`` for an upstream answer with ``status`` outside 2xx and
    ``body``. Policy decisions on the upstream's error text are appended to ``decisions``. Never raises on
    anything the upstream sent."""
    if 500 <= status < 600:
        code = f"upstream_http_{status}"
        return 502, code, error_body(f"Upstream answered {status}.", "upstream_error", code)
    if not 400 <= status < 500:
        code = upstream_code("protocol")
        message = f"Upstream answered {status}: the gateway expects 2xx, 4xx or 5xx and follows no redirects."
        return 502, code, error_body(message, "upstream_error", code)
    code = f"upstream_http_{status}"
    if status in (401, 407):
        # The upstream (or a proxy before it) refused the gateway's own credentials: nothing the client can fix
        # with its key, so not the client's 401 (which would send it looking at its own key).
        message = f"Upstream answered {status}: the gateway's upstream credentials (PAC_UPSTREAM_API_KEY) were refused."
        return 502, code, error_body(message, "upstream_error", code)
    fields = _error_fields(body)
    if fields is None:
        return status, code, error_body(f"Upstream answered {status}.", "upstream_error", code)
    texts = [v for v in fields.values() if v is not None]
    hit = policy.blocked.search("\n".join(normalise(t) for t in texts))
    if hit is not None:
        decisions.append(Decision(f"blocked_pattern:{hit}", "deny"))
        return status, code, _withheld(status, code)
    if policy.pii_out:
        try:
            for name, value in fields.items():
                if value is not None:
                    fields[name] = policy.apply_pii(value, policy.pii_out, "output", decisions)
        except Denied:  # the finding is in ``decisions`` already
            return status, code, _withheld(status, code)
    message = fields["message"] or f"Upstream answered {status}."
    body = error_body(message, fields["type"] or "upstream_error", fields["code"] or code, fields["param"])
    return status, code, body


def _withheld(status: int, code: str) -> bytes:
    return error_body(
        f"Upstream answered {status}; the gateway's content policy withheld its error message.",
        "upstream_error",
        code,
    )


def _error_fields(body: bytes) -> dict[str, str | None] | None:
    """The string fields of an upstream error body, or None when it is not one. Shapes: OpenAI's (also vLLM,
    llama.cpp, LiteLLM) ``{"error": {"message", "type", "param", "code"}}``; vLLM's older top-level
    ``{"object": "error", "message", ...}``; ``{"error": "text"}`` (TGI, Ollama); ``{"detail": "text"}``
    (FastAPI's own errors, e.g. an unknown path). Non-string values (vLLM's numeric ``code``) are dropped."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    src: dict[str, Any]
    err = obj.get("error")
    if isinstance(err, dict):
        src = err
    elif isinstance(err, str):
        src = {"message": err}
    elif obj.get("object") == "error":
        src = obj
    elif isinstance(obj.get("detail"), str):
        src = {"message": obj["detail"]}
    else:
        return None
    if not isinstance(src.get("message"), str):
        return None
    return {k: v if isinstance(v := src.get(k), str) else None for k in _FIELDS}
