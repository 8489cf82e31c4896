"""The govern package's entry points: one function per `llmops govern` command.

Inputs come from `governance:` in llmops.yaml; flags reach it by the same route as everything else
(``governance_flags`` turns them into dotted settings overrides, validated with the file and env vars).
Relative paths in llmops.yaml resolve against the project folder; paths given as flags are made absolute
against the current folder first.

``run_check`` is four steps: ``collect`` (policies, the stages they need, every missing input at once, the
stages run), ``evaluate`` (the rules, the verdict), ``assemble`` (artefacts, manifest, lifecycle coverage)
and ``write`` (the signed, content-addressed bundle and the index).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from llmops_cli.errors import InputError
from llmops_cli.govern.inputs import GovernInputs, inside
from llmops_cli.govern.registry import NEEDS, STAGES, StageContext
from llmops_cli.govern.stages import StageResult
from llmops_cli.reporting import NullReporter, Reporter, Status

if TYPE_CHECKING:
    import pandas as pd

    from llmops_cli.config.model import GovernanceSettings, Settings
    from llmops_cli.govern.evidence import Signer, Trust, VerifyReport
    from llmops_cli.govern.lifecycle import Coverage
    from llmops_cli.govern.policy import PolicySet, Rule, RuleResult

POLICY_FILE = "governance.yaml"
FailOn = Literal["error", "warning"]
UNNAMED_MODEL = {"name": "unnamed-model", "version": "unversioned"}


def parse_privileged(values: list[str] | tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        col, sep, value = v.partition("=")
        if not sep or not col:
            raise InputError(f"--privileged {v!r}: expected COLUMN=VALUE", hint="e.g. --privileged sex=Male")
        out[col] = value
    return out


FLAG_SETTINGS = {
    "data": "governance.inputs.data",
    "label": "governance.inputs.label",
    "prediction": "governance.inputs.prediction",
    "score": "governance.inputs.score",
    "sensitive": "governance.inputs.sensitive",
    "privileged": "governance.inputs.privileged",
    "positive": "governance.inputs.positive",
    "model": "governance.inputs.model",
    "risk_register": "governance.inputs.risk_register",
    "ai_act": "governance.inputs.ai_act",
    "data_card": "governance.inputs.data_card",
    "attributions": "governance.inputs.attributions",
    "model_file": "governance.inputs.model_file",
    "features": "governance.inputs.features",
    "min_group_size": "governance.min_group_size",
    "bootstrap": "governance.bootstrap",
    "seed": "governance.seed",
    "fail_on": "governance.fail_on",
    "sign_key": "governance.signing.key",
    "sign": "governance.signing.mode",
    "llm_endpoint": "governance.llm_eval.endpoint",
    "llm_model": "governance.llm_eval.model",
    "llm_api_key_env": "governance.llm_eval.api_key_env",
    "llm_suite": "governance.llm_eval.suites",
    "llm_concurrency": "governance.llm_eval.concurrency",
    "llm_max_tokens": "governance.llm_eval.max_tokens",
    "judge_endpoint": "governance.llm_eval.judge.endpoint",
    "judge_model": "governance.llm_eval.judge.model",
    "judge_kind": "governance.llm_eval.judge.kind",
    "judge_api_key_env": "governance.llm_eval.judge.api_key_env",
    "grounding_dsn_env": "governance.llm_eval.grounding.dsn_env",
}
PATH_FLAGS = ("data", "model", "risk_register", "ai_act", "data_card", "sign_key", "attributions", "model_file")


def governance_flags(**given: Any) -> dict[str, Any]:
    """Flags (None = not given) as dotted settings overrides: the one route every governance flag takes."""
    out: dict[str, Any] = {}
    for key, value in given.items():
        if value is None or value == () or value == []:
            continue
        if key == "policies":
            path = Path(value).expanduser().absolute()
            out["governance.policy_file"] = str(path / POLICY_FILE if path.is_dir() else path)
            continue
        if key not in FLAG_SETTINGS:
            raise ValueError(f"unknown governance flag {key!r}")
        if key in PATH_FLAGS:
            value = str(Path(value).expanduser().absolute())
        elif key == "llm_suite":
            value = [str(Path(v).expanduser().absolute()) for v in value]
        elif key in ("sensitive", "features"):
            value = list(value)
        elif key == "privileged":
            value = parse_privileged(value) if isinstance(value, (list, tuple)) else dict(value)
        out[FLAG_SETTINGS[key]] = value
    return out


def inputs_from_settings(
    gov: GovernanceSettings, project_dir: Path, *, config_file: Path | None = None
) -> GovernInputs:
    """GovernInputs from validated `governance:` settings; relative paths resolve against the project."""
    i = gov.inputs

    def resolve(value: str | None) -> Path | None:
        if value is None:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() else project_dir / p

    if gov.policy_file:
        policies = resolve(gov.policy_file)
    else:
        policies_dir = resolve(gov.policies_dir)
        policies = policies_dir / POLICY_FILE if policies_dir else None
        if policies is not None and not policies.is_file() and gov.policies_dir == "policies":
            from llmops_cli.resources import policies_dir as packaged

            policies = packaged() / POLICY_FILE  # the defaults shipped with llmops
    sensitive = tuple(i.sensitive)
    return GovernInputs(
        project_dir=project_dir,
        data=resolve(i.data),
        label=i.label,
        prediction=i.prediction,
        score=i.score,
        sensitive=sensitive,
        # privileged groups only apply to the attributes scanned (a --sensitive flag narrows them)
        privileged={k: v for k, v in i.privileged.items() if k in sensitive},
        positive=i.positive,
        label_map=dict(i.label_map),
        model=resolve(i.model),
        risk_register=resolve(i.risk_register),
        ai_act=resolve(i.ai_act),
        data_card=resolve(i.data_card),
        attributions=resolve(i.attributions),
        model_file=resolve(i.model_file),
        features=tuple(i.features),
        waivers=_waivers(gov),
        policies=policies,
        min_group_size=gov.min_group_size,
        bootstrap=gov.bootstrap,
        seed=gov.seed,
        config_file=config_file,
        docs_dir=resolve(gov.docs_dir),
        llm_eval=llm_eval_options(gov),
        llm_suites=tuple(p for p in (resolve(x) for x in gov.llm_eval.suites) if p is not None),
    )


def llm_eval_options(gov: GovernanceSettings) -> Any:
    """EvalOptions from `governance.llm_eval` (None when no endpoint is set: the stage does not run)."""
    le = gov.llm_eval
    if not le.endpoint:
        return None
    from llmops_cli.govern.llmeval.run import EvalOptions, Judge

    j = le.judge
    judge = None
    if j.endpoint:
        if not j.model:
            raise InputError(
                "governance.llm_eval.judge.endpoint is set but judge.model is not",
                hint="name the judge's model (--judge-model)",
            )
        judge = Judge(j.endpoint, j.model, j.kind, j.api_key_env, tuple(j.refusal_labels))
    return EvalOptions(
        endpoint=le.endpoint,
        model=le.model or "",
        api_key_env=le.api_key_env,
        concurrency=le.concurrency,
        timeout_s=le.timeout_s,
        max_retries=le.max_retries,
        max_tokens=le.max_tokens,
        seed=gov.seed,
        judge=judge,
        grounding_dsn_env=le.grounding.dsn_env,
        grounding_top_k=le.grounding.top_k,
    )


def _waivers(gov: GovernanceSettings) -> tuple[Any, ...]:
    from llmops_cli.govern.stages.bias import Waiver

    return tuple(Waiver(w.attribute, w.group, w.reason) for w in gov.waivers)


def inputs_from(settings: Settings, project_dir: Path, *, config_file: Path | None = None) -> GovernInputs:
    """GovernInputs from the whole llmops.yaml: `governance:` plus what the lifecycle report reads elsewhere
    (environments gated on evidence, the rendered monitoring stack)."""
    base = inputs_from_settings(settings.governance, project_dir, config_file=config_file)
    gated = tuple(name for name, env in settings.environments.items() if env.requires_evidence)
    return replace(base, gated_environments=gated, monitoring=settings.stacks.observability.enabled)


def _need(inputs: GovernInputs, *keys: str) -> None:
    missing = [NEEDS[k] for k in keys if getattr(inputs, k) in (None, (), "")]
    if missing:
        raise InputError(
            "missing: " + "; ".join(n.describe() for n in missing),
            hint="pass the flags, or set them under governance.inputs in llmops.yaml",
        )


# ----------------------------------------------------------------------------------------- single stages
def run_stage(name: str, inputs: GovernInputs, df: pd.DataFrame | None = None) -> StageResult:
    """One stage with its report, for the `govern <stage>` commands; every missing input named at once."""
    stage = STAGES[name]
    _need(inputs, *stage.needs)
    ctx = StageContext(inputs, model_card_required=_required_fields(inputs) if name == "model_card" else None)
    if df is not None:
        ctx.use_frame(df)
    return stage.execute(ctx)


def with_report(result: StageResult) -> StageResult:
    """A stage's result with its registered Markdown report added (stages return metrics only)."""
    stage = STAGES[result.name]
    if stage.render is None or stage.artefact is None:
        return result
    return replace(result, artefacts={**result.artefacts, stage.artefact: stage.render(result.metrics)})


