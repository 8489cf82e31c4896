"""Tool-call arguments and other JSON text under the policies: :class:`JsonEscapes` shows the PII detectors
the text a JSON parser reads while keeping redacted text valid JSON; :func:`json_view` is the decoded view the
blocked patterns and injection heuristics scan; :class:`JsonField` marks a field that holds JSON text."""

from __future__ import annotations

import re
from collections import deque
from typing import Any

from llmops_cli.gateway.policy import pii

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
    in the raw text (:meth:`raw`) with ``engine.CompiledPolicy.redact_json``."""

    __slots__ = ("holder", "key")

    def __init__(self, holder: dict[str, Any], key: str) -> None:
        self.holder = holder
        self.key = key

    def __call__(self, value: str) -> None:
        self.holder[self.key] = value

    def raw(self) -> str:
        return self.holder[self.key]  # type: ignore[no-any-return]
