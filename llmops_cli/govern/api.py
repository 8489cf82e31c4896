"""The govern package's entry points: one function per `llmops govern` command.

Inputs come from `governance:` in llmops.yaml, overridden by flags; relative paths resolve against the
project folder (the folder of llmops.yaml).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from llmops_cli.errors import InputError
from llmops_cli.govern.stages import StageResult
from llmops_cli.reporting import NullReporter, Reporter, Status

if TYPE_CHECKING:
    import pandas as pd

    from llmops_cli.config.model import GovernanceSettings
    from llmops_cli.govern.policy import PolicySet, RuleResult

POLICY_FILE = "governance.yaml"
FailOn = Literal["error", "warning"]


@dataclass(frozen=True)
class GovernInputs:
    project_dir: Path
    data: Path | None = None
    label: str | None = None
    prediction: str | None = None
    score: str | None = None
    sensitive: tuple[str, ...] = ()
    privileged: Mapping[str, str] = field(default_factory=dict)
    positive: str | None = None
    model: Path | None = None
    risk_register: Path | None = None
    ai_act: Path | None = None
    data_card: Path | None = None
    attributions: Path | None = None
    model_file: Path | None = None
    features: tuple[str, ...] = ()
    policies: Path | None = None
    min_group_size: int = 30
    bootstrap: int = 0
    seed: int = 0
    waivers: tuple[Any, ...] = ()  # bias.Waiver

    def rel(self, path: Path) -> str:
        """A path as recorded in artefacts: project-relative when inside the project (stable across hosts)."""
        if _inside(path, self.project_dir):
            return Path(os.path.relpath(path.resolve(), self.project_dir.resolve())).as_posix()
        return str(path)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def parse_privileged(values: list[str] | tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        col, sep, value = v.partition("=")
        if not sep or not col:
            raise InputError(f"--privileged {v!r}: expected COLUMN=VALUE", hint="e.g. --privileged sex=Male")
        out[col] = value
    return out


def inputs_from_settings(gov: GovernanceSettings, project_dir: Path, **overrides: Any) -> GovernInputs:
    """Merge `governance:` settings with flag overrides (None = not given). Paths resolve against the project;
    paths given as flags are taken as the user typed them (relative to the current folder)."""
    i = gov.inputs

    def from_settings(value: str | None) -> Path | None:
        if value is None:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() else project_dir / p

    policies_dir = from_settings(gov.policies_dir)
    policies = policies_dir / POLICY_FILE if policies_dir else None
    if policies is not None and not policies.is_file() and gov.policies_dir == "policies":
        from llmops_cli.resources import policies_dir as packaged

        policies = packaged() / POLICY_FILE  # the defaults shipped with llmops
    base = GovernInputs(
        project_dir=project_dir,
        data=from_settings(i.data),
        label=i.label,
        prediction=i.prediction,
        score=i.score,
        sensitive=tuple(i.sensitive),
        privileged=dict(i.privileged),
        positive=i.positive,
        model=from_settings(i.model),
        risk_register=from_settings(i.risk_register),
        ai_act=from_settings(i.ai_act),
        data_card=from_settings(i.data_card),
        attributions=from_settings(i.attributions),
        model_file=from_settings(i.model_file),
        features=tuple(i.features),
        policies=policies,
        min_group_size=gov.min_group_size,
        bootstrap=gov.bootstrap,
        seed=gov.seed,
        waivers=_waivers(gov),
    )
    given: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None or value == () or value == [] or value == {}:
            continue
        if key in ("sensitive", "features"):
            value = tuple(value)
        elif key == "privileged":
            value = parse_privileged(value) if isinstance(value, (list, tuple)) else dict(value)
        elif key in ("data", "model", "risk_register", "ai_act", "data_card", "policies", "attributions", "model_file"):
            value = Path(value).expanduser()
            if key == "policies" and value.is_dir():
                value = value / POLICY_FILE
        given[key] = value
    if "sensitive" in given and "privileged" not in given:
        # privileged groups from llmops.yaml only apply to the attributes still scanned
        given["privileged"] = {k: v for k, v in base.privileged.items() if k in given["sensitive"]}
    return replace(base, **given)


def _waivers(gov: GovernanceSettings) -> tuple[Any, ...]:
    from llmops_cli.govern.stages.bias import Waiver

    return tuple(Waiver(w.attribute, w.group, w.reason) for w in gov.waivers)


def _need(value: Any, what: str, flag: str, setting: str) -> Any:
    if value in (None, (), ""):
        raise InputError(f"no {what} given", hint=f"pass {flag} or set governance.inputs.{setting} in llmops.yaml")
    return value


# ----------------------------------------------------------------------------------------- stages
def load_dataset(inputs: GovernInputs, columns: list[str] | None = None) -> pd.DataFrame:
    from llmops_cli.govern.io import read_table

    path = _need(inputs.data, "dataset", "--data", "data")
    return read_table(path, columns)


def _dataset_meta(inputs: GovernInputs) -> Any:
    from llmops_cli.govern.stages.data_card import DatasetMeta, load_dataset_meta

    return load_dataset_meta(inputs.data_card) if inputs.data_card else DatasetMeta()


def _bias_config(inputs: GovernInputs) -> Any:
    from llmops_cli.govern.stages.bias import BiasConfig

    return BiasConfig(
        label=_need(inputs.label, "label column", "--label", "label"),
        prediction=_need(inputs.prediction, "prediction column", "--prediction", "prediction"),
        sensitive=_need(inputs.sensitive, "sensitive attribute", "--sensitive", "sensitive"),
        privileged=dict(inputs.privileged),
        positive=inputs.positive,
        min_group_size=inputs.min_group_size,
        score=inputs.score,
        waivers=inputs.waivers,
    )


def with_report(result: StageResult) -> StageResult:
    """The stage's result with its Markdown report added (stages return metrics only; see ``govern.stages``)."""
    from llmops_cli.govern.reports import markdown

    renderers = {
        "data_quality": ("data_quality.md", markdown.data_quality_markdown),
        "data_card": ("data_card.md", markdown.data_card_markdown),
        "bias": ("bias.md", markdown.bias_markdown),
        "risk": ("risk_scorecard.md", markdown.risk_markdown),
        "explain": ("explain.md", markdown.explain_markdown),
    }
    file_name, render = renderers[result.name]
    return replace(result, artefacts={**result.artefacts, file_name: render(result.metrics)})


