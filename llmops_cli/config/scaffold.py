"""`llmops init`: turn a few answers into a commented llmops.yaml and starter policies.

Pure rendering plus one writer; the prompts live in the CLI. Nothing is overwritten without ``force`` and
every file is written atomically, so an interrupted init leaves what the user had untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from llmops_cli.errors import ConfigError, UsageError
from llmops_cli.fsutil import atomic_write

CONFIG_NAME = "llmops.yaml"
PROD_LIKE = {"prod", "production", "staging", "stage", "preprod", "uat"}

HEADER = """\
# llmops.yaml, written by `llmops init`.
# Every key is optional: what is not here takes its default. See every value and where it comes from with
# `llmops config show --sources`; get the JSON Schema for editor completion with `llmops config schema`.
# Env overrides: LLMOPS_<SECTION>__<KEY>=value (e.g. LLMOPS_GPU__MODE=off); flags win over both.
"""


@dataclass(frozen=True)
class InitAnswers:
    model: str = "Qwen/Qwen2.5-0.5B-Instruct"
    gpu: Literal["auto", "on", "off"] = "auto"
    gitops_repo: str | None = None  # None = local in-cluster Git
    environments: tuple[str, ...] = ("dev", "prod")
    cluster_name: str = "llmops"
    extra: dict[str, object] = field(default_factory=dict)


def config_data(answers: InitAnswers) -> dict[str, object]:
    envs: dict[str, object] = {}
    for name in answers.environments:
        prod = name in PROD_LIKE
        env: dict[str, object] = {"profile": "prod" if prod else "dev"}
        if prod:
            env["requires_evidence"] = True
        envs[name] = env
    gitops: dict[str, object] = {"branch": "main", "path": "manifests"}
    if answers.gitops_repo:
        gitops = {"repo_url": answers.gitops_repo, **gitops}
    return {
        "version": 1,
        "cluster": {"name": answers.cluster_name},
        "gpu": {"mode": answers.gpu},
        "gitops": gitops,
        "environments": envs,
        "stacks": {"vllm": {"model": answers.model}},
        "governance": {"policies_dir": "policies", "evidence_dir": "evidence"},
    }


# Which init flag sets which config path, so a validation error names the flag to fix.
FLAG_FOR_PATH = {
    "stacks.vllm.model": "--model",
    "gpu.mode": "--gpu",
    "gitops.repo_url": "--gitops-repo",
    "environments": "--env",
    "cluster.name": "--cluster-name",
}


def render_config(answers: InitAnswers) -> str:
    """The llmops.yaml text; validated against Settings before anything is written."""
    import yaml
    from pydantic import ValidationError

    from llmops_cli.config.model import Settings

    data = config_data(answers)
    try:
        Settings.model_validate(data)
    except ValidationError as e:
        from llmops_cli.config.load import describe_error

        err = e.errors(include_url=False)[0]
        loc = tuple(str(p) for p in err["loc"])
        dotted = ".".join(loc)
        flag = next((f for p, f in FLAG_FOR_PATH.items() if dotted.startswith(p)), None)
        raise ConfigError(
            describe_error(err, loc), path=flag or dotted, hint=f"it sets {dotted} in llmops.yaml" if flag else None
        ) from e
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return HEADER + body


def check_target(directory: Path, *, force: bool = False) -> None:
    """Refuse, before anything is asked or written, a directory init must not write: one that already has an
    llmops.yaml (unless ``force``), or a checkout of llmops itself, whose ``policies/`` are the ones that ship in
    the wheel (a key created there would ship too)."""
    from llmops_cli.resources import is_source_checkout

    if is_source_checkout(directory.resolve()):
        raise UsageError(
            f"{directory} is a checkout of llmops itself: its policies/ ship with llmops, so a project there would "
            "edit them; nothing was written",
            hint="create your project in its own directory: `llmops init --dir ~/my-platform`",
        )
    target = directory / CONFIG_NAME
    if target.exists() and not force:
        raise UsageError(f"{target} already exists; nothing was written", hint="pass --force to overwrite it")


@dataclass(frozen=True)
class InitResult:
    written: list[str]
    skipped: list[str]


def write_project(directory: Path, answers: InitAnswers, *, force: bool = False) -> InitResult:
    """Write llmops.yaml and starter policies into ``directory``.

    Refuses (exit 2, nothing written) when llmops.yaml exists and ``force`` is false. Existing policy files are
    kept unless ``force``.
    """
    from llmops_cli.resources import policies_dir

    check_target(directory, force=force)
    target = directory / CONFIG_NAME
    text = render_config(answers)
    written: list[str] = []
    skipped: list[str] = []
    atomic_write(target, text)
    written.append(str(target))
    src = policies_dir()
    for f in sorted(src.rglob("*")):
        if not f.is_file() or f.name.startswith("."):
            continue
        dest = directory / "policies" / f.relative_to(src)
        if dest.exists() and not force:
            skipped.append(str(dest))
            continue
        atomic_write(dest, f.read_bytes())
        written.append(str(dest))
    return InitResult(written=written, skipped=skipped)
