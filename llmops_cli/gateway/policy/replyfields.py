"""Every string of an upstream reply (non-streamed, or a stream chunk) that the output policies check, as
(getter, setter) pairs that edit the parsed reply in place; a reply the gateway cannot check as text raises
:class:`ReplyShapeError` (refused, never relayed). The request's fields: :mod:`.fields`.
"""

from __future__ import annotations

import re
from typing import Any

from llmops_cli.gateway.policy.fields import (
    STANDARD_ROLES,
    Getter,
    Setter,
    arguments_fields,
    rename_key,
    strings_in,
)

# One rule for a reply, streamed or not: every string in it is checked, or the reply is refused. Streamed text
# that arrives in pieces goes through hold-back windows (``streamrelay``): a choice's ``content``/``text``,
# every other string field of a delta (``reasoning_content``, ``refusal``, ``tool_call_id``, any field an
# upstream adds), and tool-call and ``function_call`` ``arguments``. Every other string (ids, names, model,
# ``system_fingerprint``, ``stop_reason``, strings in ``usage``, in unknown fields or nested objects, object
# keys outside the reply's own structure) is checked where it stands, in each chunk. Values the reply format
# fixes (an ``object`` such as ``chat.completion.chunk``, a standard ``finish_reason`` or ``role``, a tool call's
# ``type: function``) are the only strings left unscanned. Token-level fields (``logprobs``, ``token_ids``, …)
# spell text out token by token: they are set to null while any output detector redacts or denies.
REPLY_OBJECTS = frozenset({"chat.completion", "chat.completion.chunk", "text_completion", "list", "embedding"})
FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call", "abort", "error"})
TOKEN_FIELDS = frozenset({"logprobs", "prompt_logprobs", "token_ids", "prompt_token_ids"})
# A reply's own structure: these keys are not checked as text (their values are, as above).
REPLY_KEYS = frozenset(
    {"id", "object", "created", "model", "choices", "usage", "system_fingerprint", "service_tier", "data"}
)
CHOICE_KEYS = frozenset({"index", "message", "delta", "text", "finish_reason", "stop_reason"} | TOKEN_FIELDS)
MESSAGE_KEYS = frozenset(
    {"role", "content", "tool_calls", "function_call", "refusal", "reasoning_content", "reasoning", "name"}
)
# A delta's fields that do not stream through a window of their own (see ``streamrelay``).
DELTA_STRUCTURE_KEYS = frozenset({"role", "content", "tool_calls", "function_call"})
CALL_KEYS = frozenset({"index", "id", "type", "function"})
FUNCTION_KEYS = frozenset({"name", "arguments"})
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


class ReplyShapeError(ValueError):
    """An upstream reply the gateway cannot check as text: refused (502 ``upstream_protocol``)."""


def _key(holder: dict[str, Any], k: Any, known: frozenset[str], out: list[tuple[Getter, Setter]]) -> None:
    if k not in known and isinstance(k, str):
        out.append(((lambda k=k: k), (lambda new, n=holder, k=k: rename_key(n, k, new))))


def _value(holder: Any, k: Any, v: Any, out: list[tuple[Getter, Setter]]) -> None:
    """``holder[k]`` checked whole: a string, or every string and key in an object or list."""
    if isinstance(v, str):
        out.append(((lambda h=holder, k=k: h[k]), (lambda new, h=holder, k=k: h.__setitem__(k, new))))
    elif isinstance(v, dict | list):
        out += strings_in(v)


def reply_fields(obj: dict[str, Any], route: str) -> list[tuple[Getter, Setter]]:
    """Every string of a reply (or a stream chunk) outside its choices: ``id``, ``model``,
    ``system_fingerprint``, strings in ``usage`` or anywhere else, an unknown ``object``, embeddings' data but
    the vectors (a list of numbers, or base64 when the client asked for it). Raises ReplyShapeError on an
    embedding that is neither."""
    out: list[tuple[Getter, Setter]] = []
    for k, v in obj.items():
        if (k == "created" and type(v) is int) or k in TOKEN_FIELDS or (k == "choices" and type(v) is list):
            continue
        if k == "object" and type(v) is str and v in REPLY_OBJECTS:
            continue
        if k == "usage" and type(v) is dict:
            out += _usage_fields(v)
            continue
        if k == "data" and route == "embeddings" and type(v) is list:
            for i, item in enumerate(v):
                if type(item) is dict:
                    out += _embedding_fields(item)
                else:
                    _value(v, i, item, out)
            continue
        _value(obj, k, v, out)
        _key(obj, k, REPLY_KEYS, out)
    return out


