"""The rich progress of `govern llm-eval`: a bar per suite on a terminal, one summary line per suite in logs;
and the `govern check` flags of the llm_eval stage reach its settings."""

from __future__ import annotations

import io

from rich.console import Console

from llmops_cli.cli.govern._llm_progress import RichEvalProgress
from llmops_cli.govern.api import governance_flags


def drive(console: Console) -> str:
    with RichEvalProgress(console) as p:
        p.start("suite-a", 3)
        p.start("suite-b", 1)
        for failed in (False, True, False):
            p.advance("suite-a", failed)
        p.finish("suite-a")
        p.advance("suite-b", False)
        p.finish("suite-b")
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_terminal_gets_a_bar_per_suite_with_counts_failures_and_rate() -> None:
    out = drive(Console(file=io.StringIO(), force_terminal=True, width=120, no_color=True))
    assert "suite-a" in out and "suite-b" in out
    assert "3/3" in out and "1 failed" in out and "req/s" in out


def test_logs_get_one_line_per_suite() -> None:
    out = drive(Console(file=io.StringIO(), force_terminal=False, width=120))
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 2
    assert lines[0].startswith("  suite-a: 3/3 answers, 1 failed,") and "req/s" in lines[0]


def test_disabled_progress_prints_nothing() -> None:
    console = Console(file=io.StringIO(), force_terminal=True)
    with RichEvalProgress(console, enabled=False) as p:
        p.start("s", 1)
        p.advance("s", False)
        p.finish("s")
    assert console.file.getvalue() == ""  # type: ignore[attr-defined]


def test_check_flags_reach_the_llm_eval_settings() -> None:
    out = governance_flags(
        llm_endpoint="http://127.0.0.1:1/v1",
        llm_model="m",
        llm_api_key_env="KEY_VAR",
        llm_suite=["a.yaml"],
        llm_concurrency=3,
        judge_endpoint="http://127.0.0.1:2/v1",
        judge_model="j",
        judge_kind="classify",
        grounding_dsn_env="PG",
    )
    assert out["governance.llm_eval.endpoint"] == "http://127.0.0.1:1/v1"
    assert out["governance.llm_eval.model"] == "m"
    assert out["governance.llm_eval.api_key_env"] == "KEY_VAR"
    assert out["governance.llm_eval.suites"][0].endswith("/a.yaml") and out["governance.llm_eval.suites"][0].startswith(
        "/"
    )
    assert out["governance.llm_eval.concurrency"] == 3
    assert out["governance.llm_eval.judge.kind"] == "classify"
    assert out["governance.llm_eval.grounding.dsn_env"] == "PG"
