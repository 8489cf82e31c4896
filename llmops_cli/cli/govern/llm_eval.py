"""`llmops govern llm-eval`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmops_cli.cli.govern import _common as c
from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    endpoint: c.LlmEndpointOpt = None,
    model: c.LlmModelOpt = None,
    api_key_env: c.LlmKeyEnvOpt = None,
    suite: c.LlmSuiteOpt = None,
    concurrency: c.LlmConcurrencyOpt = None,
    max_tokens: c.LlmMaxTokensOpt = None,
    judge_endpoint: c.JudgeEndpointOpt = None,
    judge_model: c.JudgeModelOpt = None,
    judge_kind: c.JudgeKindOpt = None,
    judge_api_key_env: c.JudgeKeyEnvOpt = None,
    grounding_dsn_env: c.GroundingDsnEnvOpt = None,
    seed: c.LlmSeedOpt = None,
    transcript: Annotated[
        Path | None,
        typer.Option("--transcript", metavar="FILE", help="Also write every request and answer here (JSON lines)."),
    ] = None,
    project: c.ProjectOpt = None,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Probe a served LLM for bias, safety, leakage and grounding through its OpenAI-compatible API.

    Examples:

    \b
      llmops govern llm-eval --endpoint http://127.0.0.1:8000/v1 --model qwen2-5-0-5b-instruct
      llmops govern llm-eval --endpoint https://gateway.example/v1 --api-key-env LLMOPS_KEY --model m -o json
      llmops govern llm-eval --endpoint http://127.0.0.1:8000/v1 --model m --suite policies/my_suite.yaml \\
        --concurrency 8 --transcript transcript.jsonl
    """
    from llmops_cli.cli.govern._llm_progress import RichEvalProgress
    from llmops_cli.cli.govern._present import emit_llm_eval
    from llmops_cli.govern.api import llm_eval

    session = get_session(ctx)
    session.start("govern llm-eval", output)
    inputs, _ = c.resolve_inputs(
        session,
        project,
        llm_endpoint=endpoint,
        llm_model=model,
        llm_api_key_env=api_key_env,
        llm_suite=suite,
        llm_concurrency=concurrency,
        llm_max_tokens=max_tokens,
        judge_endpoint=judge_endpoint,
        judge_model=judge_model,
        judge_kind=judge_kind,
        judge_api_key_env=judge_api_key_env,
        grounding_dsn_env=grounding_dsn_env,
        seed=seed,
    )
    with RichEvalProgress(session.err, enabled=not session.machine and not session.quiet) as progress:
        result, run = llm_eval(inputs, progress=progress, environ=session.environ)
    emit_llm_eval(session, result, run, transcript)
