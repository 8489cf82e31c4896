"""The PII detectors read tool-call arguments (JSON text) as a JSON parser does: a `\\uXXXX` escape hides nothing,
and a private key in a JSON string (its line breaks are `\\n` escapes) is redacted whole. On input, in
non-streamed responses and in streams split anywhere; the output stays JSON equivalent to the input but for the
redactions (escapes may be spelled differently)."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmops_cli.gateway.asgi import RequestRecord
from llmops_cli.gateway.policy import pii
from llmops_cli.gateway.policy.jsontext import JsonEscapes, json_view
from llmops_cli.gateway.streamrelay import JsonHold, filter_chunk

from .conftest import chat, compiled, policy_text
from .test_fields import Scripted, _call, _chunk, _collect, _ev, _post, _tool_delta

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

EMAIL = "zorblax@example.com"  # "zorb" appears nowhere else: any of it in the output is a leak


def esc(text: str, chars: str | None = None) -> str:
    """``text`` with every character (or those in ``chars``) spelled as a ``\\uXXXX`` escape."""
    return "".join(f"\\u{ord(c):04x}" if chars is None or c in chars else c for c in text)


def _b64(n: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(n))


LINES = [_b64(64, i) for i in range(6)] + ["QkFTRTY0PQ=="]
PEM = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(LINES) + "\n-----END RSA PRIVATE KEY-----"
PEM_NO_END = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(LINES)
PGP = (
    '-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\nComment: "work" key\n\n'
    + "\n".join(LINES)
    + "\n-----END PGP PRIVATE KEY BLOCK-----"
)
# Pieces of a key body: none may survive redaction.
BODY = [line[i : i + 12] for line in LINES for i in range(0, len(line) - 11, 12)]
# A card number in MATHEMATICAL BOLD DIGITs (`\d` matches them): in JSON text, surrogate pairs.
BOLD_CARD = "".join(chr(0x1D7CE + int(d)) if d.isdigit() else d for d in "4111 1111 1111 1111")

# (JSON text, the placeholder kinds it must come out with, substrings that must not survive)
ESCAPED: list[tuple[str, list[str], list[str]]] = [
    ('{"to": "zorblax\\u0040example.com"}', ["EMAIL"], ["zorb", "example"]),
    ('{"to": "' + esc(EMAIL) + '"}', ["EMAIL"], ["zorb", "\\u007a"]),
    ('{"to": "' + esc(EMAIL, "@.z").upper().replace("\\U", "\\u") + '"}', ["EMAIL"], ["ORBLAX", "EXAMPLE"]),
    ('{"card": "\\u0034111 1111 1111 1111"}', ["CREDIT_CARD"], ["1111"]),
    ('{"card": "4111\\u00201111\\u00201111\\u00201111"}', ["CREDIT_CARD"], ["1111"]),
    ('{"card": ' + json.dumps(BOLD_CARD) + "}", ["CREDIT_CARD"], ["\\ud835"]),
    ('{"ssn": "123-4\\u0035-6789"}', ["US_SSN"], ["123", "6789"]),
    ('{"ssn": "123\\u002d45\\u002d6789"}', ["US_SSN"], ["123", "6789"]),
    ('{"phone": "+1 415 555\\u002d0100"}', ["PHONE"], ["415", "0100"]),
    ('{"iban": "DE89\\u00203704 0044 0532 0130 00"}', ["IBAN"], ["3704", "0532"]),
    ('{"ip": "192.168.10\\u002e4"}', ["IP_ADDRESS"], ["192", "168"]),
    ('{"key": "sk\\u002dproj-abcdefghijklmnopqrstuvwxyz0123"}', ["SECRET"], ["abcdefghij"]),
    ('{"url": "https:\\/\\/zorblax\\u0040example.com\\/x"}', ["EMAIL"], ["zorb"]),
    # a surrogate pair right before an escaped e-mail: decoded as one character
    ('{"m": "\\ud83d\\ude00zorblax\\u0040example.com"}', ["EMAIL"], ["zorb"]),
    # bare numbers are not strings: the placeholder that replaces one is quoted
    ('{"n": "x", "phone": [2127364521], "e": "zorblax\\u0040example.com"}', ["PHONE", "EMAIL"], ["736", "zorb"]),
]
KEYS: list[tuple[str, list[str]]] = [
    (json.dumps({"key": PEM}), ["SECRET"]),
    (json.dumps({"key": PEM, "after": "ok"}), ["SECRET"]),
    (json.dumps({"key": PEM_NO_END}), ["SECRET"]),
    (json.dumps({"key": PEM_NO_END, "then": {"x": [1, 2]}}), ["SECRET"]),
    (json.dumps({"key": PEM.replace("\n", "\r\n")}), ["SECRET"]),
    (json.dumps({"key": PEM}).replace("\\n", "\\u000A"), ["SECRET"]),
    (json.dumps({"key": PGP}), ["SECRET"]),
    (json.dumps({"key": PEM, "mail": EMAIL}, indent=2), ["SECRET", "EMAIL"]),
    # a key in a string inside a string (code that holds it): its line breaks are `\\n` in the JSON text
    (json.dumps({"code": 'key = "' + PEM.replace("\n", "\\n") + '"\nprint(key)'}), ["SECRET"]),
    (json.dumps({"code": 'key = "' + PEM_NO_END.replace("\n", "\\n") + '"'}), ["SECRET"]),
    (json.dumps({"code": "key = '" + PEM_NO_END.replace("\n", "\\r\\n") + "'"}), ["SECRET"]),
]


def leaked(out: str | bytes) -> list[str]:
    """The pieces of personal data (from the texts below) that are in ``out``."""
    s = out.decode() if isinstance(out, bytes) else out
    return [p for p in ["zorb", "1111 1111", "6789", *BODY] if p in s]


def _placeholders(value: Any) -> list[str]:
    return re.findall(r"\[REDACTED:([A-Z_]+)\]", json.dumps(value))


def _assert_redacted(out: str, kinds: list[str], gone: list[str]) -> None:
    value = json.loads(out)  # valid JSON
    assert _placeholders(value) == kinds, out
    flat = json.dumps(value, ensure_ascii=False)
    for piece in gone:
        assert piece not in out and piece not in flat, (piece, out)


def whole(text: str) -> str:
    """What redacting the whole text at once gives, spelled as a stream spells it."""
    p = compiled()
    j = JsonEscapes()
    return j.unmask(p.apply_pii(j.mask(text, final=True), p.pii_out, "output", []))


def streamed(text: str, cuts: list[int]) -> list[str]:
    """The pieces a tool call's hold-back window releases for ``text`` sent in fragments of ``cuts`` lengths."""
    h = JsonHold(compiled(), [])
    out = []
    pos = i = 0
    while pos < len(text):
        n = cuts[i % len(cuts)]
        out.append(h.push(text[pos : pos + n]))
        pos += n
        i += 1
    out.append(h.flush())
    return out


