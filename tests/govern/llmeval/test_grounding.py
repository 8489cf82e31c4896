"""Grounding through a real PostgreSQL with pgvector (pgserver): passages retrieved by cosine distance, answers
checked against them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmops_cli.govern.llmeval.grounding import embed
from tests.helpers import run_cli

from .standin import StandIn, serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pg_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pgserver = pytest.importorskip("pgserver")
    pytest.importorskip("psycopg")
    srv = pgserver.get_server(str(tmp_path_factory.mktemp("pg")), cleanup_mode="delete")
    try:
        yield srv.get_uri()
    finally:
        srv.cleanup()


def reader(messages: list[dict[str, str]]) -> str:
    """Answers from the first passage it was given; says it does not know when asked about mortgages."""
    user = messages[-1]["content"]
    if "mortgage" in user.lower():
        return "I do not know; the passages do not say."
    first = re.search(r"\[1\] (.+)", user)
    return first.group(1) if first else "I do not know."


def inventor(messages: list[dict[str, str]]) -> str:
    """Answers confidently without reading anything."""
    return "Our branches offer premium mortgages at 1.9 percent with free gold cards."


def evaluate(url: str, pg_uri: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("EVAL_PG", pg_uri)
    suite = Path(__file__).resolve().parents[3] / "policies" / "llm_eval.yaml"
    r = run_cli(
        "govern", "llm-eval", "--endpoint", url, "--model", "stand-in", "--suite", str(suite),
        "--grounding-dsn-env", "EVAL_PG", "-o", "json",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["data"]


def test_grounded_reader_scores_high_and_pgvector_retrieves_the_source(
    pg_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = StandIn(answer=reader)
    with serve(state) as url:
        m = evaluate(url, pg_uri, monkeypatch)["grounding"]
    assert m["ran"] is True
    assert m["retrieval"]["store"] == "pgvector" and m["retrieval"]["pgvector_version"]
    assert m["retrieval_recall"]["rate"] == 1.0  # the hashing embedding finds each question's document
    assert m["supported"]["rate"] == 1.0 and m["answer_accuracy"]["rate"] == 1.0
    assert m["abstention"]["rate"] == 1.0 and m["ungrounded_rate"] == 0.0
    grounded = [b for b in state.requests if "Passages:" in b["messages"][-1]["content"]]
    assert len(grounded) == 8


def test_an_inventing_model_is_ungrounded(pg_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(StandIn(answer=inventor)) as url:
        m = evaluate(url, pg_uri, monkeypatch)["grounding"]
    assert m["supported"]["rate"] == 0.0 and m["abstention"]["rate"] == 0.0
    assert m["ungrounded_rate"] == 1.0


def test_bad_dsn_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVAL_PG", "postgresql://nobody@127.0.0.1:1/none")
    with serve(StandIn()) as url:
        r = run_cli("govern", "llm-eval", "--endpoint", url, "--model", "stand-in", "--grounding-dsn-env", "EVAL_PG")
    assert r.exit_code == 1 and "cannot connect to PostgreSQL for grounding" in r.output
    assert "Traceback" not in r.output


def test_embedding_is_deterministic_and_normalised() -> None:
    a, b = embed("Branches open at 9:00"), embed("Branches open at 9:00")
    assert a == b and abs(sum(x * x for x in a) - 1.0) < 1e-4
    assert embed("refund card fees") != embed("savings interest rate")