# The counts OpenAI and vLLM report in `usage`: their names are the format's, not text.
USAGE_KEYS = frozenset(
    {
        *("prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details", "completion_tokens_details"),
        *("cached_tokens", "reasoning_tokens", "audio_tokens", "accepted_prediction_tokens"),
        "rejected_prediction_tokens",
    }
)


def _usage_fields(usage: dict[str, Any]) -> list[tuple[Getter, Setter]]:
    """A reply's ``usage``: its strings, and keys other than the counts' own names, nested objects included."""
    out: list[tuple[Getter, Setter]] = []
    for k, v in usage.items():
        if type(v) is dict:
            out += _usage_fields(v)
        elif type(v) is not int and type(v) is not float and v is not None:
            _value(usage, k, v, out)
        _key(usage, k, USAGE_KEYS, out)
    return out


def routine_chunk(chunk: dict[str, Any], route: str, seen: dict[str, str]) -> bool:
    """Whether a stream chunk holds nothing that :func:`reply_fields` and :func:`choices_fields` would check:
    only the format's own keys and fixed values, strings that ``seen`` says were checked and left as they are
    (``id``, ``model``), and text that streams through windows. Most chunks of a stream are such; they skip
    building the field list. A chunk that is not falls back to the full check, so this only saves time."""
    for k, v in chunk.items():
        if k == "choices":
            if type(v) is not list:
                return False
            for choice in v:
                if type(choice) is not dict or not _routine_choice(choice, route):
                    return False
        elif k == "object":
            if type(v) is not str or v not in REPLY_OBJECTS:
                return False
        elif type(v) is str:
            if k not in REPLY_KEYS or k == "created" or seen.get(v) != v:
                return False
        elif not ((k == "created" and type(v) is int) or k in TOKEN_FIELDS or (v is None and k in REPLY_KEYS)):
            return False  # an unknown key is a string the client sees, whatever its value
    return True


# The fields of a plain chat delta (:func:`plain_chat_choice`): text that streams through windows, and the role.
PLAIN_DELTA_KEYS = frozenset({"content", "role", "reasoning_content", "reasoning"})


def plain_chat_choice(chunk: dict[str, Any], seen: dict[str, str]) -> dict[str, Any] | None:
    """The one choice of a chat stream chunk of the shape nearly every chunk has, else None: ``id``, ``model``
    and ``system_fingerprint`` strings that ``seen`` says were checked and left as they are (or null), ``object``
    ``chat.completion.chunk``, an integer ``created``, null ``usage``; one choice of an integer ``index``, token
    fields, null ``finish_reason`` and ``stop_reason``, and a delta of text (``content``, ``reasoning_content``,
    ``reasoning``: strings or null) and a standard ``role``. Such a chunk is :func:`routine_chunk` and holds no
    string outside its windows; ``streamrelay`` relays it on a short path. Anything else (the first chunk,
    finish, usage, tool calls, any other key or value) is left to the generic path."""
    choice = None
    for k, v in chunk.items():
        if k == "choices":
            if type(v) is not list or len(v) != 1:
                return None
            choice = v[0]
        elif k == "id" or k == "model" or k == "system_fingerprint":
            if v is not None and (type(v) is not str or seen.get(v) != v):
                return None
        elif k == "object":
            if v != "chat.completion.chunk":
                return None
        elif k == "created":
            if type(v) is not int:
                return None
        elif k != "usage" or v is not None:
            return None
    if type(choice) is not dict:
        return None
    delta = None
    for k, v in choice.items():
        if k == "delta":
            delta = v
        elif k == "index":
            if type(v) is not int:
                return None
        elif k == "finish_reason" or k == "stop_reason":
            if v is not None:
                return None
        elif k not in TOKEN_FIELDS:
            return None
    if type(delta) is not dict:
        return None
    for k, v in delta.items():
        if k not in PLAIN_DELTA_KEYS or (v is not None and type(v) is not str):
            return None
        if k == "role" and v is not None and v not in STANDARD_ROLES:
            return None
    return choice