def load_dataset(inputs: GovernInputs, columns: list[str] | None = None) -> pd.DataFrame:
    from llmops_cli.govern.io import read_table

    _need(inputs, "data")
    assert inputs.data is not None
    return read_table(inputs.data, columns)


def data_quality(inputs: GovernInputs, df: pd.DataFrame | None = None) -> StageResult:
    return run_stage("data_quality", inputs, df)


def data_card(inputs: GovernInputs, df: pd.DataFrame | None = None) -> StageResult:
    return run_stage("data_card", inputs, df)


def bias_scan(inputs: GovernInputs, df: pd.DataFrame | None = None) -> StageResult:
    _need(inputs, *STAGES["bias"].needs)
    if df is None:  # read only the columns the scan needs (a wide table costs one column read each)
        i = inputs
        assert i.label and i.prediction
        df = load_dataset(inputs, [i.label, i.prediction, *i.sensitive, *([i.score] if i.score else [])])
    return run_stage("bias", inputs, df)


def llm_eval(
    inputs: GovernInputs, *, progress: Any = None, environ: Mapping[str, str] | None = None
) -> tuple[StageResult, Any]:
    """The served LLM probed with the suites: its stage result (metrics, report, transcript) and the run
    (timings, for people; not evidence)."""
    from llmops_cli.govern.llmeval.stage import run_llm_eval

    _need(inputs, *STAGES["llm_eval"].needs)
    display = {p: display_path(inputs, p) for p in inputs.llm_suites}
    metrics, artefacts, run = run_llm_eval(
        inputs.llm_eval, inputs.llm_suites, display=display, progress=progress, environ=environ
    )
    return with_report(StageResult("llm_eval", metrics, artefacts)), run


