"""`llmops govern check`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmops_cli.cli.govern import _common as c
from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    project: c.ProjectOpt = None,
    evidence_dir: Annotated[
        Path | None,
        typer.Option("--evidence-dir", metavar="DIR", help="Where bundles go (default: governance.evidence_dir)."),
    ] = None,
    junit: Annotated[Path | None, typer.Option("--junit", metavar="FILE", help="Also write JUnit XML here.")] = None,
    fail_on: Annotated[
        str | None,
        typer.Option("--fail-on", metavar="error|warning", help="Lowest severity that fails (default: error)."),
    ] = None,
    data: c.DataOpt = None,
    label: c.LabelOpt = None,
    prediction: c.PredictionOpt = None,
    score: c.ScoreOpt = None,
    sensitive: c.SensitiveOpt = None,
    privileged: c.PrivilegedOpt = None,
    positive: c.PositiveOpt = None,
    min_group_size: c.MinGroupOpt = None,
    data_card: c.DataCardOpt = None,
    model: c.ModelOpt = None,
    register: c.RegisterOpt = None,
    ai_act: c.AiActOpt = None,
    policies: c.PoliciesOpt = None,
    bootstrap: c.BootstrapOpt = None,
    seed: c.SeedOpt = None,
    sign_key: Annotated[
        Path | None,
        typer.Option("--sign-key", metavar="FILE", help="Sign the bundle with this PEM private key."),
    ] = None,
    sign: Annotated[
        str | None,
        typer.Option(
            "--sign",
            metavar="auto|key|sigstore|none",
            help="How to sign (default: governance.signing.mode, auto: key, else Sigstore in CI, else none).",
        ),
    ] = None,
    llm_endpoint: c.CheckLlmEndpointOpt = None,
    llm_model: c.CheckLlmModelOpt = None,
    llm_api_key_env: c.CheckLlmKeyEnvOpt = None,
    llm_suite: c.CheckLlmSuiteOpt = None,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Judge the model against the governance policies and write a signed, hashed evidence bundle.

    Examples:

    \b
      llmops govern check
      llmops govern check --project examples --evidence-dir /tmp/evidence --junit governance.xml
      llmops govern check --data scored.csv --label y --prediction y_hat --sensitive sex --policies bias.yaml
      llmops govern check --sign-key governance/signing.key --fail-on warning -o json
      llmops govern check --project examples --llm-endpoint http://127.0.0.1:8080/v1 --llm-model smollm2
    """
    from llmops_cli.cli.govern._llm_progress import RichEvalProgress
    from llmops_cli.cli.govern._present import check_outcome
    from llmops_cli.errors import UsageError
    from llmops_cli.govern.api import run_check, signer_from_settings

    session = get_session(ctx)
    session.start("govern check", output)
    if fail_on not in (None, "error", "warning"):
        raise UsageError(f"--fail-on {fail_on!r}: expected 'error' or 'warning'")
    if sign not in (None, "auto", "key", "sigstore", "none"):
        raise UsageError(f"--sign {sign!r}: expected auto, key, sigstore or none")
    inputs, settings = c.resolve_inputs(
        session,
        project,
        data=data,
        label=label,
        prediction=prediction,
        score=score,
        sensitive=sensitive,
        privileged=privileged,
        positive=positive,
        min_group_size=min_group_size,
        data_card=data_card,
        model=model,
        risk_register=register,
        ai_act=ai_act,
        policies=policies,
        bootstrap=bootstrap,
        seed=seed,
        fail_on=fail_on,
        sign_key=sign_key,
        sign=sign,
        llm_endpoint=llm_endpoint,
        llm_model=llm_model,
        llm_api_key_env=llm_api_key_env,
        llm_suite=llm_suite,
    )
    gov = settings.governance
    evidence = evidence_dir or inputs.project_dir / gov.evidence_dir
    with RichEvalProgress(session.err, enabled=not session.machine and not session.quiet) as progress:
        report = run_check(
            inputs,
            evidence_dir=evidence,
            fail_on=gov.fail_on,
            environ=session.environ,
            reporter=None if session.machine else session.reporter(),
            signer=signer_from_settings(gov, inputs.project_dir, session.environ),
            progress=progress,
        )
    check_outcome(session, report, junit)
