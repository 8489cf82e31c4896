"""Server-Sent Events: a parser that yields whole events (not network reads) and a writer.

Per the WHATWG spec, events end at a blank line; lines end in CRLF, LF or CR; ``data:`` lines of one event are
joined with ``\\n``; a single space after the colon is dropped; lines starting with ``:`` are comments.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import orjson

_BOUNDARY = re.compile(rb"\r\n\r\n|\n\n|\r\r|\r\n\n|\n\r\n")
_NEWLINE = re.compile(r"\r\n|\r|\n")


class Event(NamedTuple):
    data: str
    event: str = "message"
    id: str | None = None


class SSEParser:
    """Feed bytes as they arrive; get the events completed so far. Memory is bounded (``max_event_bytes``)."""

    def __init__(self, max_event_bytes: int = 1 << 20) -> None:
        self._buf = b""
        self.max_event_bytes = max_event_bytes

    def feed(self, chunk: bytes) -> list[Event]:
        buf = self._buf + chunk if self._buf else chunk
        events: list[Event] = []
        pos = 0
        if b"\r" not in buf:  # the common case (vLLM, OpenAI): LF only, mostly one `data:` line per event
            while (end := buf.find(b"\n\n", pos)) >= 0:
                raw = buf[pos:end]
                if raw.startswith(b"data: ") and b"\n" not in raw:
                    events.append(Event(raw[6:].decode("utf-8", errors="replace")))
                elif (ev := _parse(raw)) is not None:
                    events.append(ev)
                pos = end + 2
        else:
            while (m := _BOUNDARY.search(buf, pos)) is not None:
                if (ev := _parse(buf[pos : m.start()])) is not None:
                    events.append(ev)
                pos = m.end()
        self._buf = buf[pos:]
        if len(self._buf) > self.max_event_bytes:
            raise ValueError("SSE event exceeds the size limit")
        return events

    def feed_data(self, chunk: bytes) -> list[str]:
        """The ``data`` of each event :meth:`feed` would give (the stream relay reads nothing else of an event),
        without building the events: the relay's parse of each read."""
        buf = self._buf + chunk if self._buf else chunk
        if b"\r" in buf:
            self._buf = b""
            return [ev.data for ev in self.feed(buf)]
        out: list[str] = []
        pos = 0
        while (end := buf.find(b"\n\n", pos)) >= 0:
            if buf.startswith(b"data: ", pos) and buf.find(b"\n", pos, end) < 0:
                out.append(buf[pos + 6 : end].decode("utf-8", errors="replace"))
            elif (ev := _parse(buf[pos:end])) is not None:
                out.append(ev.data)
            pos = end + 2
        if pos:
            buf = buf[pos:]
        self._buf = buf
        if len(buf) > self.max_event_bytes:
            raise ValueError("SSE event exceeds the size limit")
        return out

    def close(self) -> list[Event]:
        """Flush a final event the stream ended without a blank line after."""
        rest, self._buf = self._buf, b""
        ev = _parse(rest) if rest.strip() else None
        return [ev] if ev is not None else []


def _parse(raw: bytes) -> Event | None:
    data: list[str] = []
    event = "message"
    ev_id = None
    for line in _NEWLINE.split(raw.decode("utf-8", errors="replace")):
        if not line or line.startswith(":"):
            continue
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id":
            ev_id = value
    if not data:
        return None
    return Event("\n".join(data), event, ev_id)


def encode(data: bytes | str) -> bytes:
    """One ``data:`` event (payloads here are single-line JSON)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return b"data: " + data + b"\n\n"


def encode_json(obj: object) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


DONE = b"data: [DONE]\n\n"
