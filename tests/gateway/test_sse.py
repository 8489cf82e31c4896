from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from llmops_cli.gateway.sse import DONE, SSEParser, encode, encode_json


def test_parses_spec_details() -> None:
    p = SSEParser()
    events = p.feed(b": comment\r\nevent: x\r\nid: 7\r\ndata: a\r\ndata:b\r\n\r\ndata: c\n\n")
    assert [(e.event, e.id, e.data) for e in events] == [("x", "7", "a\nb"), ("message", None, "c")]


def test_incomplete_event_waits_for_blank_line() -> None:
    p = SSEParser()
    assert p.feed(b'data: {"a":') == []
    assert p.feed(b"1}\n") == []
    assert [e.data for e in p.feed(b"\n")] == ['{"a":1}']
    assert p.feed(b"data: tail") == []
    assert [e.data for e in p.close()] == ["tail"]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.text(
            alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=30
        ),
        max_size=8,
    ),
    st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=20),
)
def test_events_independent_of_network_splits(payloads: list[str], cuts: list[int]) -> None:
    blob = b"".join(encode(p) for p in payloads) + DONE
    p = SSEParser()
    got = []
    pos = 0
    i = 0
    while pos < len(blob):
        n = cuts[i % len(cuts)]
        got += [e.data for e in p.feed(blob[pos : pos + n])]
        pos += n
        i += 1
    assert got == [*payloads, "[DONE]"]


def test_encode_json() -> None:
    assert encode_json({"a": 1}) == b'data: {"a":1}\n\n'
