"""Every free-text field of a request or response that the policies check, as (getter, setter) pairs that edit
the parsed body in place; see :mod:`llmops_cli.gateway.policy.engine` for which fields and by which role.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from llmops_cli.gateway.policy.jsontext import JsonField, json_view

Getter = Callable[..., Any]  # () -> str (lambdas with default arguments: mypy cannot check them)
Setter = Callable[..., Any]  # (str) -> None
# Message fields that hold free text besides `content` (`name` is free text to most chat templates).
_MESSAGE_TEXT_FIELDS = ("name", "refusal", "reasoning_content", "reasoning")


def plain_field(holder: dict[str, Any], key: str) -> Iterator[tuple[Getter, Setter]]:
    if isinstance(holder.get(key), str):
        yield (lambda: holder[key]), (lambda v: holder.__setitem__(key, v))


def _parts(parts: Any) -> Iterator[tuple[Getter, Setter]]:
    """Text of content parts (``{"type": "text", "text": …}``, ``{"type": "refusal", "refusal": …}``)."""
    for part in parts if isinstance(parts, list) else ():
        if isinstance(part, dict):
            for key in ("text", "refusal"):
                if isinstance(part.get(key), str):
                    yield (lambda p=part, k=key: p[k]), (lambda v, p=part, k=key: p.__setitem__(k, v))


def strings_in(
    obj: Any, skip: frozenset[tuple[Any, str]] = frozenset(), *, keys: bool = True
) -> list[tuple[Getter, Setter]]:
    """Every string value nested in ``obj`` (dicts and lists; no recursion, so no depth limit) but the
    ``(key, value)`` pairs in ``skip``, and every object key but JSON Schema's keywords: chat templates render
    a tool's schema, property names included, and a schema's property names are what the model is made to
    write. A key's setter renames it in place (see ``_rename_key``); ``keys=False`` leaves keys out. A list,
    not a generator: a schema has hundreds of these, and each generator level costs per item."""
    out: list[tuple[Getter, Setter]] = []
    add = out.append
    stack = [obj]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(v, str):
                    if not skip or (k, v) not in skip:
                        add(((lambda n=node, k=k: n[k]), (lambda v, n=node, k=k: n.__setitem__(k, v))))
                elif isinstance(v, dict | list):
                    stack.append(v)
                if keys and k not in _SCHEMA_KEYWORDS:  # after its value: setters run in order; this one renames
                    add(((lambda k=k: k), (lambda new, n=node, k=k: _rename_key(n, k, new))))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                if isinstance(v, str):
                    add(((lambda n=node, i=i: n[i]), (lambda v, n=node, i=i: n.__setitem__(i, v))))
                elif isinstance(v, dict | list):
                    stack.append(v)
    return out


def _rename_key(node: dict[str, Any], old: str, new: str) -> None:
    """Rename ``old`` to ``new`` in place, keeping the key order. Two keys redacted alike (two addresses become
    the same placeholder) stay two: ``_`` is appended until the new name is free."""
    if new == old or old not in node:
        return
    while new in node:
        new += "_"
    items = list(node.items())
    node.clear()
    node.update((new if k == old else k, v) for k, v in items)


# JSON Schema's keywords (2020-12 and draft 4-7, plus OpenAI's `strict` and `nullable`): fixed syntax, not text
# anyone chose, so not checked as keys. A property of the same name is not checked either, which is no loss:
# the name is the keyword's.
_SCHEMA_KEYWORDS = frozenset(
    {
        *("$schema", "$id", "$ref", "$defs", "$anchor", "$dynamicRef", "$dynamicAnchor", "$vocabulary", "$comment"),
        *("type", "properties", "required", "items", "prefixItems", "additionalItems", "additionalProperties"),
        *("patternProperties", "propertyNames", "unevaluatedItems", "unevaluatedProperties", "definitions"),
        *("description", "title", "enum", "const", "default", "examples", "format", "pattern", "nullable"),
        *("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength"),
        *("minItems", "maxItems", "uniqueItems", "contains", "minContains", "maxContains", "minProperties"),
        *("maxProperties", "dependentRequired", "dependentSchemas", "dependencies", "allOf", "anyOf", "oneOf"),
        *("not", "if", "then", "else", "readOnly", "writeOnly", "deprecated", "contentEncoding", "strict"),
        *("contentMediaType", "contentSchema"),
    }
)


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
        yield from strings_in(args)


def message_texts(msg: dict[str, Any], *, content: bool) -> Iterator[tuple[Getter, Setter]]:
    """A message's free-text fields (``content`` too when asked): the same for a request's messages and a
    response's ``message``."""
    if content:
        c = msg.get("content")
        if isinstance(c, str):
            yield from plain_field(msg, "content")
        elif isinstance(c, list):
            yield from _parts(c)
    for key in _MESSAGE_TEXT_FIELDS:
        yield from plain_field(msg, key)
    calls = msg.get("tool_calls")
    if isinstance(calls, list):
        for call in calls:
            if isinstance(call, dict):
                yield from _arguments(call.get("function"))
    yield from _arguments(msg.get("function_call"))