# ------------------------------------------------------------------------------------------ whole texts
@pytest.mark.parametrize(("text", "kinds", "gone"), ESCAPED)
def test_escaped_personal_data_is_found(text: str, kinds: list[str], gone: list[str]) -> None:
    p = compiled()
    _assert_redacted(p.redact_json(text, p.pii_out, "output", []), kinds, gone)
    _assert_redacted(whole(text), kinds, gone)


@pytest.mark.parametrize(("text", "kinds"), KEYS)
def test_private_key_in_json_is_redacted_whole(text: str, kinds: list[str]) -> None:
    p = compiled()
    out = p.redact_json(text, p.pii_out, "output", [])
    _assert_redacted(out, kinds, [*BODY, "PRIVATE KEY", "GnuPG"])
    before, after = json.loads(text), json.loads(out)
    assert before.keys() == after.keys()  # nothing around the key was swallowed
    for k in before.keys() - {"key", "code", "mail"}:
        assert after[k] == before[k]
    if "code" in before:
        assert after["code"].startswith("key = ")


def test_placeholder_characters_in_the_input_stay_what_they_were() -> None:
    """Literal private-use characters (and their escapes) are never taken for the masking's placeholders."""
    reserved = "\ue000\ue009\ue00a\ue00d\ue020\ue022\ue05c\ue07f"
    value = {
        "lit": f"{reserved} a{reserved}b",
        "esc": "x",
        "key": f"{reserved}{PEM}{reserved}",
        "mail": f"{reserved}{EMAIL}{reserved}",
    }
    text = json.dumps(value, ensure_ascii=False).replace('"x"', '"' + esc(reserved) + '"')
    text = text.replace("zorblax@", "zorblax\\u0040")
    p = compiled()
    out = p.redact_json(text, p.pii_out, "output", [])
    assert not leaked(out)
    assert json.loads(out) == {
        "lit": value["lit"],
        "esc": reserved,
        "key": f"{reserved}[REDACTED:SECRET]{reserved}",
        "mail": f"{reserved}[REDACTED:EMAIL]{reserved}",
    }
    assert esc(reserved) in out  # escapes of such characters keep their spelling