def risk_scorecard(inputs: GovernInputs) -> StageResult:
    return run_stage("risk", inputs)


def explain(inputs: GovernInputs) -> StageResult:
    return run_stage("explain", inputs)


def _required_fields(inputs: GovernInputs) -> tuple[str, ...]:
    return _policies(inputs).model_card_required if inputs.policies else ()


def model_card(inputs: GovernInputs, required: tuple[str, ...] | None = None) -> tuple[StageResult, Any]:
    """Completeness metrics and the card (Markdown + JSON) without policy results."""
    from llmops_cli.govern.reports.jsonout import canonical_json
    from llmops_cli.govern.reports.markdown import model_card_markdown
    from llmops_cli.govern.stages.model_card import load_model_meta, model_card_document, run_model_card

    _need(inputs, "model")
    assert inputs.model is not None
    meta = load_model_meta(inputs.model)
    result = run_model_card(meta, _required_fields(inputs) if required is None else required)
    doc = model_card_document(meta, result.metrics)
    arte = {"model_card.md": model_card_markdown(doc), "model_card.json": canonical_json(doc)}
    return StageResult("model_card", result.metrics, arte), meta


def _policies(inputs: GovernInputs) -> PolicySet:
    from llmops_cli.govern.policy import load_policies

    if inputs.policies is None:
        raise InputError("no policy file given", hint="pass --policies or set governance.policies_dir")
    return load_policies(inputs.policies, display_name=display_path(inputs, inputs.policies))


