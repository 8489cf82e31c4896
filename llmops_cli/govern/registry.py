"""The governance stages, by name: what each runs, which inputs it needs, what it renders and which file it writes.

Adding a stage is one entry in ``STAGES`` (a runner, a renderer, its needs, its artefact, its metric schema)
plus its metrics module under ``govern/stages/``: ``govern check`` runs every stage whose inputs are given,
policies may name it, the CLI's missing-input messages name its flags, and the lifecycle report places it in
its CPMAI phase. Runners take a ``StageContext`` so stages that read the same dataset share one read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from llmops_cli.govern.stages import ReadFile, StageResult

if TYPE_CHECKING:
    import pandas as pd

    from llmops_cli.govern.inputs import GovernInputs


@dataclass(frozen=True)
class Need:
    """An input a stage cannot run without, and the two ways to give it."""

    key: str  # the GovernInputs attribute
    what: str
    flag: str
    setting: str

    def describe(self) -> str:
        return f"{self.what} ({self.flag} or {self.setting})"


NEEDS: dict[str, Need] = {
    n.key: n
    for n in (
        Need("data", "a dataset", "--data", "governance.inputs.data"),
        Need("label", "the label column", "--label", "governance.inputs.label"),
        Need("prediction", "the prediction column", "--prediction", "governance.inputs.prediction"),
        Need("sensitive", "a sensitive attribute", "--sensitive", "governance.inputs.sensitive"),
        Need("model", "model metadata", "--model", "governance.inputs.model"),
        Need("risk_register", "a risk register", "--register", "governance.inputs.risk_register"),
        Need("llm_endpoint", "an OpenAI-compatible endpoint", "--llm-endpoint", "governance.llm_eval.endpoint"),
        Need("llm_model", "the model name to evaluate", "--llm-model", "governance.llm_eval.model"),
    )
}


class StageContext:
    """What stages read, loaded once per run: the inputs, the dataset, its metadata, the policies' card fields."""

    def __init__(
        self,
        inputs: GovernInputs,
        *,
        model_card_required: tuple[str, ...] | None = None,
        progress: Any = None,
    ) -> None:
        self.inputs = inputs
        self.model_card_required = model_card_required
        self.progress = progress  # llmeval.run.Progress for long-running stages (the CLI draws it)
        self.results: dict[str, StageResult] = {}  # stages run so far, in registry order
        self._frame: pd.DataFrame | None = None
        self._meta: Any = None

    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            from llmops_cli.govern.io import read_table

            assert self.inputs.data is not None
            self._frame = read_table(self.inputs.data)
        return self._frame

    def use_frame(self, df: pd.DataFrame) -> None:
        self._frame = df

    def dataset_meta(self) -> Any:
        if self._meta is None:
            from llmops_cli.govern.stages.data_card import DatasetMeta, load_dataset_meta

            path = self.inputs.data_card
            self._meta = load_dataset_meta(path) if path else DatasetMeta()
        return self._meta

    def missing(self, needs: tuple[str, ...]) -> list[Need]:
        return [NEEDS[n] for n in needs if getattr(self.inputs, n) in (None, (), "")]


Runner = Callable[[StageContext], StageResult]
Renderer = Callable[[Mapping[str, Any]], str]


@dataclass(frozen=True)
class Stage:
    name: str
    run: Runner
    needs: tuple[str, ...]
    schema: Callable[[], dict[str, Any]]  # the shape of its metrics (policy.compile_expr checks rules against it)
    phase: str  # the CPMAI phase its evidence belongs to (govern.lifecycle.PHASES)
    render: Renderer | None = None  # Markdown report from the metrics; None: assembled with the verdict
    artefact: str | None = None  # file name of the rendered report in the bundle
    description: str = ""
    optional: tuple[str, ...] = field(default=())  # inputs it reads when given
    # Opt-in: without its first input (the llm_eval endpoint) its rules are "not applicable" (listed in the
    # results), not missing inputs; once that is given, the rest are required like any stage's.
    opt_in: bool = False

    def configured(self, ctx: StageContext) -> bool:
        return not self.opt_in or not ctx.missing(self.needs[:1])

    def runnable(self, ctx: StageContext) -> bool:
        return not ctx.missing(self.needs)

    def execute(self, ctx: StageContext) -> StageResult:
        """The stage's metrics with its Markdown report added (stages return metrics only)."""
        result = self.run(ctx)
        if self.render is not None and self.artefact is not None:
            result = replace(result, artefacts={**result.artefacts, self.artefact: self.render(result.metrics)})
        return result