def test_escapes_that_need_none_come_back_as_their_characters() -> None:
    """Where something was redacted, the JSON text is equivalent, and only escapes are spelled differently:
    one that needs no escaping becomes its character, the others their short or lower-case form."""
    text = '{"a\\u0041": "\\u00e9\\/\\u000A\\u0009\\u0022\\u005C\\u001F\\b\\ud83d\\ude00 \\ud800 \\uDC00", '
    text += '"to": "zorblax\\u0040example.com"}'
    p = compiled()
    out = p.redact_json(text, p.pii_out, "output", [])
    assert out == '{"aA": "é/\\n\\t\\"\\\\\\u001f\\b😀 \\ud800 \\uDC00", "to": "[REDACTED:EMAIL]"}'
    assert json.loads(out) == {**json.loads(text), "to": "[REDACTED:EMAIL]"}
    assert whole(text) == out


_SAFE = st.sampled_from(["the", "call me", " ", "ok.", "x", "é", "😀", '"', "\\", "\n", "\t", "\r\n", "\x01", "\b"])
_PII = st.sampled_from([EMAIL, "4111 1111 1111 1111", "123-45-6789", "+1 415 555 0100", "10.0.0.1", PEM, PGP])
_PIECES = st.lists(st.one_of(_SAFE, _PII), max_size=6)


def _spell(s: str, rng: random.Random) -> str:
    """A JSON string literal for ``s``, every character spelled one of the ways JSON allows."""
    short = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "/": "\\/"}
    out = []
    for c in s:
        ways = [f"\\u{ord(c):04x}", f"\\u{ord(c):04X}"] if ord(c) < 0x10000 else [json.dumps(c)[1:-1], c]
        if c in short:
            ways.append(short[c])
        if c >= " " and c not in '"\\':
            ways.append(c)
        out.append(rng.choice(ways))
    return '"' + "".join(out) + '"'


def _redacted(s: str) -> str:
    return pii.redact(s, pii.find(s))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(_PIECES.map(", ".join), min_size=1, max_size=4),
    st.integers(0, 2**32),
    st.lists(st.integers(1, 9), min_size=1, max_size=12),
)
def test_any_spelling_redacts_what_the_decoded_strings_hold(strings: list[str], seed: int, cuts: list[int]) -> None:
    """Whatever the spelling, the output parses to the input with each string redacted as plain text, and a
    stream in any fragments gives exactly the whole-text redaction."""
    rng = random.Random(seed)
    items = [f'"s{i}": {_spell(s, rng)}' for i, s in enumerate(strings)]
    text = "{" + ", ".join([*items, '"phone": [2127364521, 12, true, null]']) + "}"
    want = {f"s{i}": _redacted(s) for i, s in enumerate(strings)} | {"phone": ["[REDACTED:PHONE]", 12, True, None]}
    p = compiled()
    assert json.loads(p.redact_json(text, p.pii_out, "output", [])) == want
    full = whole(text)
    assert json.loads(full) == want
    assert "".join(streamed(text, cuts)) == full
    # The request check's one prefilter pass over all fields reads the decoded view: never misses what the
    # detectors find in the masked text.
    probe = "{" + ", ".join(items) + "}"
    assert pii.PREFILTER.hits(json_view(probe)) or not pii.find(JsonEscapes().mask(probe, final=True))


