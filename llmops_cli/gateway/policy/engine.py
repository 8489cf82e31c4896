"""A policy compiled once per (re)load, and the request/response checks built from it.

Request order: auth → model allowlist → size limits → max_tokens cap → content (blocked patterns, injection,
PII) → rate limits (in the app, once the token cost is known). Every rule that fires is recorded as a
:class:`Decision` for the audit log and metrics.

The content checks see every free-text field the model sees (:func:`_texts`): message ``content`` (a string
or text/refusal parts), ``name``, ``refusal``, ``reasoning_content``/``reasoning``, tool-call and legacy
``function_call`` arguments, ``prediction`` content, completions ``prompt`` and ``suffix``, embeddings
``input``, vLLM's RAG ``documents``. Each field counts as written by its message's role (tool-call arguments by
the assistant), so the injection heuristics skip system messages only. Tool definitions (``tools[].function`` /
``functions[]``: name, description, every string of the parameter schema) and output constraints
(``response_format``, vLLM's ``structured_outputs`` and ``guided_json``/``guided_regex``/``guided_choice``/
``guided_grammar``) are the operator's text, like a system prompt: blocked patterns and PII apply to them, the
injection heuristics do not. The end-user id ``user`` reaches the upstream but not the model: PII only.

Tool-call arguments are JSON text. The policies scan their decoded view (``\\u0020`` and ``\\n`` escapes
cannot hide a blocked phrase), and PII is redacted in the JSON text itself with :class:`JsonEscapes`, which
shows the detectors the decoded text too (``alice\\u0040example.com`` is an e-mail address; a PEM key's ``\\n``
escapes are line breaks) and keeps the text valid JSON. In a response, PII is redacted in the same fields
(``content``, ``refusal``, ``reasoning_content``/``reasoning``, tool-call and ``function_call`` arguments,
completions ``text``), and a choice that any redaction changed loses its token ``logprobs`` (set to null): the
tokens would spell out the text the redaction removed.
"""

from __future__ import annotations

import fnmatch
import re
from collections import deque
from collections.abc import Callable, Iterator
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


# A chat template from the request (top level, or vLLM's `chat_template_kwargs.chat_template`) would replace the
# operator's: it is arbitrary Jinja run by the upstream (vLLM advisories GHSA-x567-49g5-p4cf and others: CPU and
# memory exhaustion), and its text reaches the model unchecked. The other template kwargs (`enable_thinking`, …)
# stay; their strings are checked like user text (see ``_extra_texts``).
_OVERRIDE_FIELDS = UPSTREAM_OVERRIDE_FIELDS | {"chat_template", "chat_template_kwargs"}


