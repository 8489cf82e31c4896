"""`llmops govern bias-scan`."""

from __future__ import annotations

import typer

from llmops_cli.cli.govern import _common as c
from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    data: c.DataOpt = None,
    label: c.LabelOpt = None,
    prediction: c.PredictionOpt = None,
    score: c.ScoreOpt = None,
    sensitive: c.SensitiveOpt = None,
    privileged: c.PrivilegedOpt = None,
    positive: c.PositiveOpt = None,
    min_group_size: c.MinGroupOpt = None,
    bootstrap: c.BootstrapOpt = None,
    seed: c.SeedOpt = None,
    project: c.ProjectOpt = None,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Compute per-group rates and fairness metrics with 95% confidence intervals.

    Examples:

    \b
      llmops govern bias-scan --data scored.csv --label y --prediction y_hat --sensitive sex --sensitive race
      llmops govern bias-scan --data scored.parquet --label income --positive '>50K' --prediction pred \\
          --sensitive sex --privileged sex=Male -o json
    """
    from llmops_cli.cli.govern._present import emit_stage
    from llmops_cli.govern.api import bias_scan

    session = get_session(ctx)
    session.start("govern bias-scan", output)
    inputs, _ = c.resolve_inputs(
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
        bootstrap=bootstrap,
        seed=seed,
    )
    result = bias_scan(inputs)
    emit_stage(session, result, result.artefacts.get("bias.md"))