# ------------------------------------------------------------------------------------------ streams
STREAMED = [
    '{"to": "zorblax\\u0040example.com", "n": "\\u0034111 1111 1111 1111"}',
    json.dumps({"key": PEM, "cc": EMAIL}).replace("@", "\\u0040"),
    json.dumps({"key": PEM_NO_END}),
    json.dumps({"code": 'k = "' + PEM.replace("\n", "\\n") + '"'}),
    '{"m": "\\ud83d\\ude00zorblax\\u0040example.com \\ud83d", "s": "123\\u002d45-6789"}',
]


@pytest.mark.parametrize("text", STREAMED)
def test_stream_split_anywhere_equals_the_whole_text(text: str) -> None:
    """Two fragments split at every position (inside `\\uXXXX`, between `\\` and `n`), and one character at a
    time: the client gets exactly what redacting the whole text gives."""
    want = whole(text)
    assert not leaked(want)
    json.loads(want)
    for i in range(1, len(text)):
        assert "".join(streamed(text[:i] + text[i:], [i, len(text)])) == want, i
    assert "".join(streamed(text, [1])) == want
    assert "".join(streamed(text, [2, 3, 5, 7])) == want


def _args_chunks(args: str, cuts: list[int]) -> list[dict[str, Any]]:
    chunks = [_chunk(role="assistant", content=None, tool_calls=_tool_delta(0, "", id="c0", type="function"))]
    pos = i = 0
    while pos < len(args):
        n = cuts[i % len(cuts)]
        chunks.append(_chunk(tool_calls=_tool_delta(0, args[pos : pos + n])))
        pos += n
        i += 1
    return [*chunks, _chunk(finish="tool_calls")]


@pytest.mark.parametrize("text", STREAMED[:3])
def test_streamed_tool_call_arguments_chunk_by_chunk(text: str) -> None:
    """Through the stream filter, one upstream chunk per read: no chunk carries any of the personal data."""
    want = whole(text)
    for cuts in ([1], [2], [3, 1, 4], [6], [11]):
        ctx = RequestRecord("r", "/v1/chat/completions", 0.0)
        holds: dict[Any, Any] = {}
        payloads = []
        for ch in _args_chunks(text, cuts):
            out = filter_chunk(ch, holds, compiled(), ctx, "content", False)
            if out is not None:
                assert not leaked(out), out
                payloads.append(out)
        texts, _ = _collect(payloads)
        assert texts[0, 0] == want, cuts


async def test_streamed_tool_call_arguments_end_to_end() -> None:
    text = STREAMED[1]
    up = Scripted(writes=[*(_ev(c) for c in _args_chunks(text, [5])), b"data: [DONE]\n\n"])
    r = await _post(up, chat("hi", stream=True))
    assert r.status_code == 200, r.text
    assert not leaked(r.text)
    texts, _ = _collect([r.content])
    assert json.loads(texts[0, 0]) == {"key": "[REDACTED:SECRET]", "cc": "[REDACTED:EMAIL]"}


# ------------------------------------------------------------------------------------------ requests, responses
REQUEST_ARGS = [
    ('{"to": "zorblax\\u0040example.com"}', {"to": "[REDACTED:EMAIL]"}),
    ('{"card": "\\u0034111 1111 1111 1111", "n": 1}', {"card": "[REDACTED:CREDIT_CARD]", "n": 1}),
    ('{"ssn": "123-4\\u0035-6789"}', {"ssn": "[REDACTED:US_SSN]"}),
    (json.dumps({"key": PEM, "x": "ok"}), {"key": "[REDACTED:SECRET]", "x": "ok"}),
]


