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


# ----------------------------------------------------------------------------------------- llm-eval
_ENDPOINT_HELP = "OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1."
_MODEL_HELP = "Model name sent with each request."
_KEY_HELP = "Env var holding the endpoint's API key (its name, not the key)."
_SUITE_HELP = "Suite YAML (repeatable; default: llmops' suite policies/llm_eval.yaml)."
# `govern llm-eval` spells them as the command line does; `govern check`, whose --model is the model
# metadata file, prefixes them with --llm-.
LlmEndpointOpt = Annotated[str | None, typer.Option("--endpoint", metavar="URL", help=_ENDPOINT_HELP)]
LlmModelOpt = Annotated[str | None, typer.Option("--model", metavar="NAME", help=_MODEL_HELP)]
LlmKeyEnvOpt = Annotated[str | None, typer.Option("--api-key-env", metavar="NAME", help=_KEY_HELP)]
LlmSuiteOpt = Annotated[list[Path] | None, typer.Option("--suite", metavar="FILE", help=_SUITE_HELP)]
CheckLlmEndpointOpt = Annotated[str | None, typer.Option("--llm-endpoint", metavar="URL", help=_ENDPOINT_HELP)]
CheckLlmModelOpt = Annotated[str | None, typer.Option("--llm-model", metavar="NAME", help=_MODEL_HELP)]
CheckLlmKeyEnvOpt = Annotated[str | None, typer.Option("--llm-api-key-env", metavar="NAME", help=_KEY_HELP)]
CheckLlmSuiteOpt = Annotated[list[Path] | None, typer.Option("--llm-suite", metavar="FILE", help=_SUITE_HELP)]
LlmConcurrencyOpt = Annotated[
    int | None,
    typer.Option("--concurrency", min=1, max=256, metavar="N", help="Requests in flight at once (default 4)."),
]
LlmMaxTokensOpt = Annotated[
    int | None,
    typer.Option("--max-tokens", min=1, metavar="N", help="Override the suites' max_tokens per answer."),
]
JudgeEndpointOpt = Annotated[
    str | None,
    typer.Option("--judge-endpoint", metavar="URL", help="A judge model's OpenAI-compatible base URL (optional)."),
]
JudgeModelOpt = Annotated[str | None, typer.Option("--judge-model", metavar="NAME", help="The judge's model name.")]
JudgeKindOpt = Annotated[
    str | None,
    typer.Option("--judge-kind", metavar="chat|classify", help="chat: a rubric prompt; classify: vLLM's /classify."),
]
JudgeKeyEnvOpt = Annotated[
    str | None, typer.Option("--judge-api-key-env", metavar="NAME", help="Env var holding the judge's API key.")
]
GroundingDsnEnvOpt = Annotated[
    str | None,
    typer.Option(
        "--grounding-dsn-env",
        metavar="NAME",
        help="Env var holding a PostgreSQL URI with pgvector: runs the grounding probes.",
    ),
]
LlmSeedOpt = Annotated[
    int | None,
    typer.Option("--seed", metavar="S", min=0, help="Sampling seed sent with each request (default: governance.seed)."),
]
