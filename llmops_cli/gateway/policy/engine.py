"""A policy compiled once per (re)load, and the request/response checks built from it.

Request order: auth → model allowlist → size limits → max_tokens cap → content (blocked patterns, injection,
PII) → rate limits (in the app, once the token cost is known). Every rule that fires is recorded as a
:class:`Decision` for the audit log and metrics.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from llmops_cli.gateway.policy import injection, pii
from llmops_cli.gateway.policy.keys import KeyIndex
from llmops_cli.gateway.policy.model import ApiKey, PiiActions, Policy
from llmops_cli.gateway.policy.patterns import BlockedMatcher, normalise

# Fields a client might use to steer the upstream (LiteLLM's `api_base` leak): never forwarded.
UPSTREAM_OVERRIDE_FIELDS = frozenset(
    {
        "api_base",
        "base_url",
        "api_key",
        "api_version",
        "custom_llm_provider",
        "extra_headers",
        "organization",
        "azure_endpoint",
        "aws_region_name",
        "vertex_project",
        "upstream",
        "proxy",
        "litellm_params",
    }
)


@dataclass(frozen=True)
class Decision:
    rule: str
    action: str
    detail: str = ""


class Denied(Exception):
    """A policy refused the request: HTTP status, OpenAI error type and a stable reason code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        err_type: str = "invalid_request_error",
        retry_after: float | None = None,
        decisions: list[Decision] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.err_type = err_type
        self.retry_after = retry_after
        self.decisions = decisions or []


def _actions(a: PiiActions) -> dict[str, str]:
    return {k: v for k, v in a.model_dump().items() if v != "off"}


def _model_ok(patterns: list[str], model: str) -> bool:
    return any(p == "*" or p == model or fnmatch.fnmatchcase(model, p) for p in patterns)


