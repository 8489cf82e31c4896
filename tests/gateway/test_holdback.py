from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from llmops_cli.gateway.policy.engine import Decision
from llmops_cli.gateway.stream import HoldBack

from .conftest import compiled

SECRETS = [
    "jane.doe@example.com",
    "4111 1111 1111 1111",
    "DE89 3704 0044 0532 0130 00",
    "123-45-6789",
    "+1 415 555 0100",
    "sk-proj-abcdefghijklmnopqrstuvwxyz0123",
]


def run(text: str, cuts: list[int]) -> tuple[list[str], list[Decision]]:
    decisions: list[Decision] = []
    hb = HoldBack(compiled(), decisions)
    out: list[str] = []
    pos = 0
    i = 0
    while pos < len(text):
        n = cuts[i % len(cuts)]
        out.append(hb.push(text[pos : pos + n]))
        pos += n
        i += 1
    out.append(hb.flush())
    return out, decisions


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(SECRETS),
    st.text(alphabet="abc xyz.,", max_size=120),
    st.text(alphabet="abc xyz.,", max_size=120),
    st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=30),
)
def test_split_personal_data_never_leaves(secret: str, before: str, after: str, cuts: list[int]) -> None:
    text = f"{before} {secret} {after}"
    out, decisions = run(text, cuts)
    sent = "".join(out)
    # No prefix of the sent stream contains the secret, and every byte of it is gone.
    assert secret not in sent
    assert "[REDACTED:" in sent
    assert any(d.rule.startswith("pii.output.") for d in decisions)
    # The non-personal text survives in order.
    assert sent.startswith(before.split(" ")[0]) or not before


def test_window_bounds_buffer_and_releases_clean_text() -> None:
    out, _ = run("a" * 500, [7])
    assert "".join(out) == "a" * 500
    assert all(len(o) <= 64 + 7 for o in out)
    assert out[-1] == "a" * len(out[-1]) and len(out[-1]) <= 64


def test_no_output_rules_means_no_holdback() -> None:
    text = "\n".join(
        [
            "version: 1",
            "auth: {required: false}",
            "content:",
            "  pii:",
            "    output: "
            "{email: off, phone: off, credit_card: off, iban: off, us_ssn: off, ip_address: off,"
            " secret: off}",
        ]
    )
    hb = HoldBack(compiled(text), [])
    assert hb.push("a@b.io") == "a@b.io"