def display_path(inputs: GovernInputs, path: Path) -> str:
    """Name of an input in artefacts: project-relative, ``llmops:…`` for packaged defaults, else as given."""
    if not inside(path, inputs.project_dir):
        from llmops_cli.resources import policies_dir

        packaged = policies_dir()
        if inside(path, packaged):
            return "llmops:policies/" + path.resolve().relative_to(packaged.resolve()).as_posix()
    return inputs.rel(path)


# ----------------------------------------------------------------------------------------- check
@dataclass(frozen=True)
class Collected:
    policies: PolicySet  # the rules that apply (opt-in stages that are not configured left out)
    stages: dict[str, StageResult]
    model_meta: Any  # ModelMeta or None
    idle: tuple[Rule, ...] = ()  # rules of opt-in stages that are not configured
    idle_reason: Mapping[str, str] = field(default_factory=dict)  # stage -> why its rules did not run

    @property
    def not_applicable(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.idle)


@dataclass(frozen=True)
class Verdict:
    status: Literal["pass", "fail"]
    results: list[RuleResult]
    counts: dict[str, int]
    fail_on: str


@dataclass(frozen=True)
class Assembled:
    model: dict[str, str]
    artefacts: dict[str, bytes]
    manifest: dict[str, Any]
    coverage: Coverage
    summary_markdown: str
    junit_xml: str


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
    run: str = ""
    signed_by: str | None = None
    coverage: Coverage | None = None
    new_bundle: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "bundle": str(self.bundle),
            "run": self.run,
            "signed_by": self.signed_by,
            "model": self.model,
            "fail_on": self.fail_on,
            "rules": self.counts,
            "stages": self.stages,
            "coverage": self.coverage.to_dict() if self.coverage else None,
            "results": [r.to_dict() for r in self.results],
        }


def missing_inputs(inputs: GovernInputs, policies: PolicySet) -> str | None:
    """Every input the policies' rules need and lack, in one line (None when nothing is missing)."""
    ctx = StageContext(inputs)
    lacking: dict[str, list[str]] = {}
    for rule in policies.rules:
        if not STAGES[rule.stage].configured(ctx):
            continue  # an opt-in stage nobody configured: its rules are not applicable
        for need in ctx.missing(STAGES[rule.stage].needs):
            lacking.setdefault(need.key, []).append(rule.id)
    if not lacking:
        return None
    parts = []
    for key, rules in lacking.items():
        shown = ", ".join(rules[:4]) + (f" and {len(rules) - 4} more" if len(rules) > 4 else "")
        parts.append(f"{NEEDS[key].describe()} for {shown}")
    return f"missing inputs for the rules of {display_path(inputs, policies.file)}: " + "; ".join(parts)