def _strip_overrides(body: dict[str, Any], decisions: list[Decision]) -> None:
    """Remove what would steer the upstream or replace its chat template; one ``strip`` decision each."""
    stripped = sorted(UPSTREAM_OVERRIDE_FIELDS.intersection(body))
    for name in stripped:
        del body[name]
    if stripped:
        decisions.append(Decision("upstream_override", "strip", ",".join(stripped)))
    template = []
    if "chat_template" in body:
        del body["chat_template"]
        template.append("chat_template")
    kwargs = body.get("chat_template_kwargs")
    if isinstance(kwargs, dict) and "chat_template" in kwargs:
        del kwargs["chat_template"]
        template.append("chat_template_kwargs.chat_template")
    if template:
        decisions.append(Decision("chat_template_override", "strip", ",".join(template)))


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
        # Streamed token logprobs could spell out text the output policies hold back, redact or deny.
        self.strip_logprobs = any(a != "log" for a in self.pii_out.values())

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
        if not _OVERRIDE_FIELDS.isdisjoint(body):
            _strip_overrides(body, decisions)
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

    def bind_max_tokens(self, body: dict[str, Any]) -> None:
        """A request without ``max_tokens``/``max_completion_tokens`` is forwarded with ``max_tokens: <cap>``:
        without one, vLLM generates up to the context length. Called after admission, so the reservation
        (:meth:`max_tokens`) stays ``max_tokens.default``."""
        cap = self.policy.limits.max_tokens.cap
        if cap is not None and body.get("max_tokens") is None and body.get("max_completion_tokens") is None:
            body["max_tokens"] = cap

    def max_tokens(self, body: dict[str, Any]) -> int:
        v = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        mt = self.policy.limits.max_tokens
        return min(mt.default, mt.cap) if mt.cap else mt.default

    def _check_content(self, route: str, body: dict[str, Any], decisions: list[Decision]) -> None:
        if "user" in body and self.pii_in:
            # The end-user id: not prompt text (the model never sees it), but the upstream logs it and it is
            # often an e-mail address. PII only: a blocked phrase or an injection heuristic would refuse a user
            # for their name, and a blocked phrase there reaches no model.
            for get, put in _plain_field(body, "user"):
                self._redact_field(get, put, self.pii_in, "input", decisions)
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
            # Many fields (a long chat, tool schemas): one prefilter pass over all of them usually says no detector
            # can match anywhere. Valid for JSON text too: its decoded view and what the detectors scan
            # (``JsonEscapes``) differ only in characters that no prefilter pattern contains.
            if len(texts) > 1 and not pii.PREFILTER.hits("\n".join([get() for _, get, _ in texts])):
                return
            for _, get, put in texts:
                self._redact_field(get, put, self.pii_in, "input", decisions)

    # ------------------------------------------------------------------ both directions
    def apply_pii(self, text: str, actions: dict[str, str], direction: str, decisions: list[Decision]) -> str:
        """Apply PII actions; returns ``text`` itself when nothing changed. Raises Denied on `deny`."""
        findings = pii.find(text, actions)
        if not findings:
            return text
        return self.apply_findings(text, findings, actions, direction, decisions)

    @staticmethod
    def apply_findings(
        text: str, findings: list[pii.Finding], actions: dict[str, str], direction: str, decisions: list[Decision]
    ) -> str:
        """Record a decision per finding and redact the ``redact`` ones (findings already computed, e.g. on a
        longer text that ``text`` is the start of). Raises Denied on `deny`."""
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

    def redact_json(self, text: str, actions: dict[str, str], direction: str, decisions: list[Decision]) -> str:
        """:meth:`apply_pii` for JSON text (tool-call arguments): the result stays valid JSON where ``text`` was.
        Returns ``text`` itself when nothing changed."""
        j = JsonEscapes()
        masked = j.mask(text, final=True)
        new = self.apply_pii(masked, actions, direction, decisions)
        return text if new is masked else j.unmask(new)

    def _redact_field(
        self, get: Getter, put: Setter, actions: dict[str, str], direction: str, decisions: list[Decision]
    ) -> bool:
        """Apply PII actions to one text field in place (JSON text through :meth:`redact_json`); True when it
        changed."""
        if type(put) is JsonField:
            old = put.raw()
            new = self.redact_json(old, actions, direction, decisions)
        else:
            old = get()
            new = self.apply_pii(old, actions, direction, decisions)
        if new is old:
            return False
        put(new)
        return True

    def redact_output(self, route: str, payload: dict[str, Any], decisions: list[Decision]) -> bool:
        """Redact a non-streamed response in place; True when it changed. A choice that changed loses its
        ``logprobs`` (their tokens would spell out what was redacted)."""
        if not self.pii_out:
            return False
        changed = False
        for choice in payload.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            changed_here = False
            if route == "chat":
                msg = choice.get("message")
                fields = _message_texts(msg, content=True) if isinstance(msg, dict) else ()
            else:
                fields = _plain_field(choice, "text")
            for get, put in fields:
                if self._redact_field(get, put, self.pii_out, "output", decisions):
                    changed_here = True
            if changed_here:
                changed = True
                if choice.get("logprobs") is not None:
                    choice["logprobs"] = None
        return changed


