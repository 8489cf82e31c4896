"""A stream's plain content chunks read without parsing them: :class:`PlainText`, the raw JSON of such a chunk
around its text, and the serialisation the generic path (``streamrelay.filter_chunk``) would write for it.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from llmops_cli.gateway.asgi import RequestRecord
from llmops_cli.gateway.policy.replyfields import TOKEN_FIELDS
from llmops_cli.gateway.sse import encode_json


class Window(Protocol):
    """A hold-back window (``holdback.HoldBack`` or ``streamrelay.JsonHold``)."""

    def push(self, text: str, *, evaluate: bool = True) -> str: ...


PLAIN_TRIES = 8  # plain-text templates a stream may set up (a stream whose chunks vary stops trying)
CONTENT_KEY = '"content":"'
_SENTINEL = "\x00llmops\x00"


class PlainText:
    """The raw JSON of a stream's plain content chunk around its text (``head`` up to the opening quote of the
    delta's ``content``, ``tail`` from its closing quote), set up from a chunk that
    ``replyfields.plain_chat_choice`` found plain (its ``id`` and ``model`` checked, one choice, a delta of
    ``content`` alone, null token fields). A later event ``head + M + tail`` where ``M`` is the body of a JSON
    string is that chunk with another text: JSON reads ``M`` as the string (it ends at the first unescaped quote)
    and the rest as before. Such an event is not parsed; its text goes through the choice's window and leaves in
    the serialisation of the chunk that the generic path would have written (``out_head`` and ``out_tail``, cut
    at the text out of it), byte for byte."""

    __slots__ = ("head", "idx", "out_head", "out_tail", "tail")

    def __init__(self, head: str, tail: str, idx: int, out_head: bytes, out_tail: bytes) -> None:
        self.head, self.tail, self.idx, self.out_head, self.out_tail = head, tail, idx, out_head, out_tail

    @classmethod
    def of(cls, data: str, chunk: dict[str, Any], choice: dict[str, Any]) -> PlainText | None:
        """The template of ``data`` (parsed: ``chunk``, whose plain choice is ``choice``), or None."""
        delta = choice["delta"]
        text = delta.get("content")
        if len(delta) != 1 or type(text) is not str or any(choice.get(k) is not None for k in TOKEN_FIELDS):
            return None
        start = data.find(CONTENT_KEY)
        if start < 0 or data.find(CONTENT_KEY, start + 1) >= 0:
            return None
        start += len(CONTENT_KEY)
        end = _string_end(data, start)
        if end < 0:
            return None
        head, tail = data[:start], data[end:]
        try:
            probe = orjson.loads(head + tail)  # the chunk with an empty text: the cut is where it should be
        except orjson.JSONDecodeError:
            return None
        probe_choice = probe["choices"][0] if type(probe) is dict and type(probe.get("choices")) is list else None
        if type(probe_choice) is not dict or type(probe_choice.get("delta")) is not dict:
            return None
        probe_choice["delta"]["content"] = text
        if probe != chunk:
            return None
        probe_choice["delta"]["content"] = _SENTINEL
        out = encode_json(probe).split(orjson.dumps(_SENTINEL))
        if len(out) != 2:
            return None
        return cls(head, tail, choice.get("index", 0), out[0], out[1])

    def text_of(self, data: str) -> str | None:
        """The text of ``data`` when it is this template's chunk with another text, else None."""
        head, tail = self.head, self.tail
        if len(data) < len(head) + len(tail) or not data.startswith(head) or not data.endswith(tail):
            return None
        m = data[len(head) : len(data) - len(tail)]
        if '"' not in m and "\\" not in m and m.isprintable():  # no escape, no control character: itself
            return m
        try:
            text = orjson.loads('"' + m + '"')
        except orjson.JSONDecodeError:
            return None  # not the body of one JSON string: the event is parsed as it is
        return text if type(text) is str else None

    def filter(self, text: str, hb: Window, ctx: RequestRecord, evaluate: bool) -> bytes | None:
        """:func:`streamrelay.filter_chunk` of this template's chunk with ``text``, through its choice's window
        ``hb`` (``evaluate``: as ``HoldBack.push``)."""
        if not text:
            return None
        released = hb.push(text, evaluate=evaluate)
        if not released:
            return None
        ctx.completion_parts.append(released)
        return self.out_head + orjson.dumps(released) + self.out_tail


def _string_end(data: str, start: int) -> int:
    """The offset of the quote that ends the JSON string whose body starts at ``start``; -1 if none does."""
    j = start
    while (q := data.find('"', j)) >= 0:
        b = q
        while b > start and data[b - 1] == "\\":
            b -= 1
        if (q - b) % 2 == 0:
            return q
        j = q + 1
    return -1
