"""Every free-text field of a request that the policies check (a reply's: :mod:`.replyfields`), as (getter,
setter) pairs that edit the parsed body in place; see :mod:`llmops_cli.gateway.policy.engine` for which fields
and by which role.

A request part that the upstream would render or tokenize but that the gateway cannot read as text (a content
part of a type it does not know, a message that is not an object) raises :class:`ShapeError`: it is refused,
never forwarded unchecked.

What vLLM renders, read at the pinned v0.34.0 in ``vllm/renderers/chat_utils/chat_message.py`` (vllm-project/vllm,
PyPI wheel; the same rules were in ``vllm/entrypoints/chat_utils.py`` from v0.10 to v0.14): a content list's plain
strings, and the ``text`` of ``text``/``input_text``/``output_text`` parts, ``refusal`` and ``thinking`` parts,
and ``tool_reference``'s ``name`` are prompt text (``_TEXT_CONTENT_PART_TYPES``,
``parse_chat_message_content_mm_part``); ``image_url``, ``input_image``, ``image_embeds``, ``audio_embeds``,
``image_pil``, ``audio_url``, ``input_audio`` and ``video_url`` parts (or, without a ``type``, a part with one of
those keys) are media; ``video_embeds`` and ``prompt_embeds`` parts (embeddings the model reads, past every text
check) are refused here as parts of an unknown type, and any type vLLM does not know raises there. Of a message,
``role``, ``name`` (any role), ``tool_calls`` (assistant: ``id``, ``type``, ``function.name`` and
``function.arguments``, parsed into an object), ``tool_call_id`` (tool), ``reasoning`` (a string, or an object of
type ``prompt_embeds``: see :func:`token_prompts`) and a developer message's ``tools`` reach the chat template
(``_parse_chat_message_content``); the request's ``tools`` are passed to it whole. Other servers (LiteLLM's
providers, llama.cpp) may hand a message to their template as it is, so every string of a message is checked
here, not only those.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from llmops_cli.gateway.policy.jsontext import JsonField, json_view

Getter = Callable[..., Any]  # () -> str (lambdas with default arguments: mypy cannot check them)
Setter = Callable[..., Any]  # (str) -> None


class ShapeError(ValueError):
    """A request part the gateway cannot check as text: refused with 400 ``code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# The chat roles every template knows; any other role name is itself text the template renders.
STANDARD_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
# Content part type -> the key that holds its text (see the module docstring).
TEXT_PARTS = {
    "text": "text",
    "input_text": "text",
    "output_text": "text",
    "refusal": "refusal",
    "thinking": "thinking",
    "tool_reference": "name",
}
# Media part types (their URLs go through ``media``; their data is not text), and the keys that make a part
# without a ``type`` a media part.
MEDIA_PARTS = frozenset(
    {"image_url", "input_image", "image_embeds", "audio_embeds", "image_pil", "audio_url", "input_audio", "video_url"}
)
_MEDIA_KEYS = ("image_url", "image_pil", "image_embeds", "audio_embeds", "audio_url", "input_audio", "video_url")


def plain_field(holder: dict[str, Any], key: str) -> Iterator[tuple[Getter, Setter]]:
    if isinstance(holder.get(key), str):
        yield (lambda: holder[key]), (lambda v: holder.__setitem__(key, v))