def collect(inputs: GovernInputs, reporter: Reporter | None = None, progress: Any = None) -> Collected:
    """Load the policies, refuse with every missing input at once, run each stage whose inputs are given."""
    from llmops_cli.govern.stages.model_card import load_model_meta

    rep = reporter or NullReporter()
    rep.phase("policies")
    policies = _policies(inputs)
    rep.step(f"loaded {len(policies.rules)} rules from {display_path(inputs, policies.file)}", "ok")
    problem = missing_inputs(inputs, policies)
    if problem:
        raise InputError(problem, hint="pass the flags, set them in llmops.yaml, or remove those rules")
    rep.phase("stages")
    ctx = StageContext(inputs, model_card_required=policies.model_card_required, progress=progress)
    stages: dict[str, StageResult] = {}
    for name, stage in STAGES.items():
        if stage.runnable(ctx):
            stages[name] = ctx.results[name] = stage.execute(ctx)
            rep.step(name, "ok")
    unconfigured = {n for n, st in STAGES.items() if not st.configured(ctx)}
    idle = tuple(r for r in policies.rules if r.stage in unconfigured)
    reasons: dict[str, str] = {}
    for name in sorted({r.stage for r in idle}):
        need = NEEDS[STAGES[name].needs[0]]
        reasons[name] = f"not applicable: the opt-in {name} stage is not configured ({need.setting} or {need.flag})"
        rep.step(
            name, "skip", f"not configured ({need.setting}): {sum(r.stage == name for r in idle)} rules not applicable"
        )
    if idle:
        policies = replace(policies, rules=tuple(r for r in policies.rules if r.stage not in unconfigured))
    meta = load_model_meta(inputs.model) if inputs.model is not None else None
    return Collected(policies, stages, meta, idle, reasons)


def evaluate(collected: Collected, fail_on: FailOn, reporter: Reporter | None = None) -> Verdict:
    from llmops_cli.govern.policy import evaluate as evaluate_rules
    from llmops_cli.govern.reports.markdown import num

    rep = reporter or NullReporter()
    rep.phase("rules")
    results = evaluate_rules(collected.policies, {k: v.metrics for k, v in collected.stages.items()})
    failed = [r for r in results if r.failed(fail_on)]
    for r in results:
        shown: Status = "ok" if r.outcome == "pass" else ("fail" if r.failed(fail_on) else "warn")
        values = ", ".join(f"{k.split('.', 1)[1]} = {num(v)}" for k, v in r.values.items())
        note = values if r.outcome == "pass" else f"{r.message} {r.detail or values}".strip()
        rep.step(r.id, shown, note)
    passed = sum(1 for r in results if r.outcome == "pass")
    counts = {
        "total": len(results),
        "passed": passed,
        "failed": len(failed),
        "warnings": len(results) - passed - len(failed),
    }
    return Verdict("fail" if failed else "pass", results, counts, fail_on)