# ---------------------------------------------------------------------------------------------- JSON text
_OPAQUE, _DELIM = pii.JSON_OPAQUE, pii.JSON_DELIM
# An escape (a surrogate pair as one), or a literal character of the placeholders' range.
_JSON_ESC = re.compile(
    r"\\(?:u([dD][89abAB][0-9a-fA-F]{2})(?:\\u([dD][c-fC-F][0-9a-fA-F]{2}))?|u([0-9A-Fa-f]{4})|([\"\\/bfnrt]))"
    r"|[\ue000-\ue07f]"
)
# The end of a fragment that may be the start of an escape (a high surrogate's may be its pair's).
_PARTIAL_ESC = re.compile(r"(?:\\u[dD][89abAB][0-9a-fA-F]{2})?(?:\\(?:u[0-9A-Fa-f]{0,3})?)?\Z")
_PARTIAL_TAIL = re.compile(r"(?:\\(?:u[0-9A-Fa-f]{0,3})?)?\Z")
_DELIM_OR_PLACEHOLDER = re.compile(_DELIM + r"|-?\[REDACTED:[A-Z_]+\][0-9.eE+-]*")
_PLACEHOLDER = re.compile(f"[\ue000-\ue01f{pii.JSON_QUOTE}{pii.JSON_BACKSLASH}{_OPAQUE}]")
_SIMPLE_ESC = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_DECODE = re.compile(
    r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|\\u([0-9A-Fa-f]{4})|\\([\"\\/bfnrt])"
)
# A placeholder (see ``pii``) for each escaped character that must stay escaped, and its escape as restored.
_MASK_SIMPLE = {c: chr(pii.JSON_ESCAPED + ord(v)) for c, v in _SIMPLE_ESC.items() if c != "/"} | {"/": "/"}
_UNMASK = {chr(pii.JSON_ESCAPED + c): f"\\u{c:04x}" for c in range(0x20)} | {
    chr(pii.JSON_ESCAPED + ord(v)): "\\" + c for c, v in _SIMPLE_ESC.items() if c != "/"
}


class JsonEscapes:
    """Runs the PII detectors over JSON text (tool-call arguments) without breaking it.

    :meth:`mask` gives the detectors the text a JSON parser reads, spelled so that redacting it keeps it JSON:

    - the escape of a character that needs none (``\\u0040``, ``\\/``, a surrogate pair) becomes that character
      (``alice\\u0040example.com`` is an e-mail address; the JSON text stays equivalent);
    - the escape of ``"``, ``\\`` or a control character becomes a private-use placeholder, U+E000 + the
      character's code (``pii.JSON_LF`` for ``\\n`` or ``\\u000a``), and an unescaped ``"`` (a string's start or
      end) becomes ``pii.JSON_DELIM``. No detector matches across these, as across the characters they stand
      for, except the key block, which reads ``\\n``, ``\\r``, ``\\t`` as whitespace and ``\\\\`` as a backslash,
      so a PEM key in a JSON string (or in a string inside one) is found whole. A finding can never swallow half
      an escape, nor leave its string (``JSON_DELIM`` is in no pattern);
    - a lone surrogate, the escape of a character in the placeholders' range, and a literal character in that
      range (so none is ever taken for a placeholder) are saved as they are written and replaced by
      ``pii.JSON_OPAQUE``, which no pattern matches: no redaction can swallow one, so they are restored in order.

    :meth:`unmask` restores the escapes (each placeholder as its canonical escape: ``\\u000A`` comes back as
    ``\\n``) and quotes a placeholder that replaced a bare JSON number (``{"phone": 5551234567}``). Placeholders
    contain no quote or backslash, so inside a JSON string they keep it valid. So a redacted text is equivalent
    to the input but for the redactions, though escapes may be spelled differently. For a stream, one instance
    per text: a partial escape at the end of a fragment (or a high surrogate that may pair with the next one)
    waits for the next (:attr:`carry`), and whether the released text is inside a string is tracked across
    fragments."""

    __slots__ = ("_final", "carry", "in_string", "is_json", "saved")

    def __init__(self) -> None:
        self.saved: deque[str] = deque()
        self.carry = ""
        self.in_string = False
        self.is_json: bool | None = None  # whether the text starts with { or [, once a non-blank arrived
        self._final = False

    def _save(self, m: re.Match[str]) -> str:
        self.saved.append(m.group())
        return _OPAQUE

    def _mask_one(self, m: re.Match[str]) -> str:
        hi, lo, u, c = m.groups()
        if c is not None:
            return _MASK_SIMPLE[c]
        if u is not None:
            code = int(u, 16)
            if code < 0x20 or code == 0x22 or code == 0x5C:
                return chr(pii.JSON_ESCAPED + code)
            if 0xD800 <= code <= 0xDFFF or pii.JSON_RESERVED[0] <= code <= pii.JSON_RESERVED[1]:
                return self._save(m)
            return chr(code)
        if hi is not None:
            if lo is not None:
                return chr(0x10000 + ((int(hi, 16) - 0xD800) << 10) + (int(lo, 16) - 0xDC00))
            if not self._final and _PARTIAL_TAIL.match(m.string, m.end()):
                return m.group()  # its low surrogate may come in the next fragment
        return self._save(m)

    def mask(self, text: str, *, final: bool = False) -> str:
        if self.carry:
            text, self.carry = self.carry + text, ""
        if self.is_json is None:
            head = text.lstrip()
            if head:
                self.is_json = head[0] in "{["
        if "\\" in text or not text.isascii():  # (isascii: O(1)) an escape, or maybe a placeholder's character
            self._final = final
            text = _JSON_ESC.sub(self._mask_one, text)
        if not final and "\\" in text[-12:]:
            m = _PARTIAL_ESC.search(text, max(0, len(text) - 12))
            if m is not None and m.start() < len(text):
                self.carry, text = m.group(), text[: m.start()]
        if '"' in text:
            text = text.replace('"', _DELIM)
        return text

    def unmask(self, text: str) -> str:
        if self.is_json:
            if "[REDACTED:" in text:
                text = _DELIM_OR_PLACEHOLDER.sub(self._quote, text)
            elif text.count(_DELIM) & 1:
                self.in_string = not self.in_string
        if text.isascii():
            return text
        if _DELIM in text:
            text = text.replace(_DELIM, '"')
        return _PLACEHOLDER.sub(self._unmask_one, text)

    def _unmask_one(self, m: re.Match[str]) -> str:
        s = m.group()
        if s == _OPAQUE:
            return self.saved.popleft() if self.saved else ""
        return _UNMASK[s]

    def _quote(self, m: re.Match[str]) -> str:
        s = m.group()
        if s == _DELIM:
            self.in_string = not self.in_string
            return '"'
        if self.in_string:
            return s
        return '"' + s[s.index("[") : s.index("]") + 1] + '"'


def _decode_one(m: re.Match[str]) -> str:
    hi, lo, u, c = m.groups()
    if hi is not None:
        return chr(0x10000 + ((int(hi, 16) - 0xD800) << 10) + (int(lo, 16) - 0xDC00))
    if u is not None:
        code = int(u, 16)
        return "\ufffd" if 0xD800 <= code <= 0xDFFF else chr(code)
    return _SIMPLE_ESC[c]


def json_view(raw: str) -> str:
    """JSON text with its string escapes decoded (structure kept): what the policies scan in tool-call
    arguments. A lone surrogate becomes U+FFFD."""
    return _DECODE.sub(_decode_one, raw) if "\\" in raw else raw


class JsonField:
    """Setter of a field that holds JSON text; its getter returns :func:`json_view` of it, and PII is redacted
    in the raw text (:meth:`raw`) with :meth:`CompiledPolicy.redact_json`."""

    __slots__ = ("holder", "key")

    def __init__(self, holder: dict[str, Any], key: str) -> None:
        self.holder = holder
        self.key = key

    def __call__(self, value: str) -> None:
        self.holder[self.key] = value

    def raw(self) -> str:
        return self.holder[self.key]  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------------- request texts
Getter = Callable[..., Any]  # () -> str (lambdas with default arguments: mypy cannot check them)
Setter = Callable[..., Any]  # (str) -> None
# Message fields that hold free text besides `content` (`name` is free text to most chat templates).
_MESSAGE_TEXT_FIELDS = ("name", "refusal", "reasoning_content", "reasoning")


def _plain_field(holder: dict[str, Any], key: str) -> Iterator[tuple[Getter, Setter]]:
    if isinstance(holder.get(key), str):
        yield (lambda: holder[key]), (lambda v: holder.__setitem__(key, v))


def _parts(parts: Any) -> Iterator[tuple[Getter, Setter]]:
    """Text of content parts (``{"type": "text", "text": …}``, ``{"type": "refusal", "refusal": …}``)."""
    for part in parts if isinstance(parts, list) else ():
        if isinstance(part, dict):
            for key in ("text", "refusal"):
                if isinstance(part.get(key), str):
                    yield (lambda p=part, k=key: p[k]), (lambda v, p=part, k=key: p.__setitem__(k, v))


def _strings(obj: Any, skip: frozenset[tuple[Any, str]] = frozenset()) -> Iterator[tuple[Getter, Setter]]:
    """Every string value nested in ``obj`` (dicts and lists; no recursion, so no depth limit) but the
    ``(key, value)`` pairs in ``skip``."""
    stack = [obj]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for k, v in items:
            if isinstance(v, str):
                if not skip or (k, v) not in skip:
                    yield (lambda n=node, k=k: n[k]), (lambda v, n=node, k=k: n.__setitem__(k, v))
            elif isinstance(v, dict | list):
                stack.append(v)


# JSON Schema's type names: `"type": "string"` is schema syntax, the same in every schema (any other value under
# `type` is checked). Skipping them keeps a request with many tools from paying for its schemas' syntax.
_SCHEMA_SYNTAX = frozenset(("type", t) for t in ("string", "number", "integer", "boolean", "object", "array", "null"))


def _arguments(fn: Any) -> Iterator[tuple[Getter, Setter]]:
    """A tool call's (or legacy function call's) ``arguments``: JSON text, or (non-standard) an object."""
    if not isinstance(fn, dict):
        return
    args = fn.get("arguments")
    if isinstance(args, str):
        yield (lambda: json_view(fn["arguments"])), JsonField(fn, "arguments")
    elif isinstance(args, dict | list):
        yield from _strings(args)


def _message_texts(msg: dict[str, Any], *, content: bool) -> Iterator[tuple[Getter, Setter]]:
    """A message's free-text fields (``content`` too when asked): the same for a request's messages and a
    response's ``message``."""
    if content:
        c = msg.get("content")
        if isinstance(c, str):
            yield from _plain_field(msg, "content")
        elif isinstance(c, list):
            yield from _parts(c)
    for key in _MESSAGE_TEXT_FIELDS:
        yield from _plain_field(msg, key)
    calls = msg.get("tool_calls")
    if isinstance(calls, list):
        for call in calls:
            if isinstance(call, dict):
                yield from _arguments(call.get("function"))
    yield from _arguments(msg.get("function_call"))


def _tool_definitions(body: dict[str, Any]) -> Iterator[tuple[Getter, Setter]]:
    """``tools[].function`` and legacy ``functions[]``: name, description, and every string value of the
    parameter schema (descriptions, ``enum``/``const``/``default``/``examples`` strings, titles, ``pattern``s,
    …; not JSON Schema's type names), since chat templates render the whole schema as text. Property names are
    keys, not values: not checked."""
    for key in ("tools", "functions"):
        defs = body.get(key)
        if not isinstance(defs, list):
            continue
        for d in defs:
            fn = d.get("function") if key == "tools" and isinstance(d, dict) else d
            if isinstance(fn, dict):
                yield from _plain_field(fn, "name")
                yield from _plain_field(fn, "description")
                params = fn.get("parameters")
                if isinstance(params, dict | list):
                    yield from _strings(params, _SCHEMA_SYNTAX)


# Keys whose string value is JSON text (a schema), scanned and redacted like tool-call arguments.
_JSON_TEXT_KEYS = frozenset({"guided_json", "json", "structural_tag"})


def _constraint(holder: dict[str, Any], key: str) -> Iterator[tuple[Getter, Setter]]:
    """The strings of a structured-output constraint: a schema or a list (every string value), a regex, a
    grammar, or a schema as JSON text."""
    value = holder.get(key)
    if isinstance(value, str):
        if key in _JSON_TEXT_KEYS:
            yield (lambda: json_view(holder[key])), JsonField(holder, key)
        else:
            yield from _plain_field(holder, key)
    elif isinstance(value, dict | list):
        yield from _strings(value, _SCHEMA_SYNTAX)


# vLLM's structured outputs (the `guided_*` fields are deprecated since v0.10.2 but still read in v0.11).
_GUIDED_FIELDS = ("guided_json", "guided_regex", "guided_choice", "guided_grammar")
# Top-level fields besides messages, prompt and input that carry text the model sees or is made to write: one
# look-up over a request's keys, so a request with none of them pays nothing else.
_EXTRA_TEXT_FIELDS = frozenset(
    {
        "tools",
        "functions",
        "prediction",
        "documents",
        "response_format",
        "structured_outputs",
        "chat_template_kwargs",
        *_GUIDED_FIELDS,
    }
)


def _extra_texts(body: dict[str, Any]) -> Iterator[tuple[str, Getter, Setter]]:
    """The texts of :data:`_EXTRA_TEXT_FIELDS`. Tool definitions and output constraints (``response_format``
    but its ``type``, ``structured_outputs``, ``guided_*``) count as ``system``: the operator's or developer's
    text, checked for PII and blocked patterns but not by the injection heuristics (a schema is not prompt
    prose, and ``guided_choice`` makes the model write its strings: a blocked phrase there would come back in
    the output, which blocked patterns do not check). Predicted output and RAG ``documents`` (vLLM; rendered
    into the prompt by chat templates that support them) count as ``user``, like the content they stand for."""
    for get, put in _tool_definitions(body):
        yield "system", get, put
    prediction = body.get("prediction")
    if isinstance(prediction, dict):
        pc = prediction.get("content")
        for get, put in _plain_field(prediction, "content") if isinstance(pc, str) else _parts(pc):
            yield "user", get, put
    documents = body.get("documents")
    if isinstance(documents, list):
        for get, put in _strings(documents):
            yield "user", get, put
    kwargs = body.get("chat_template_kwargs")
    if isinstance(kwargs, dict):  # the client's variables for the chat template, which may render them
        for get, put in _strings(kwargs):
            yield "user", get, put
    rf = body.get("response_format")
    if isinstance(rf, dict):
        for key in rf:
            if key != "type":
                for get, put in _constraint(rf, key):
                    yield "system", get, put
    so = body.get("structured_outputs")
    if isinstance(so, dict):
        for key in so:
            for get, put in _constraint(so, key):
                yield "system", get, put
    for key in _GUIDED_FIELDS:
        for get, put in _constraint(body, key):
            yield "system", get, put


def _texts(route: str, body: dict[str, Any]) -> Iterator[tuple[str, Getter, Setter]]:
    """(role, getter, setter) for every free-text field the model sees (see the module docstring).

    The setter of a JSON-text field is a :class:`JsonField`: its getter gives the decoded view to scan, and PII
    is redacted through :meth:`CompiledPolicy.redact_json`. A message with only ``role`` and string ``content``
    (the common case) costs three cheap checks, a request with no other text field one set look-up."""
    if route == "chat":
        for msg in body.get("messages") or ():
            if not isinstance(msg, dict):
                continue
            role = str(msg.get("role", ""))
            content = msg.get("content")
            if isinstance(content, str):
                yield role, (lambda m=msg: m["content"]), (lambda v, m=msg: m.__setitem__("content", v))
            elif isinstance(content, list):
                for get, put in _parts(content):
                    yield role, get, put
            if len(msg) > 2 or content is None or "role" not in msg:  # more than role and content
                for get, put in _message_texts(msg, content=False):
                    yield role, get, put
    else:
        field = "prompt" if route == "completions" else "input"
        value = body.get(field)
        if isinstance(value, str):
            yield "user", (lambda: body[field]), (lambda v: body.__setitem__(field, v))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, str):
                    yield "user", (lambda i=i: value[i]), (lambda v, i=i: value.__setitem__(i, v))
        if route == "completions":
            for get, put in _plain_field(body, "suffix"):
                yield "user", get, put
    if not _EXTRA_TEXT_FIELDS.isdisjoint(body):
        yield from _extra_texts(body)