# A reply message's (or streamed delta's) fields that are not free text, or are checked on their own: content
# and tool-call arguments. `audio` (base64 data; OpenAI's, not vLLM's) is not scanned.
REPLY_STRUCTURE_KEYS = frozenset({"role", "content", "tool_calls", "function_call", "tool_call_id", "audio"})
# What the output policies know in a reply's message (chat) or choice (completions): checked one by one, or
# not text.
REPLY_MESSAGE_KEYS = REPLY_STRUCTURE_KEYS.union(_MESSAGE_TEXT_FIELDS)
REPLY_CHOICE_KEYS = frozenset(
    {"index", "text", "message", "delta", "finish_reason", "stop_reason", "logprobs", "prompt_logprobs", "token_ids"}
)


def other_texts(holder: dict[str, Any], known: frozenset[str]) -> list[tuple[Getter, Setter]]:
    """Every string in ``holder``'s fields outside ``known`` (values only, nested ones too): a field an upstream
    adds to its replies (as vLLM added ``reasoning``) is checked from the start instead of passing unseen."""
    out: list[tuple[Getter, Setter]] = []
    for k, v in holder.items():
        if k in known:
            continue
        if isinstance(v, str):
            out.extend(plain_field(holder, k))
        elif isinstance(v, dict | list):
            out += strings_in(v, keys=False)
    return out


def _tool_definitions(body: dict[str, Any]) -> list[tuple[Getter, Setter]]:
    """``tools[].function`` and legacy ``functions[]``: name, description, and every string value of the
    parameter schema (descriptions, ``enum``/``const``/``default``/``examples`` strings, titles, ``pattern``s,
    …; not JSON Schema's type names) and its property names, since chat templates render the whole schema as
    text."""
    out: list[tuple[Getter, Setter]] = []
    for key in ("tools", "functions"):
        defs = body.get(key)
        if not isinstance(defs, list):
            continue
        for d in defs:
            fn = d.get("function") if key == "tools" and isinstance(d, dict) else d
            if isinstance(fn, dict):
                out.extend(plain_field(fn, "name"))
                out.extend(plain_field(fn, "description"))
                params = fn.get("parameters")
                if isinstance(params, dict | list):
                    out += strings_in(params, _SCHEMA_SYNTAX)
    return out


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
            yield from plain_field(holder, key)
    elif isinstance(value, dict | list):
        yield from strings_in(value, _SCHEMA_SYNTAX)


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


def _with_role(role: str, fields: Iterable[tuple[Getter, Setter]]) -> list[tuple[str, Getter, Setter]]:
    return [(role, get, put) for get, put in fields]


def _extra_texts(body: dict[str, Any]) -> list[tuple[str, Getter, Setter]]:
    """The texts of :data:`_EXTRA_TEXT_FIELDS`. Tool definitions and output constraints (``response_format``
    but its ``type``, ``structured_outputs``, ``guided_*``) count as ``system``: the operator's or developer's
    text, checked for PII and blocked patterns but not by the injection heuristics (a schema is not prompt
    prose, and ``guided_choice`` makes the model write its strings: a blocked phrase there would come back in
    the output, which blocked patterns do not check). Predicted output and RAG ``documents`` (vLLM; rendered
    into the prompt by chat templates that support them) count as ``user``, like the content they stand for.
    A list: tool schemas bring hundreds of fields, and every generator level would cost per field."""
    out = _with_role("system", _tool_definitions(body))
    prediction = body.get("prediction")
    if isinstance(prediction, dict):
        pc = prediction.get("content")
        out += _with_role("user", plain_field(prediction, "content") if isinstance(pc, str) else _parts(pc))
    documents = body.get("documents")
    if isinstance(documents, list):
        out += _with_role("user", strings_in(documents))
    kwargs = body.get("chat_template_kwargs")
    if isinstance(kwargs, dict):  # the client's variables for the chat template, which may render them
        out += _with_role("user", strings_in(kwargs))
    rf = body.get("response_format")
    if isinstance(rf, dict):
        for key in rf:
            if key != "type":
                out += _with_role("system", _constraint(rf, key))
    so = body.get("structured_outputs")
    if isinstance(so, dict):
        for key in so:
            out += _with_role("system", _constraint(so, key))
    for key in _GUIDED_FIELDS:
        out += _with_role("system", _constraint(body, key))
    return out


def request_texts(route: str, body: dict[str, Any]) -> Iterator[tuple[str, Getter, Setter]]:
    """(role, getter, setter) for every free-text field the model sees (see the module docstring).

    The setter of a JSON-text field is a :class:`JsonField`: its getter gives the decoded view to scan, and PII
    is redacted through ``engine.CompiledPolicy.redact_json``. A message with only ``role`` and string ``content``
    (the common case) costs three cheap checks, a request with no other text field one set look-up.

    An embeddings request may carry chat ``messages`` instead of ``input`` (vLLM's chat embeddings, rendered
    with the chat template): they are checked as a chat's are."""
    if route == "chat" or (route == "embeddings" and "messages" in body):
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
                for get, put in message_texts(msg, content=False):
                    yield role, get, put
    if route != "chat":
        field = "prompt" if route == "completions" else "input"
        value = body.get(field)
        if isinstance(value, str):
            yield "user", (lambda: body[field]), (lambda v: body.__setitem__(field, v))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, str):
                    yield "user", (lambda i=i: value[i]), (lambda v, i=i: value.__setitem__(i, v))
        if route == "completions":
            for get, put in plain_field(body, "suffix"):
                yield "user", get, put
    if not _EXTRA_TEXT_FIELDS.isdisjoint(body):
        yield from _extra_texts(body)