def assemble(
    inputs: GovernInputs,
    collected: Collected,
    verdict: Verdict,
    *,
    environ: Mapping[str, str],
    evidence_dir: Path,
) -> Assembled:
    """The bundle's artefacts and manifest (nothing written yet)."""
    from llmops_cli import __version__
    from llmops_cli.govern import lifecycle
    from llmops_cli.govern.evidence import build_manifest, git_state, timestamp
    from llmops_cli.govern.io import sha256_file
    from llmops_cli.govern.reports.jsonout import canonical_json
    from llmops_cli.govern.reports.junit import junit_xml
    from llmops_cli.govern.reports.markdown import model_card_markdown, summary_markdown
    from llmops_cli.govern.stages.model_card import model_card_document

    stages, meta = collected.stages, collected.model_meta
    model_id = {"name": meta.name, "version": meta.version} if meta is not None else dict(UNNAMED_MODEL)
    res_dicts = [r.to_dict() for r in verdict.results]
    created_at = timestamp(environ)
    artefacts: dict[str, str] = {}
    for name, st in stages.items():
        if name != "model_card":
            artefacts[f"{name}.json"] = canonical_json(st.metrics)
            artefacts.update(st.artefacts)
    if meta is not None:
        governance = {"status": verdict.status, **{k: verdict.counts[k] for k in ("passed", "failed", "warnings")}}
        doc = model_card_document(
            meta,
            stages["model_card"].metrics,
            data_card=stages["data_card"].metrics if "data_card" in stages else None,
            bias=stages["bias"].metrics if "bias" in stages else None,
            data_quality=stages["data_quality"].metrics if "data_quality" in stages else None,
            explain=stages["explain"].metrics if "explain" in stages else None,
            governance=governance,
        )
        if "llm_eval" in stages:
            from llmops_cli.govern.llmeval.report import card_section

            doc["llm_evaluation"] = card_section(stages["llm_eval"].metrics)
        artefacts["model_card.md"] = model_card_markdown(doc)
        artefacts["model_card.json"] = canonical_json(doc)
    artefacts["results.json"] = canonical_json(
        {
            "status": verdict.status,
            "fail_on": verdict.fail_on,
            "model": model_id,
            "rules": verdict.counts,
            "results": res_dicts,
            **({"not_applicable": list(collected.not_applicable)} if collected.not_applicable else {}),
        }
    )
    recorded: dict[str, dict[str, str]] = {}
    for key in ("data", "data_card", "model", "risk_register", "ai_act", "attributions", "model_file", "config_file"):
        path = getattr(inputs, key)
        if path is not None and path.is_file():
            recorded["config" if key == "config_file" else key] = {
                "file": inputs.rel(path),
                "sha256": sha256_file(path),
            }
    docs = lifecycle.read_documents(inputs)
    for doc_key, entry in docs.recorded.items():
        recorded[doc_key] = entry
    recorded.update(read_by_stages(inputs, stages.values(), {e["file"] for e in recorded.values()}))
    coverage = lifecycle.coverage(inputs, stages, verdict, docs)
    artefacts["lifecycle.json"] = canonical_json(coverage.to_dict())
    summary = summary_markdown(
        model_id,
        res_dicts,
        verdict.status,
        verdict.fail_on,
        coverage=coverage.to_dict(),
        phase_of={name: st.phase for name, st in STAGES.items()},
    )
    if collected.not_applicable:
        summary += f"\nNot applicable (opt-in stage not configured): {', '.join(collected.not_applicable)}.\n"
    artefacts["summary.md"] = summary
    skipped = [
        {"id": r.id, "stage": r.stage, "file": r.file, "line": r.line, "reason": collected.idle_reason[r.stage]}
        for r in collected.idle
    ]
    junit = junit_xml(
        f"{model_id['name']} {model_id['version']}", res_dicts, verdict.fail_on, timestamp=created_at, skipped=skipped
    )
    artefacts["junit.xml"] = junit
    payload = {k: v.encode("utf-8") for k, v in artefacts.items()}
    policy_file = collected.policies.file
    manifest = build_manifest(
        payload,
        inputs=recorded,
        # the file's bytes, as `verify` hashes them (CRLF files included), not the parsed text
        policy={"file": display_path(inputs, policy_file), "sha256": sha256_file(policy_file)},
        model=model_id,
        status=verdict.status,
        summary=verdict.counts,
        llmops_version=__version__,
        git=git_state(inputs.project_dir, exclude=[evidence_dir]),
        created_at=created_at,
        settings=inputs.settings(verdict.fail_on),
        fail_on=verdict.fail_on,
    )
    return Assembled(model_id, payload, manifest, coverage, summary, junit)


def read_by_stages(inputs: GovernInputs, results: Iterable[StageResult], known: set[str]) -> dict[str, dict[str, str]]:
    """Manifest inputs for the files stages read beyond the named inputs (evidence files, the FRIA, suites),
    keyed ``<role>:<file>``, with the hash the stage read; a file already recorded under its own key once."""
    out: dict[str, dict[str, str]] = {}
    for result in results:
        for f in result.read:
            shown = display_path(inputs, f.path)
            if shown not in known:
                out.setdefault(f"{f.role}:{shown}", {"file": shown, "sha256": f.sha256})
    return out