# ----------------------------------------------------------------------------------------- runners
def _data_quality(ctx: StageContext) -> StageResult:
    from llmops_cli.govern.stages.data_quality import DataQualityConfig, run_data_quality

    i = ctx.inputs
    cfg = DataQualityConfig(
        label=i.label, positive=i.positive, label_map=dict(i.label_map), schema=ctx.dataset_meta().schema
    )
    return run_data_quality(ctx.frame(), cfg)


def _data_card(ctx: StageContext) -> StageResult:
    from llmops_cli.govern.io import sha256_file
    from llmops_cli.govern.stages.data_card import run_data_card

    i = ctx.inputs
    assert i.data is not None
    return run_data_card(
        ctx.frame(), ctx.dataset_meta(), data_file=i.rel(i.data), sha256=sha256_file(i.data), sensitive=i.sensitive
    )


def bias_config(inputs: GovernInputs) -> Any:
    from llmops_cli.govern.stages.bias import BiasConfig

    assert inputs.label and inputs.prediction
    return BiasConfig(
        label=inputs.label,
        prediction=inputs.prediction,
        sensitive=inputs.sensitive,
        privileged=dict(inputs.privileged),
        positive=inputs.positive,
        label_map=dict(inputs.label_map),
        min_group_size=inputs.min_group_size,
        score=inputs.score,
        waivers=inputs.waivers,
    )


def _bias(ctx: StageContext) -> StageResult:
    from llmops_cli.govern.stages.bias import run_bias

    assert ctx.inputs.data is not None
    return run_bias(ctx.frame(), bias_config(ctx.inputs), source=str(ctx.inputs.data))


def _model_card(ctx: StageContext) -> StageResult:
    from llmops_cli.govern.stages.model_card import load_model_meta, run_model_card

    assert ctx.inputs.model is not None
    return run_model_card(load_model_meta(ctx.inputs.model), ctx.model_card_required or ())


def _risk(ctx: StageContext) -> StageResult:
    from llmops_cli.govern.stages.risk import run_risk

    assert ctx.inputs.risk_register is not None
    # failure rates measured by stages that ran before (llm_eval): the likelihood of risks that name them
    measured = {n: r.metrics["failure_rates"] for n, r in ctx.results.items() if "failure_rates" in r.metrics}
    return run_risk(ctx.inputs.risk_register, ctx.inputs.ai_act, measured)


def _llm_eval(ctx: StageContext) -> StageResult:
    from llmops_cli.govern.llmeval.stage import run_llm_eval

    i = ctx.inputs
    display = {p: i.rel(p) for p in i.llm_suites}
    metrics, artefacts, run = run_llm_eval(i.llm_eval, i.llm_suites, display=display, progress=ctx.progress)
    # the suites decide the verdict: hashed manifest inputs (the packaged default as llmops:policies/...)
    read = tuple(ReadFile("llm_suite", path, sha) for path, sha in run.suites)
    return StageResult("llm_eval", metrics, artefacts, read=read)


def _llm_eval_schema() -> dict[str, Any]:
    from llmops_cli.govern.llmeval.score import METRICS_SCHEMA

    return METRICS_SCHEMA


def _llm_eval_render(metrics: Mapping[str, Any]) -> str:
    from llmops_cli.govern.llmeval.report import llm_eval_markdown

    return llm_eval_markdown(metrics)