def data_quality(inputs: GovernInputs, df: pd.DataFrame | None = None) -> StageResult:
    from llmops_cli.govern.stages.data_quality import DataQualityConfig, run_data_quality

    meta = _dataset_meta(inputs)
    frame = df if df is not None else load_dataset(inputs)
    cfg = DataQualityConfig(label=inputs.label, positive=inputs.positive, schema=meta.schema)
    return with_report(run_data_quality(frame, cfg))


def data_card(inputs: GovernInputs, df: pd.DataFrame | None = None) -> StageResult:
    from llmops_cli.govern.io import sha256_file
    from llmops_cli.govern.stages.data_card import run_data_card

    meta = _dataset_meta(inputs)
    frame = df if df is not None else load_dataset(inputs)
    assert inputs.data is not None
    return with_report(
        run_data_card(
            frame,
            meta,
            data_file=inputs.rel(inputs.data),
            sha256=sha256_file(inputs.data),
            sensitive=inputs.sensitive,
        )
    )


def bias_scan(inputs: GovernInputs, df: pd.DataFrame | None = None) -> StageResult:
    from llmops_cli.govern.stages.bias import run_bias

    _need(inputs.data, "dataset", "--data", "data")
    cfg = _bias_config(inputs)
    cols = [cfg.label, cfg.prediction, *cfg.sensitive, *([cfg.score] if cfg.score else [])]
    frame = df if df is not None else load_dataset(inputs, cols)
    assert inputs.data is not None
    return with_report(run_bias(frame, cfg, source=str(inputs.data)))


def explain(inputs: GovernInputs, df: pd.DataFrame | None = None) -> StageResult:
    from llmops_cli.govern.stages.explain import ExplainConfig, run_explain

    frame = df if df is not None else (load_dataset(inputs) if inputs.data is not None else None)
    cfg = ExplainConfig(
        attributions=inputs.attributions,
        model_file=inputs.model_file,
        features=inputs.features,
        sensitive=inputs.sensitive,
        exclude=tuple(c for c in (inputs.label, inputs.prediction, inputs.score) if c),
        seed=inputs.seed,
    )
    return with_report(run_explain(frame, cfg, display=lambda p: display_path(inputs, p)))