def content_parts(parts: list[Any]) -> list[tuple[Getter, Setter]]:
    """The text of a request's content list: plain strings and the text of text-like parts (see
    ``TEXT_PARTS``); media parts carry none. Raises ShapeError on a part of another type or shape."""
    out: list[tuple[Getter, Setter]] = []
    for i, part in enumerate(parts):
        if isinstance(part, str):
            out.append(((lambda i=i: parts[i]), (lambda v, i=i: parts.__setitem__(i, v))))
            continue
        if not isinstance(part, dict):
            raise ShapeError("invalid_content", "A content part must be a string or an object.")
        kind = part.get("type")
        if kind is not None and not isinstance(kind, str):
            raise ShapeError("invalid_content", "A content part's `type` must be a string.")
        key = TEXT_PARTS.get(kind) if kind is not None else None
        if key is not None:
            value = part.get(key)
            if isinstance(value, str):
                out.append(((lambda p=part, k=key: p[k]), (lambda v, p=part, k=key: p.__setitem__(k, v))))
            elif value is not None:
                raise ShapeError("invalid_content", f"The `{key}` of a `{kind}` content part must be a string.")
            if len(part) > 2 or key not in part:
                out += _part_extras(part, key)
        elif kind in MEDIA_PARTS or (kind is None and any(k in part for k in _MEDIA_KEYS)):
            out += _part_extras(part, *_MEDIA_KEYS)
        else:
            shown = kind if isinstance(kind, str) and len(kind) <= 40 and kind.isidentifier() else "this"
            raise ShapeError(
                "unsupported_content_part",
                f"Content parts of type {shown!r} are not supported by this gateway: send text as `text` parts.",
            )
    return out


def _part_extras(part: dict[str, Any], *payload: str) -> list[tuple[Getter, Setter]]:
    """The strings of a content part beside its ``type`` and its text or media ``payload`` (a `cache_control`,
    a `uuid`, any field a client adds): vLLM reads none of them, but a server that hands the part to its
    template as it is renders them."""
    out: list[tuple[Getter, Setter]] = []
    for k in part:
        if k != "type" and k not in payload:
            out += any_strings(part, k)
    return out


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
                    add(((lambda k=k: k), (lambda new, n=node, k=k: rename_key(n, k, new))))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                if isinstance(v, str):
                    add(((lambda n=node, i=i: n[i]), (lambda v, n=node, i=i: n.__setitem__(i, v))))
                elif isinstance(v, dict | list):
                    stack.append(v)
    return out


def rename_key(node: dict[str, Any], old: str, new: str) -> None:
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
# ... and a tool entry's own `"type": "function"`.
_TOOL_SYNTAX = _SCHEMA_SYNTAX | {("type", "function")}


def arguments_fields(fn: Any) -> Iterator[tuple[Getter, Setter]]:
    """A tool call's (or legacy function call's) ``arguments``: JSON text, or (non-standard) an object."""
    if not isinstance(fn, dict):
        return
    args = fn.get("arguments")
    if isinstance(args, str):
        yield (lambda: json_view(fn["arguments"])), JsonField(fn, "arguments")
    elif isinstance(args, dict | list):
        yield from strings_in(args)


def _tool_definitions(body: dict[str, Any]) -> list[tuple[Getter, Setter]]:
    """``tools`` and legacy ``functions``: every string of every entry (name, description, ``strict``-style
    extras an upstream may add, and every string value of the parameter schema: descriptions,
    ``enum``/``const``/``default``/``examples`` strings, titles, ``pattern``s, …; not JSON Schema's type names)
    and every key but JSON Schema's keywords, since chat templates render a tool whole (``tool | tojson``)."""
    out: list[tuple[Getter, Setter]] = []
    for key in ("tools", "functions"):
        defs = body.get(key)
        if isinstance(defs, dict | list):
            out += strings_in(defs, _TOOL_SYNTAX)
        elif isinstance(defs, str):
            out.extend(plain_field(body, key))
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
        "tool_choice",
        "function_call",
        "stop",
        "bad_words",
        "prediction",
        "documents",
        "response_format",
        "structured_outputs",
        "chat_template_kwargs",
        *_GUIDED_FIELDS,
    }
)