@pytest.mark.parametrize(("args", "want"), REQUEST_ARGS)
async def test_request_tool_call_arguments_are_redacted(
    client: httpx.AsyncClient, fake: Any, args: str, want: dict[str, Any]
) -> None:
    body = chat("hi")
    body["messages"] += [
        {"role": "assistant", "content": None, "tool_calls": [_call(args)]},
        {"role": "assistant", "function_call": {"name": "f", "arguments": args}},
    ]
    r = await client.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    sent = fake.received[-1][1]
    assert not leaked(sent)
    msgs = json.loads(sent)["messages"]
    assert json.loads(msgs[1]["tool_calls"][0]["function"]["arguments"]) == want
    assert json.loads(msgs[2]["function_call"]["arguments"]) == want


# (the key's header escaped: `\u002d----BEGIN`)
@pytest.mark.parametrize(
    ("args", "kind"),
    [(REQUEST_ARGS[0][0], "email"), (json.dumps({"key": PEM}).replace('"-', '"\\u002d'), "secret")],
)
async def test_request_tool_call_arguments_denied(make_client: Any, fake: Any, args: str, kind: str) -> None:
    text = re.sub(rf"(input:\s*\{{[^}}]*\b{kind}): redact", r"\1: deny", policy_text())
    assert f"{kind}: deny" in text
    c = make_client(text)
    body = chat("hi")
    body["messages"].append({"role": "assistant", "content": None, "tool_calls": [_call(args)]})
    r = await c.post("/v1/chat/completions", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "content_policy_violation" and f"({kind})" in r.json()["error"]["message"]
    assert not fake.received


async def test_response_tool_call_arguments_are_redacted() -> None:
    calls = [_call(args, i) for i, (args, _) in enumerate(REQUEST_ARGS)]
    message = {"role": "assistant", "content": None, "tool_calls": calls}
    message["function_call"] = {"name": "f", "arguments": REQUEST_ARGS[0][0]}
    up = Scripted(unary={"id": "x", "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]})
    r = await _post(up, chat("hi"))
    assert r.status_code == 200, r.text
    assert not leaked(r.text)
    m = r.json()["choices"][0]["message"]
    assert [json.loads(c["function"]["arguments"]) for c in m["tool_calls"]] == [w for _, w in REQUEST_ARGS]
    assert json.loads(m["function_call"]["arguments"]) == REQUEST_ARGS[0][1]


# ------------------------------------------------------------------------------------------ the masking's invariant
OPAQUE, DELIM, LF, BACKSLASH = "\ue07f", "\ue020", "\ue00a", "\ue05c"  # pii.JSON_OPAQUE, JSON_DELIM, …
_TEXT = st.lists(
    st.sampled_from(
        [
            EMAIL,
            PEM,
            PEM_NO_END,
            PGP,
            "4111 1111 1111 1111",
            "+1 415 555 0100",
            "2001:db8::1",
            " ",
            "\n",
            "x",
            "Comment: a",
            "-----",
            OPAQUE,
            DELIM,
            LF,
            BACKSLASH + "n",
            "AAAA==",
        ]
    ),
    max_size=12,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_no_finding_contains_an_opaque_mark_or_a_string_delimiter(text: str) -> None:
    """Saved escapes are restored in order: that holds because no pattern matches their mark, and no finding
    leaves its JSON string because none matches its delimiter."""
    assert (OPAQUE, DELIM, LF, BACKSLASH) == (pii.JSON_OPAQUE, pii.JSON_DELIM, pii.JSON_LF, pii.JSON_BACKSLASH)
    for f in pii.find(text):
        assert OPAQUE not in text[f.start : f.end] and DELIM not in text[f.start : f.end]