def model_card(inputs: GovernInputs, required: tuple[str, ...] | None = None) -> tuple[StageResult, Any]:
    """Completeness metrics and the card (Markdown + JSON) without policy results."""
    from llmops_cli.govern.reports.jsonout import canonical_json
    from llmops_cli.govern.reports.markdown import model_card_markdown
    from llmops_cli.govern.stages.model_card import load_model_meta, model_card_document, run_model_card

    meta = load_model_meta(_need(inputs.model, "model metadata file", "--model", "model"))
    if required is None:
        required = _policies(inputs).model_card_required if inputs.policies else ()
    result = run_model_card(meta, required)
    doc = model_card_document(meta, result.metrics)
    arte = {"model_card.md": model_card_markdown(doc), "model_card.json": canonical_json(doc)}
    return StageResult("model_card", result.metrics, arte), meta


def risk_scorecard(inputs: GovernInputs) -> StageResult:
    from llmops_cli.govern.stages.risk import run_risk

    register = _need(inputs.risk_register, "risk register", "--register", "risk_register")
    return with_report(run_risk(register, inputs.ai_act))


def _policies(inputs: GovernInputs) -> PolicySet:
    from llmops_cli.govern.policy import load_policies

    path = _need(inputs.policies, "policy file", "--policies", "policies_dir")
    return load_policies(path, display_name=display_path(inputs, path))


def display_path(inputs: GovernInputs, path: Path) -> str:
    """Name of an input in artefacts: project-relative, ``llmops:…`` for packaged defaults, else as given."""
    if not _inside(path, inputs.project_dir):
        from llmops_cli.resources import policies_dir

        packaged = policies_dir()
        if _inside(path, packaged):
            return "llmops:policies/" + path.resolve().relative_to(packaged.resolve()).as_posix()
    return inputs.rel(path)


# ----------------------------------------------------------------------------------------- check
@dataclass(frozen=True)
class CheckReport:
    status: Literal["pass", "fail"]
    bundle: Path
    model: dict[str, str]
    results: list[RuleResult]
    counts: dict[str, int]
    stages: list[str]
    summary_markdown: str
    junit_xml: str
    fail_on: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "bundle": str(self.bundle),
            "model": self.model,
            "fail_on": self.fail_on,
            "rules": self.counts,
            "stages": self.stages,
            "results": [r.as_dict() for r in self.results],
        }


STAGE_NEEDS = {
    "data_quality": "a dataset (governance.inputs.data or --data)",
    "data_card": "a dataset (governance.inputs.data or --data)",
    "bias": "a dataset with label, prediction and sensitive columns "
    "(governance.inputs.data, label, prediction, sensitive)",
    "model_card": "model metadata (governance.inputs.model or --model)",
    "risk": "a risk register (governance.inputs.risk_register or --register)",
    "explain": "nothing (it always runs; without attributions or a model it reports them missing)",
}