class CompiledPolicy:
    def __init__(self, policy: Policy, source: str = "") -> None:
        self.policy = policy
        self.source = source
        self.keys = KeyIndex(policy)
        self.blocked = BlockedMatcher(policy.content.blocked_patterns)
        self.pii_in = _actions(policy.content.pii.input)
        self.pii_out = _actions(policy.content.pii.output)
        self.holdback = policy.streams.holdback_chars

    # ------------------------------------------------------------------ auth
    def authenticate(self, authorization: str | None, x_api_key: str | None = None) -> ApiKey | None:
        """The caller's key; None when keys are not required and none was given. Raises Denied (401)."""
        token = None
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                token = value.strip()
        if token is None and x_api_key:
            token = x_api_key.strip()
        if token is None:
            if self.policy.auth.required:
                raise Denied(
                    401,
                    "missing_api_key",
                    "Missing API key: send `Authorization: Bearer <key>`.",
                    err_type="authentication_error",
                )
            return None
        key = self.keys.lookup(token)
        if key is None:
            raise Denied(
                401, "invalid_api_key", "Invalid or revoked API key.", err_type="authentication_error"
            )
        return key

    # ------------------------------------------------------------------ request
    def check_request(self, route: str, body: dict[str, Any], key: ApiKey | None) -> list[Decision]:
        """Validate and rewrite ``body`` in place (redaction, clamping, override stripping)."""
        decisions: list[Decision] = []
        lim = self.policy.limits
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise Denied(400, "missing_model", "`model` is required and must be a string.")
        if not _model_ok(lim.models, model) or (key is not None and not _model_ok(key.models, model)):
            raise Denied(
                403,
                "model_not_allowed",
                f"Model {model!r} is not allowed for this key.",
                err_type="permission_error",
                decisions=[Decision("model_allowlist", "deny", model)],
            )
        stripped = sorted(UPSTREAM_OVERRIDE_FIELDS.intersection(body))
        for name in stripped:
            del body[name]
        if stripped:
            decisions.append(Decision("upstream_override", "strip", ",".join(stripped)))
        msgs = body.get("messages")
        if route == "chat":
            if not isinstance(msgs, list) or not msgs:
                raise Denied(400, "invalid_messages", "`messages` must be a non-empty list.")
            if len(msgs) > lim.max_messages:
                raise Denied(
                    400,
                    "too_many_messages",
                    f"At most {lim.max_messages} messages are allowed.",
                    decisions=[Decision("max_messages", "deny", str(len(msgs)))],
                )
        if route != "embeddings":
            self._cap_max_tokens(body, decisions)
        self._check_content(route, body, decisions)
        return decisions

    def _cap_max_tokens(self, body: dict[str, Any], decisions: list[Decision]) -> None:
        mt = self.policy.limits.max_tokens
        for field in ("max_tokens", "max_completion_tokens"):
            v = body.get(field)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise Denied(400, "invalid_max_tokens", f"`{field}` must be a positive integer.")
            if mt.cap is not None and v > mt.cap:
                if mt.action == "reject":
                    raise Denied(
                        400,
                        "max_tokens_exceeded",
                        f"`{field}` may be at most {mt.cap}.",
                        decisions=[Decision("max_tokens", "deny", str(v))],
                    )
                body[field] = mt.cap
                decisions.append(Decision("max_tokens", "clamp", f"{v}->{mt.cap}"))

    def max_tokens(self, body: dict[str, Any]) -> int:
        v = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        mt = self.policy.limits.max_tokens
        return min(mt.default, mt.cap) if mt.cap else mt.default

    def _check_content(self, route: str, body: dict[str, Any], decisions: list[Decision]) -> None:
        texts = list(_texts(route, body))
        if not texts:
            return
        normalised = [(role, normalise(get())) for role, get, _ in texts]
        joined = "\n".join(n for _, n in normalised)
        hit = self.blocked.search(joined)
        if hit is not None:
            d = Decision(f"blocked_pattern:{hit}", "deny")
            raise Denied(
                400, "blocked_content", "The request contains blocked content.", decisions=[*decisions, d]
            )
        inj = self.policy.content.injection
        if inj.action != "off":
            fired: set[str] = set()
            for role, n in normalised:
                if role != "system":
                    fired.update(injection.detect(n))
            if len(fired) >= inj.threshold:
                ds = [Decision(f"injection:{name}", inj.action) for name in sorted(fired)]
                if inj.action == "deny":
                    raise Denied(
                        400,
                        "prompt_injection",
                        "The request looks like a prompt injection.",
                        decisions=[*decisions, *ds],
                    )
                decisions.extend(ds)
        if self.pii_in:
            for _, get, put in texts:
                text = get()
                new = self.apply_pii(text, self.pii_in, "input", decisions)
                if new is not text:
                    put(new)

    # ------------------------------------------------------------------ both directions
    def apply_pii(self, text: str, actions: dict[str, str], direction: str, decisions: list[Decision]) -> str:
        """Apply PII actions; returns ``text`` itself when nothing changed. Raises Denied on `deny`."""
        findings = pii.find(text, actions)
        if not findings:
            return text
        redact = []
        for f in findings:
            act = actions[f.kind]
            decisions.append(Decision(f"pii.{direction}.{f.kind}", act))
            if act == "deny":
                raise Denied(
                    400,
                    "content_policy_violation",
                    f"The {direction} contains personal data ({f.kind}) that this gateway does not allow.",
                    decisions=decisions,
                )
            if act == "redact":
                redact.append(f)
        return pii.redact(text, redact) if redact else text

    def redact_output(self, route: str, payload: dict[str, Any], decisions: list[Decision]) -> bool:
        """Redact a non-streamed response in place; True when it changed."""
        if not self.pii_out:
            return False
        changed = False
        for choice in payload.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            holder = choice.get("message") if route == "chat" else choice
            field = "content" if route == "chat" else "text"
            if isinstance(holder, dict) and isinstance(holder.get(field), str):
                old = holder[field]
                new = self.apply_pii(old, self.pii_out, "output", decisions)
                if new is not old:
                    holder[field] = new
                    changed = True
        return changed


def _texts(route: str, body: dict[str, Any]) -> Iterator[tuple[str, Any, Any]]:
    """(role, getter, setter) for every text field the policies look at."""
    if route == "chat":
        for msg in body.get("messages") or ():
            if not isinstance(msg, dict):
                continue
            role = str(msg.get("role", ""))
            content = msg.get("content")
            if isinstance(content, str):
                yield role, (lambda m=msg: m["content"]), (lambda v, m=msg: m.__setitem__("content", v))
            elif isinstance(content, list):
                for part in content:
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        yield role, (lambda p=part: p["text"]), (lambda v, p=part: p.__setitem__("text", v))
        return
    field = "prompt" if route == "completions" else "input"
    value = body.get(field)
    if isinstance(value, str):
        yield "user", (lambda: body[field]), (lambda v: body.__setitem__(field, v))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, str):
                yield "user", (lambda i=i: value[i]), (lambda v, i=i: value.__setitem__(i, v))