def any_strings(holder: dict[str, Any], key: str) -> list[tuple[Getter, Setter]]:
    """Every string of ``holder[key]``, whatever its shape (a string, or strings and keys nested in it)."""
    value = holder.get(key)
    if isinstance(value, str):
        return list(plain_field(holder, key))
    if isinstance(value, dict | list):
        return strings_in(value)
    return []


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
    # The named tool a client forces (vLLM builds its output constraint from that tool), stop sequences and
    # vLLM's `bad_words` (tokenized to ban them): the client's settings, read by the upstream's tokenizer.
    for key in ("tool_choice", "function_call", "stop", "bad_words"):
        value = body.get(key)
        if isinstance(value, str):
            out += _with_role("system", plain_field(body, key))
        elif isinstance(value, dict | list):
            out += _with_role("system", strings_in(value, _TOOL_SYNTAX, keys=False))
    prediction = body.get("prediction")
    if isinstance(prediction, dict):
        for key, pc in prediction.items():
            if key == "content" and isinstance(pc, list):
                out += _with_role("user", content_parts(pc))
            elif key != "type" or pc != "content":
                out += _with_role("user", any_strings(prediction, key))
    else:
        out += _with_role("user", any_strings(body, "prediction"))
    # RAG documents and the client's variables for the chat template (which may render them), whatever their
    # shape: a server other than vLLM may take what vLLM would refuse.
    out += _with_role("user", any_strings(body, "documents"))
    out += _with_role("user", any_strings(body, "chat_template_kwargs"))
    rf = body.get("response_format")
    if isinstance(rf, dict):
        for key in rf:
            if key != "type":
                out += _with_role("system", _constraint(rf, key))
    else:
        out += _with_role("system", any_strings(body, "response_format"))
    so = body.get("structured_outputs")
    if isinstance(so, dict):
        for key in so:
            out += _with_role("system", _constraint(so, key))
    else:
        out += _with_role("system", any_strings(body, "structured_outputs"))
    for key in _GUIDED_FIELDS:
        out += _with_role("system", _constraint(body, key))
    return out


def _message_fields(msg: dict[str, Any], role: str) -> list[tuple[str, Getter, Setter]]:
    """Every string of a request message but its ``role`` and ``content``: ``name``, ``tool_call_id``,
    ``refusal``, reasoning, every string of its tool calls (``id``, ``type``, ``function.name``; the
    ``arguments`` as JSON text), a legacy ``function_call``, a developer message's ``tools`` (the operator's
    text: ``system``), and any field an upstream's template might render."""
    out: list[tuple[str, Getter, Setter]] = []
    for key, value in msg.items():
        if key == "role" or key == "content":
            continue
        if isinstance(value, str):
            out += _with_role(role, plain_field(msg, key))
        elif key == "tools":
            out += _with_role("system", strings_in(value, _TOOL_SYNTAX) if isinstance(value, dict | list) else ())
        elif key == "tool_calls" and isinstance(value, list):
            for call in value:
                if isinstance(call, dict):
                    out += _with_role(role, _call_strings(call))
                elif isinstance(call, str):
                    raise ShapeError("invalid_messages", "A tool call must be an object.")
        elif key == "function_call" and isinstance(value, dict):
            out += _with_role(role, _call_strings({"function": value}))
        elif isinstance(value, dict | list):
            out += _with_role(role, strings_in(value))
    return out


def _call_strings(call: dict[str, Any]) -> list[tuple[Getter, Setter]]:
    """A tool call's strings: ``id``, ``type``, ``function.name``, any other field, and the ``arguments`` (JSON
    text: its decoded view; or, non-standard, an object)."""
    out: list[tuple[Getter, Setter]] = []
    for key, value in call.items():
        if key == "function" and isinstance(value, dict):
            for fk, fv in value.items():
                if fk == "arguments":
                    out.extend(arguments_fields(value))
                elif isinstance(fv, str):
                    out.extend(plain_field(value, fk))
                elif isinstance(fv, dict | list):
                    out += strings_in(fv)
        elif isinstance(value, str):
            if not (key == "type" and value == "function"):
                out.extend(plain_field(call, key))
        elif isinstance(value, dict | list):
            out += strings_in(value)
    return out