def _routine_choice(choice: dict[str, Any], route: str) -> bool:
    for k, v in choice.items():
        if (k == "index" and type(v) is int) or k in TOKEN_FIELDS or (v is None and k in CHOICE_KEYS):
            continue
        if k == "finish_reason":
            if type(v) is not str or v not in FINISH_REASONS:
                return False
        elif k == "stop_reason":
            if type(v) is not int:
                return False
        elif route == "chat" and k == "delta" and type(v) is dict:
            for dk, dv in v.items():
                if dv is None and dk in MESSAGE_KEYS:
                    continue
                if dk == "role":
                    if type(dv) is not str or dv not in STANDARD_ROLES:
                        return False
                elif type(dv) is not str or dk not in MESSAGE_KEYS:  # text of a window, under a known name
                    return False
        elif not (route == "completions" and k == "text" and type(v) is str):
            return False
    return True


_PLAIN_MESSAGE_TEXTS = frozenset({"content", "refusal", "reasoning_content", "reasoning"})


def plain_reply_strings(reply: dict[str, Any], route: str) -> list[tuple[dict[str, Any], str]] | None:
    """The strings to check of a non-streamed chat reply of the usual shape, as (holder, key), in the order
    :func:`reply_fields` and :func:`choices_fields` give them; None for any other reply (their walk decides). The
    usual shape: string ``id``, ``model`` and ``system_fingerprint`` (or null), a reply ``object``, ``usage`` of
    the counts' own names and numbers, and choices of an integer ``index``, a standard or null ``finish_reason``,
    an integer or null ``stop_reason``, null token fields and a message of a standard ``role``, texts
    (``content``, ``refusal``, ``reasoning_content``, ``reasoning``: strings or null) and no tool calls."""
    if route != "chat":
        return None
    out: list[tuple[dict[str, Any], str]] = []
    choices = None
    for k, v in reply.items():
        if k == "id" or k == "model" or k == "system_fingerprint":
            if type(v) is str:
                out.append((reply, k))
            elif v is not None:
                return None
        elif k == "choices":
            if type(v) is not list:
                return None
            choices = v
        elif k == "object":
            if type(v) is not str or v not in REPLY_OBJECTS:
                return None
        elif k == "usage":
            if v is not None and (type(v) is not dict or not _plain_usage(v)):
                return None
        elif k == "created":
            if type(v) is not int:
                return None
        elif k not in TOKEN_FIELDS or v is not None:
            return None
    for choice in choices or ():
        if type(choice) is not dict:
            return None
        msg = None
        for k, v in choice.items():
            if k == "message":
                msg = v
            elif k == "index":
                if type(v) is not int:
                    return None
            elif k == "finish_reason":
                if v is not None and (type(v) is not str or v not in FINISH_REASONS):
                    return None
            elif k == "stop_reason":
                if v is not None and type(v) is not int:
                    return None
            elif k not in TOKEN_FIELDS or v is not None:
                return None
        if type(msg) is not dict:
            return None
        for k, v in msg.items():
            if k in _PLAIN_MESSAGE_TEXTS:
                if type(v) is str:
                    out.append((msg, k))
                elif v is not None:
                    return None
            elif k == "role":
                if type(v) is not str or v not in STANDARD_ROLES:
                    return None
            elif k == "tool_calls":
                if v is not None and v != []:
                    return None
            elif k != "function_call" or v is not None:
                return None
    return out


def _plain_usage(usage: dict[str, Any]) -> bool:
    """Whether a reply's ``usage`` holds nothing to check: the counts' own names, numbers (nested too)."""
    for k, v in usage.items():
        if k not in USAGE_KEYS:
            return False
        if type(v) is dict:
            if not _plain_usage(v):
                return False
        elif type(v) is not int and type(v) is not float and v is not None:
            return False
    return True


def _embedding_fields(item: dict[str, Any]) -> list[tuple[Getter, Setter]]:
    out: list[tuple[Getter, Setter]] = []
    for k, v in item.items():
        if k == "embedding":
            if type(v) is list and all(type(x) is float or type(x) is int for x in v):
                continue
            if type(v) is str and _BASE64.fullmatch(v):
                continue
            raise ReplyShapeError("an embedding that is neither numbers nor base64")
        if k == "object" and v == "embedding":
            continue
        _value(item, k, v, out)
        _key(item, k, frozenset({"object", "embedding", "index"}), out)
    return out