def run_check(
    inputs: GovernInputs,
    *,
    evidence_dir: Path,
    fail_on: FailOn = "error",
    environ: Mapping[str, str] | None = None,
    reporter: Reporter | None = None,
) -> CheckReport:
    """Run the stages, evaluate every rule, write the evidence bundle. Bad input raises before any write."""
    from llmops_cli import __version__
    from llmops_cli.govern.evidence import build_manifest, git_commit, timestamp, write_bundle
    from llmops_cli.govern.io import sha256_file
    from llmops_cli.govern.policy import evaluate
    from llmops_cli.govern.reports.jsonout import canonical_json
    from llmops_cli.govern.reports.junit import junit_xml
    from llmops_cli.govern.reports.markdown import model_card_markdown, num, summary_markdown
    from llmops_cli.govern.stages.model_card import model_card_document

    env = os.environ if environ is None else environ
    rep = reporter or NullReporter()
    rep.phase("policies")
    policies = _policies(inputs)
    rep.step(f"loaded {len(policies.rules)} rules from {display_path(inputs, policies.file)}", "ok")

    rep.phase("stages")
    card, meta = model_card(inputs, policies.model_card_required)
    stages: dict[str, StageResult] = {}
    df = None
    if inputs.data is not None:
        df = load_dataset(inputs)
        stages["data_quality"] = data_quality(inputs, df)
        stages["data_card"] = data_card(inputs, df)
        if inputs.label and inputs.prediction and inputs.sensitive:
            stages["bias"] = bias_scan(inputs, df)
    if inputs.risk_register is not None:
        stages["risk"] = risk_scorecard(inputs)
    stages["explain"] = explain(inputs, df)
    stages["model_card"] = card
    for rule in policies.rules:
        if rule.stage not in stages:
            raise InputError(
                f"rule {rule.id!r} ({rule.where}) needs the {rule.stage} stage, which needs {STAGE_NEEDS[rule.stage]}",
                hint="add the input, or remove the rule from the policy file",
            )
    for name in stages:
        rep.step(name, "ok")

    rep.phase("rules")
    results = evaluate(policies, {k: v.metrics for k, v in stages.items()})
    failed = [r for r in results if r.failed(fail_on)]
    for r in results:
        shown: Status = "ok" if r.outcome == "pass" else ("fail" if r.failed(fail_on) else "warn")
        values = ", ".join(f"{k.split('.', 1)[1]} = {num(v)}" for k, v in r.values.items())
        note = values if r.outcome == "pass" else f"{r.message} {r.detail or values}".strip()
        rep.step(r.id, shown, note)
    status: Literal["pass", "fail"] = "fail" if failed else "pass"
    res_dicts = [r.as_dict() for r in results]
    passed = sum(1 for r in results if r.outcome == "pass")
    counts = {
        "total": len(results),
        "passed": passed,
        "failed": len(failed),
        "warnings": len(results) - passed - len(failed),
    }
    model_id = {"name": meta.name, "version": meta.version}

    governance = {"status": status, **{k: counts[k] for k in ("passed", "failed", "warnings")}}
    doc = model_card_document(
        meta,
        card.metrics,
        data_card=stages["data_card"].metrics if "data_card" in stages else None,
        bias=stages["bias"].metrics if "bias" in stages else None,
        data_quality=stages["data_quality"].metrics if "data_quality" in stages else None,
        explain=stages["explain"].metrics,
        governance=governance,
    )
    summary = summary_markdown(model_id, res_dicts, status, fail_on)
    junit = junit_xml(f"{meta.name} {meta.version}", res_dicts, fail_on)
    artefacts: dict[str, str] = {}
    for name, st in stages.items():
        if name != "model_card":
            artefacts[f"{name}.json"] = canonical_json(st.metrics)
            artefacts.update(st.artefacts)
    artefacts["model_card.md"] = model_card_markdown(doc)
    artefacts["model_card.json"] = canonical_json(doc)
    artefacts["results.json"] = canonical_json(
        {"status": status, "fail_on": fail_on, "model": model_id, "rules": counts, "results": res_dicts}
    )
    artefacts["summary.md"] = summary
    artefacts["junit.xml"] = junit
    payload = {k: v.encode("utf-8") for k, v in artefacts.items()}

    recorded: dict[str, dict[str, str]] = {}
    for key in ("data", "data_card", "model", "risk_register", "ai_act", "attributions", "model_file"):
        path = getattr(inputs, key)
        if path is not None:
            recorded[key] = {"file": inputs.rel(path), "sha256": sha256_file(path)}
    manifest = build_manifest(
        payload,
        inputs=recorded,
        policy={"file": display_path(inputs, policies.file), "sha256": policies.sha256},
        model=model_id,
        status=status,
        summary=counts,
        llmops_version=__version__,
        commit=git_commit(inputs.project_dir),
        created_at=timestamp(env),
    )
    rep.phase("evidence")
    bundle = write_bundle(evidence_dir / meta.name / meta.version, payload, manifest)
    rep.step(f"wrote {bundle}", "ok")
    return CheckReport(status, bundle, model_id, results, counts, list(stages), summary, junit, fail_on)


def verify(bundle: Path, project_dir: Path | None = None) -> Any:
    from llmops_cli.govern.evidence import verify_bundle

    return verify_bundle(bundle, project_dir=project_dir)