def _messages(messages: Any) -> Iterator[tuple[str, Getter, Setter]]:
    if not isinstance(messages, list):
        if messages is not None:  # (embeddings' `messages`: the chat route refuses this before)
            raise ShapeError("invalid_messages", "`messages` must be a list.")
        return
    for msg in messages:
        if not isinstance(msg, dict):
            raise ShapeError("invalid_messages", "Each message must be an object.")
        role = msg.get("role")
        if not isinstance(role, str):
            raise ShapeError("invalid_messages", "Each message needs a string `role`.")
        content = msg.get("content")
        if role not in STANDARD_ROLES:
            # A role of the client's choosing is rendered as it is: checked as text, written by a user.
            yield "user", (lambda m=msg: m["role"]), (lambda v, m=msg: m.__setitem__("role", v))
            role = "user"
        if isinstance(content, str):
            yield role, (lambda m=msg: m["content"]), (lambda v, m=msg: m.__setitem__("content", v))
        elif isinstance(content, list):
            for get, put in content_parts(content):
                yield role, get, put
        elif content is not None:
            raise ShapeError("invalid_content", "A message's `content` must be a string, a list of parts or null.")
        if len(msg) > 2 or content is None:  # more than role and content
            yield from _message_fields(msg, role)


def request_texts(route: str, body: dict[str, Any]) -> Iterator[tuple[str, Getter, Setter]]:
    """(role, getter, setter) for every string the upstream's chat template or tokenizer sees (see the module
    docstring); raises ShapeError on a part it cannot check.

    The setter of a JSON-text field is a :class:`JsonField`: its getter gives the decoded view to scan, and PII
    is redacted through ``engine.CompiledPolicy.redact_json``. A message with only ``role`` and string ``content``
    (the common case) costs three cheap checks, a request with no other text field one set look-up.

    An embeddings request may carry chat ``messages`` instead of ``input`` (vLLM's chat embeddings, rendered
    with the chat template): they are checked as a chat's are. Token ids in ``prompt``/``input`` are not text:
    :func:`token_prompts` finds them, and the policy decides."""
    if route == "chat" or (route == "embeddings" and "messages" in body):
        yield from _messages(body.get("messages"))
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


def token_prompts(route: str, body: dict[str, Any]) -> tuple[str | None, int]:
    """``(field, tokens)`` when a completions ``prompt`` or an embeddings ``input`` is given as token ids (a
    list of ints, or of lists of ints), or the request (or a message's ``reasoning``) carries ``prompt_embeds``: text
    the gateway cannot read without the model's tokenizer. ``(None, 0)`` otherwise. Raises ShapeError on a list
    that mixes text and token ids or holds anything else."""
    if "prompt_embeds" in body:
        return "prompt_embeds", 0
    # vLLM v0.34.0 reads a message's `reasoning` object of type `prompt_embeds` as embeddings, on every route that
    # takes messages (vllm/renderers/chat_utils/chat_message.py, _parse_chat_message_content).
    messages = body.get("messages")
    if isinstance(messages, list):
        for msg in messages:
            if isinstance(msg, dict) and (_embeds(msg.get("reasoning")) or _embeds(msg.get("reasoning_content"))):
                return "prompt_embeds", 0
    if route == "chat":
        return None, 0
    field = "prompt" if route == "completions" else "input"
    value = body.get(field)
    if not isinstance(value, list) or not value:
        if value is not None and not isinstance(value, str | list):  # an object, a number: nothing to check
            raise ShapeError("invalid_prompt", f"`{field}` must be a string, a list of strings, or token ids.")
        return None, 0
    first = value[0]
    if isinstance(first, str):
        if all(isinstance(v, str) for v in value):
            return None, 0
    elif _token_ids(value):
        return field, len(value)
    elif all(isinstance(v, list) and _token_ids(v) for v in value):
        return field, sum(len(v) for v in value)
    raise ShapeError("invalid_prompt", f"`{field}` must be a string, a list of strings, or token ids.")


def _embeds(value: Any) -> bool:
    return isinstance(value, dict) and (value.get("type") == "prompt_embeds" or "prompt_embeds" in value)


def _token_ids(value: list[Any]) -> bool:
    return bool(value) and all(type(v) is int for v in value)