def _explain(ctx: StageContext) -> StageResult:
    from llmops_cli.govern.stages.explain import ExplainConfig, run_explain

    i = ctx.inputs
    cfg = ExplainConfig(
        attributions=i.attributions,
        model_file=i.model_file,
        features=i.features,
        sensitive=i.sensitive,
        exclude=tuple(c for c in (i.label, i.prediction, i.score) if c),
        seed=i.seed,
    )
    frame = ctx.frame() if i.data is not None else None
    return run_explain(frame, cfg, display=i.rel)


def _privacy(ctx: StageContext) -> StageResult:
    from llmops_cli.govern.stages.privacy import run_privacy

    return run_privacy(ctx.frame(), ctx.dataset_meta(), sensitive=ctx.inputs.sensitive)


# ----------------------------------------------------------------------------------------- renderers & schemas
def _renderer(name: str) -> Renderer:
    def render(metrics: Mapping[str, Any]) -> str:
        from llmops_cli.govern.reports import markdown

        fn: Renderer = getattr(markdown, name)
        return fn(metrics)

    return render


def _schema(module: str) -> Callable[[], dict[str, Any]]:
    def schema() -> dict[str, Any]:
        import importlib

        out: dict[str, Any] = importlib.import_module(f"llmops_cli.govern.stages.{module}").METRICS_SCHEMA
        return out

    return schema


STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage(
            "data_quality",
            _data_quality,
            needs=("data",),
            optional=("data_card", "label", "positive", "label_map"),
            schema=_schema("data_quality"),
            phase="data_preparation",
            render=_renderer("data_quality_markdown"),
            artefact="data_quality.md",
            description="missing values, duplicates, declared schema, personal data",
        ),
        Stage(
            "data_card",
            _data_card,
            needs=("data",),
            optional=("data_card", "sensitive"),
            schema=_schema("data_card"),
            phase="data_understanding",
            render=_renderer("data_card_markdown"),
            artefact="data_card.md",
            description="provenance and column statistics",
        ),
        Stage(
            "privacy",
            _privacy,
            needs=("data",),
            optional=("data_card", "sensitive"),
            schema=_schema("privacy"),
            phase="data_preparation",
            render=_renderer("privacy_markdown"),
            artefact="privacy.md",
            description="consent and privacy-enhancing techniques declared in the data card, checked against the data",
        ),
        Stage(
            "bias",
            _bias,
            needs=("data", "label", "prediction", "sensitive"),
            optional=("score", "privileged", "positive", "label_map"),
            schema=_schema("bias"),
            phase="data_understanding",
            render=_renderer("bias_markdown"),
            artefact="bias.md",
            description="per-group rates and fairness metrics",
        ),
        Stage(
            "explain",
            _explain,
            needs=(),  # always runs: without attributions or a model it reports them missing (a warning rule)
            optional=("attributions", "model_file", "features", "data", "sensitive"),
            schema=_schema("explain"),
            phase="model_evaluation",
            render=_renderer("explain_markdown"),
            artefact="explain.md",
            description="global feature importances (SHAP/LIME or computed) and the share of sensitive attributes",
        ),
        Stage(
            "model_card",
            _model_card,
            needs=("model",),
            schema=_schema("model_card"),
            phase="model_evaluation",
            artefact="model_card.md",
            description="model card completeness (rendered with the verdict)",
        ),
        Stage(
            "llm_eval",
            _llm_eval,
            needs=("llm_endpoint", "llm_model"),
            schema=_llm_eval_schema,
            phase="model_evaluation",
            render=_llm_eval_render,
            artefact="llm_eval.md",
            description="the served LLM probed for bias, safety, leakage and grounding",
            opt_in=True,
        ),
        Stage(
            "risk",
            _risk,
            needs=("risk_register",),
            optional=("ai_act",),
            schema=_schema("risk"),
            phase="business_understanding",
            render=_renderer("risk_markdown"),
            artefact="risk_scorecard.md",
            description="risk scores, framework mapping, EU AI Act class",
        ),
    )
}


def stage(name: str) -> Stage:
    return STAGES[name]
