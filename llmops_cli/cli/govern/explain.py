"""`llmops govern explain`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmops_cli.cli.govern import _common as c
from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    data: c.DataOpt = None,
    attributions: Annotated[
        Path | None,
        typer.Option("--attributions", metavar="FILE", help="Per-row SHAP/LIME attributions (.csv or .parquet)."),
    ] = None,
    model_file: Annotated[
        Path | None,
        typer.Option(
            "--model-file", metavar="FILE", help="Model to explain: scikit-learn .pkl/.joblib (trusted) or .onnx."
        ),
    ] = None,
    feature: Annotated[
        list[str] | None, typer.Option("--feature", metavar="COL", help="Model input column (repeatable).")
    ] = None,
    sensitive: c.SensitiveOpt = None,
    label: c.LabelOpt = None,
    prediction: c.PredictionOpt = None,
    project: c.ProjectOpt = None,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Report global feature importances and the share carried by sensitive attributes and their proxies.

    Examples:

    \b
      llmops govern explain --data scored.csv --attributions shap_values.csv --sensitive sex
      llmops govern explain --data scored.csv --model-file model.onnx --sensitive sex -o json
    """
    from llmops_cli.cli.govern._present import emit_stage
    from llmops_cli.govern.api import explain

    session = get_session(ctx)
    session.start("govern explain", output)
    inputs, _ = c.resolve_inputs(
        session,
        project,
        data=data,
        attributions=attributions,
        model_file=model_file,
        features=feature,
        sensitive=sensitive,
        label=label,
        prediction=prediction,
    )
    result = explain(inputs)
    emit_stage(session, result, result.artefacts.get("explain.md"))
