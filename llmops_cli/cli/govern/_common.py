"""Options shared by the `llmops govern` commands and the flag → GovernInputs wiring."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmops_cli.cli.session import Session

if TYPE_CHECKING:
    from llmops_cli.config.model import Settings
    from llmops_cli.govern.api import GovernInputs

ProjectOpt = Annotated[
    Path | None,
    typer.Option(
        "--project",
        metavar="DIR",
        help="Project folder holding llmops.yaml (default: --config / ./llmops.yaml).",
    ),
]
DataOpt = Annotated[Path | None, typer.Option("--data", metavar="FILE", help="Dataset: .csv, .parquet or .jsonl.")]
LabelOpt = Annotated[str | None, typer.Option("--label", metavar="COL", help="Column with the true label.")]
PredictionOpt = Annotated[
    str | None, typer.Option("--prediction", metavar="COL", help="Column with the model's prediction.")
]
ScoreOpt = Annotated[
    str | None, typer.Option("--score", metavar="COL", help="Column with the model's score (optional).")
]
SensitiveOpt = Annotated[
    list[str] | None,
    typer.Option("--sensitive", metavar="COL", help="Sensitive attribute column (repeatable)."),
]
PrivilegedOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--privileged", metavar="COL=VALUE", help="Privileged group for AIF360's signed metrics (repeatable)."
    ),
]
PositiveOpt = Annotated[
    str | None,
    typer.Option("--positive", metavar="VALUE", help="Positive label value when labels are not 0/1."),
]
MinGroupOpt = Annotated[
    int | None,
    typer.Option("--min-group-size", metavar="N", min=1, help="Smaller groups are reported as insufficient."),
]
BootstrapOpt = Annotated[
    int | None,
    typer.Option("--bootstrap", metavar="N", min=0, help="Deprecated, ignored: intervals are always given."),
]
SeedOpt = Annotated[int | None, typer.Option("--seed", metavar="S", min=0, help="Deprecated, ignored.")]
ModelOpt = Annotated[Path | None, typer.Option("--model", metavar="FILE", help="Model metadata YAML.")]
RegisterOpt = Annotated[Path | None, typer.Option("--register", metavar="FILE", help="Risk register YAML.")]
AiActOpt = Annotated[
    Path | None, typer.Option("--ai-act", metavar="FILE", help="EU AI Act classification answers YAML.")
]
DataCardOpt = Annotated[
    Path | None,
    typer.Option("--data-card", metavar="FILE", help="Dataset metadata YAML (provenance, schema)."),
]
PoliciesOpt = Annotated[
    Path | None,
    typer.Option("--policies", metavar="PATH", help="Policy file, or a folder holding governance.yaml."),
]


def resolve_inputs(session: Session, project: Path | None, **flags: Any) -> tuple[GovernInputs, Settings]:
    """Settings from the project's llmops.yaml (or the session's config) with the flags as overrides: one route,
    so flags, env vars and the file are validated together and `config show --sources` can name each."""
    from llmops_cli.config.load import load_settings
    from llmops_cli.errors import InputError
    from llmops_cli.govern.api import governance_flags, inputs_from

    overrides = governance_flags(**flags)
    if project is not None:
        if not project.is_dir():
            raise InputError(f"{project}: project folder not found", hint="pass the folder holding llmops.yaml")
        cfg = project / "llmops.yaml"
        file = cfg if cfg.is_file() else None
        loaded = load_settings(file, environ=session.environ, flags=overrides, explicit=False)
        base = project
    else:
        loaded = session.loaded(**overrides)
        base = loaded.base_dir
    return inputs_from(loaded.settings, base, config_file=loaded.file), loaded.settings