def choice_fields(choice: dict[str, Any], route: str, *, streamed: bool) -> list[tuple[Getter, Setter]]:
    """Every string of a choice that is checked where it stands: all of them in a non-streamed reply; in a
    streamed chunk, all but those that stream through windows (see above). Raises ReplyShapeError."""
    out: list[tuple[Getter, Setter]] = []
    main = "delta" if streamed else "message"
    for k, v in choice.items():
        if (k == "index" and type(v) is int) or k in TOKEN_FIELDS:
            continue
        if k == "finish_reason" and (v is None or (type(v) is str and v in FINISH_REASONS)):
            continue
        if k == "stop_reason" and (v is None or type(v) is int):
            continue
        if route == "chat" and k == main and type(v) is dict:
            out += message_fields(v, streamed=streamed)
            continue
        if route == "completions" and k == "text" and type(v) is str:
            if not streamed:
                _value(choice, k, v, out)
            continue
        _value(choice, k, v, out)
        _key(choice, k, CHOICE_KEYS, out)
    return out


def choices_fields(choices: list[Any], route: str, *, streamed: bool) -> list[tuple[Getter, Setter]]:
    """:func:`choice_fields` of every choice (a choice that is a string is checked whole)."""
    out: list[tuple[Getter, Setter]] = []
    for i, choice in enumerate(choices):
        if type(choice) is dict:
            out += choice_fields(choice, route, streamed=streamed)
        else:
            _value(choices, i, choice, out)
    return out


def message_fields(msg: dict[str, Any], *, streamed: bool) -> list[tuple[Getter, Setter]]:
    """Every string of a reply's message (non-streamed) or delta (streamed) that is checked where it stands:
    all of them but, in a delta, those that stream through windows. Raises ReplyShapeError on ``audio`` (base64
    sound the gateway cannot check)."""
    out: list[tuple[Getter, Setter]] = []
    for k, v in msg.items():
        if v is None:  # no value to check, but a key the format does not know is a string the client sees
            _key(msg, k, MESSAGE_KEYS, out)
            continue
        if k == "role" and type(v) is str and v in STANDARD_ROLES:
            continue
        if k == "audio":
            raise ReplyShapeError("an audio reply")
        if k == "tool_calls" and type(v) is list:
            for i, call in enumerate(v):
                if type(call) is dict:
                    out += _reply_call(call, streamed)
                else:
                    _value(v, i, call, out)
            continue
        if k == "function_call" and type(v) is dict:
            out += _reply_function(v, streamed)
            continue
        if type(v) is not str or not streamed or k == "role":  # a delta's other strings stream through windows
            _value(msg, k, v, out)
        _key(msg, k, MESSAGE_KEYS, out)
    return out


def _reply_call(call: dict[str, Any], streamed: bool) -> list[tuple[Getter, Setter]]:
    out: list[tuple[Getter, Setter]] = []
    for k, v in call.items():
        if (k == "index" and type(v) is int) or (k == "type" and v == "function"):
            continue
        if k == "function" and type(v) is dict:
            out += _reply_function(v, streamed)
        else:
            _value(call, k, v, out)
            _key(call, k, CALL_KEYS, out)
    return out


def _reply_function(fn: dict[str, Any], streamed: bool) -> list[tuple[Getter, Setter]]:
    """A tool call's ``function`` (or a legacy ``function_call``): ``name`` and any other field; the
    ``arguments`` as JSON text (streamed: through their window), or, non-standard, an object."""
    out: list[tuple[Getter, Setter]] = []
    for k, v in fn.items():
        if k == "arguments" and type(v) is str:
            if not streamed:
                out.extend(arguments_fields(fn))
            continue
        _value(fn, k, v, out)
        _key(fn, k, FUNCTION_KEYS, out)
    return out


def drop_token_fields(holder: dict[str, Any]) -> None:
    """Set a reply's (or choice's) token-level fields to null (see ``TOKEN_FIELDS``)."""
    for k in TOKEN_FIELDS.intersection(holder):  # one set operation: a chunk has none, a choice `logprobs`
        if holder[k] is not None:
            holder[k] = None