def write(evidence_dir: Path, assembled: Assembled, signer: Signer | None, reporter: Reporter | None = None) -> Any:
    from llmops_cli.govern.evidence import write_run

    rep = reporter or NullReporter()
    rep.phase("evidence")
    written = write_run(evidence_dir, assembled.model, assembled.artefacts, assembled.manifest, signer)
    note = f"signed by {written.signed_by}" if written.signed_by else "unsigned"
    rep.step(f"{'wrote' if written.created else 'kept identical'} {written.path}", "ok", note)
    return written


def run_check(
    inputs: GovernInputs,
    *,
    evidence_dir: Path,
    fail_on: FailOn = "error",
    environ: Mapping[str, str] | None = None,
    reporter: Reporter | None = None,
    signer: Signer | None = None,
    progress: Any = None,
) -> CheckReport:
    """Run the stages, evaluate every rule, write the evidence bundle. Bad input raises before any write."""
    env = os.environ if environ is None else environ
    collected = collect(inputs, reporter, progress)
    verdict = evaluate(collected, fail_on, reporter)
    assembled = assemble(inputs, collected, verdict, environ=env, evidence_dir=evidence_dir)
    written = write(evidence_dir, assembled, signer, reporter)
    return CheckReport(
        verdict.status,
        written.path,
        assembled.model,
        verdict.results,
        verdict.counts,
        list(collected.stages),
        assembled.summary_markdown,
        assembled.junit_xml,
        fail_on,
        run=written.run,
        signed_by=written.signed_by,
        coverage=assembled.coverage,
        new_bundle=written.created,
    )


def signer_from_settings(gov: GovernanceSettings, project_dir: Path, environ: Mapping[str, str]) -> Signer | None:
    """The signer the settings ask for: a key, Sigstore (keyless, with the CI's OIDC token), or none."""
    from llmops_cli.govern import signing

    s = gov.signing
    key = None
    if s.key:
        key = Path(s.key).expanduser()
        key = key if key.is_absolute() else project_dir / key
    if s.mode == "none":
        return None
    if s.mode == "key" or (s.mode == "auto" and key is not None):
        if key is None:
            raise InputError("governance.signing.mode is 'key' but no key is set", hint="pass --sign-key FILE")
        return signing.load_signer(key, environ)
    token = environ.get("SIGSTORE_ID_TOKEN") or signing.ambient_oidc_token()
    if s.mode == "sigstore":
        if not signing.sigstore_available():
            raise InputError("Sigstore signing needs the sigstore package", hint="pip install 'llmops[sigstore]'")
        if not token:
            raise InputError(
                "no OIDC identity token for keyless signing",
                hint="in GitHub Actions grant `permissions: id-token: write`, or set SIGSTORE_ID_TOKEN",
            )
    if token and signing.sigstore_available():
        return signing.SigstoreSigner(token)
    return None


def trust_from_settings(
    gov: GovernanceSettings | None,
    project_dir: Path | None,
    *,
    keys: list[Path] | tuple[Path, ...] = (),
    identity: str | None = None,
    issuer: str | None = None,
    require_signature: bool = False,
) -> Trust:
    from llmops_cli.govern.evidence import Trust
    from llmops_cli.govern.signing import load_public_key

    paths = list(keys)
    if gov is not None and project_dir is not None:
        for k in gov.signing.public_keys:
            p = Path(k).expanduser()
            paths.append(p if p.is_absolute() else project_dir / p)
    trusted = dict(load_public_key(p) for p in paths)
    return Trust(
        keys=trusted,
        identity=identity or (gov.signing.identity if gov else None),
        issuer=issuer or (gov.signing.issuer if gov else None),
        require_signature=require_signature,
    )


def verify(bundle: Path, project_dir: Path | None = None, trust: Trust | None = None) -> VerifyReport:
    from llmops_cli.govern.evidence import verify_bundle

    return verify_bundle(bundle, project_dir=project_dir, trust=trust)
