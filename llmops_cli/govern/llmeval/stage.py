"""The llm_eval governance stage: suites in, metrics and a transcript out, for `govern llm-eval` and
`govern check` alike (govern.registry wraps the result as a StageResult; this package does not import the
stages package, whose risk stage reads the failure-rate names defined here)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from llmops_cli.errors import InputError
from llmops_cli.govern.llmeval.run import EvalOptions, EvalRun, Progress, evaluate, load_suites
from llmops_cli.govern.llmeval.score import METRICS_SCHEMA

TRANSCRIPT = "llm_eval_transcript.jsonl"
REPORT = "llm_eval.md"

__all__ = ["METRICS_SCHEMA", "REPORT", "TRANSCRIPT", "run_llm_eval", "transcript_jsonl"]


def transcript_jsonl(transcript: Sequence[Mapping[str, Any]]) -> str:
    """One JSON object per request, keys sorted: identical runs give identical bytes (content-addressed)."""
    return "".join(json.dumps(e, sort_keys=True, ensure_ascii=False) + "\n" for e in transcript)


def run_llm_eval(
    options: EvalOptions,
    suites: Sequence[Path],
    *,
    display: Mapping[Path, str] | None = None,
    progress: Progress | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], dict[str, str], EvalRun]:
    """(metrics, artefacts, the run with its timings)."""
    env = os.environ if environ is None else environ
    loaded = load_suites(suites, display)
    questions = [q for s in loaded for q in s.questions]
    if options.grounding_dsn_env and questions:
        from llmops_cli.govern.llmeval.grounding import pgvector_retriever

        dsn = env.get(options.grounding_dsn_env)
        if not dsn:
            raise InputError(
                f"environment variable {options.grounding_dsn_env} (the pgvector database URI) is not set",
                hint="export it, or unset governance.llm_eval.grounding.dsn_env",
            )
        docs = [d for s in loaded for d in s.documents]
        ids = [d.id for d in docs]
        if len(ids) != len(set(ids)):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise InputError(f"document id {dup!r} appears in more than one suite", hint="rename one")
        with pgvector_retriever(dsn, docs) as (retrieve, info):
            run = evaluate(
                loaded,
                options,
                progress=progress,
                environ=env,
                retriever=retrieve,
                retrieval_info={**info, "top_k": options.grounding_top_k},
            )
    else:
        run = evaluate(loaded, options, progress=progress, environ=env)
    return run.metrics, {TRANSCRIPT: transcript_jsonl(run.transcript)}, run
