"""Bias scan from per-group confusion counts.

One pass over the rows builds a (groups × 4) table of confusion counts per sensitive attribute
(``np.bincount`` over ``group_code * 4 + label * 2 + prediction``). Every metric is a function of that table,
so the cost of the metrics, and of each bootstrap resample (multinomial draws of the four cells per group),
does not depend on the number of rows.

Definitions follow Fairlearn (``fairlearn.metrics``): differences are max − min over groups, ratios min / max,
equalized odds is the larger of the TPR and FPR differences, and a rate whose denominator is zero is 0 (as
sklearn's ``confusion_matrix(normalize="true")`` gives). The signed variants follow AIF360's
``ClassificationMetric``: unprivileged (the other groups, pooled) minus privileged. Groups under the minimum
size take part in neither.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmops_cli.errors import InputError
from llmops_cli.govern.stages import StageResult

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

GROUP_METRICS = ("count", "selection_rate", "tpr", "fpr", "fnr", "precision")
ATTRIBUTE_METRICS = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equal_opportunity_difference",
)
PRIVILEGED_METRICS = ("statistical_parity_difference", "disparate_impact", "average_odds_difference")
# How `worst` aggregates each metric over attributes.
WORST_IS_MIN = {"demographic_parity_ratio", "disparate_impact"}
MISSING_GROUP = "<missing>"
INTERSECTION_SEP = "__"

# What the stage can produce, for policy checks at load time ("*" = any attribute / group name).
_CI = {m: {"low": None, "high": None} for m in ATTRIBUTE_METRICS + PRIVILEGED_METRICS}
_ATTR: dict[str, Any] = {
    **{m: None for m in ATTRIBUTE_METRICS + PRIVILEGED_METRICS},
    "columns": None,
    "privileged": None,
    "sufficient": None,
    "groups": {"*": {**{m: None for m in GROUP_METRICS}, "sufficient": None, "mean_score": None}},
    "insufficient_groups": None,
    "ci": _CI,
}
METRICS_SCHEMA: dict[str, Any] = {
    "rows": None,
    "positive_rate": None,
    "min_group_size": None,
    "attributes": None,
    "worst": {m: None for m in (*ATTRIBUTE_METRICS, "disparate_impact")},
    "bootstrap": {"resamples": None, "seed": None, "confidence": None},
    "*": _ATTR,
}


@dataclass(frozen=True)
class BiasConfig:
    label: str
    prediction: str
    sensitive: tuple[str, ...]
    privileged: Mapping[str, str] = field(default_factory=dict)
    positive: str | None = None
    min_group_size: int = 30
    score: str | None = None
    bootstrap: int = 0
    seed: int = 0
    confidence: float = 0.95
    intersectional: bool = True


@dataclass(frozen=True)
class Attribute:
    """One sensitive attribute (or a pair) as integer codes into ``labels``."""

    name: str
    columns: tuple[str, ...]
    codes: np.ndarray
    labels: list[str]


@dataclass(frozen=True)
class BiasData:
    cell: np.ndarray  # label * 2 + prediction, per row (0 TN, 1 FP, 2 FN, 3 TP)
    attributes: list[Attribute]
    score: np.ndarray | None = None  # the model's score per row, when given

    @property
    def rows(self) -> int:
        return int(self.cell.shape[0])


# ----------------------------------------------------------------------------------------- preparing inputs
def binary_column(series: pd.Series, positive: str | None, *, column: str, role: str, source: str) -> np.ndarray:
    """0/1 int8 array; ``positive`` names the positive value when the column is not already 0/1."""
    import numpy as np
    import pandas as pd

    if series.isna().any():
        n = int(series.isna().sum())
        raise InputError(
            f"{source}: {role} column {column!r} has {n} missing (NaN) value(s)",
            hint=f"fill or drop those rows before the scan; every row needs a {role}",
        )
    if positive is not None:
        if pd.api.types.is_bool_dtype(series):
            want: Any = positive.strip().lower() in ("1", "true", "yes")
            return (series.to_numpy() == want).astype(np.int8)
        if pd.api.types.is_numeric_dtype(series):
            try:
                num = float(positive)
            except ValueError:
                raise InputError(
                    f"{source}: --positive {positive!r} is not a number, but {role} column {column!r} is numeric",
                    hint="give the positive value as it appears in the data",
                ) from None
            return (series.to_numpy(dtype=float) == num).astype(np.int8)
        return (series.astype(str).to_numpy() == positive).astype(np.int8)
    if pd.api.types.is_bool_dtype(series):
        return series.to_numpy().astype(np.int8)
    if pd.api.types.is_numeric_dtype(series):
        values = series.to_numpy()
        ok = (values == 0) | (values == 1)
        if bool(ok.all()):
            return values.astype(np.int8)
    uniques = pd.unique(series)
    shown = ", ".join(repr(_plain(u)) for u in list(uniques)[:5]) + (", ..." if len(uniques) > 5 else "")
    kind = "probabilities or scores" if role == "prediction" and pd.api.types.is_float_dtype(series) else ""
    raise InputError(
        f"{source}: {role} column {column!r} is not 0/1 (values: {shown})"
        + (f"; it looks like {kind}" if kind else ""),
        hint="pass --positive VALUE (governance.inputs.positive) to name the positive class"
        if not kind
        else "threshold the scores into 0/1 predictions and give the scores as --score",
    )


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def encode_groups(series: pd.Series, *, column: str, source: str) -> tuple[np.ndarray, list[str]]:
    """Integer codes (sorted by value) and their labels; missing values form their own group."""
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(series, sort=True, use_na_sentinel=True)
    labels = [group_label(u) for u in uniques]
    codes = np.asarray(codes, dtype=np.int64)
    if (codes < 0).any():
        codes = np.where(codes < 0, len(labels), codes)
        labels.append(MISSING_GROUP)
    if len(labels) < 2:
        only = labels[0] if labels else "(none)"
        raise InputError(
            f"{source}: sensitive column {column!r} has a single value ({only!r}); "
            "a bias scan needs two or more groups",
            hint="choose another --sensitive column",
        )
    return codes, labels


def group_label(v: Any) -> str:
    v = _plain(v)
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def prepare(df: pd.DataFrame, cfg: BiasConfig, *, source: str) -> BiasData:
    """Validate the columns and encode labels, predictions and groups (one pass each)."""
    from llmops_cli.govern.io import require_columns

    if not cfg.sensitive:
        raise InputError(
            "no sensitive attribute given", hint="pass --sensitive COLUMN (or governance.inputs.sensitive)"
        )
    wanted = [cfg.label, cfg.prediction, *cfg.sensitive, *([cfg.score] if cfg.score else [])]
    require_columns(source, list(df.columns), wanted)
    for attr in cfg.privileged:
        if attr not in cfg.sensitive:
            raise InputError(
                f"--privileged names {attr!r}, which is not a sensitive attribute ({', '.join(cfg.sensitive)})",
                hint="use --privileged COLUMN=VALUE with one of the --sensitive columns",
            )
    y = binary_column(df[cfg.label], cfg.positive, column=cfg.label, role="label", source=source)
    p = binary_column(df[cfg.prediction], cfg.positive, column=cfg.prediction, role="prediction", source=source)
    cell = y.astype("int64") * 2 + p
    attributes: list[Attribute] = []
    for col in dict.fromkeys(cfg.sensitive):
        codes, labels = encode_groups(df[col], column=col, source=source)
        attributes.append(Attribute(col, (col,), codes, labels))
    if cfg.intersectional:
        singles = list(attributes)
        for i, a in enumerate(singles):
            for b in singles[i + 1 :]:
                attributes.append(intersect(a, b))
    return BiasData(cell, attributes, score_column(df[cfg.score], cfg.score, source) if cfg.score else None)


def score_column(series: pd.Series, column: str, source: str) -> np.ndarray:
    import pandas as pd

    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        raise InputError(f"{source}: score column {column!r} is not numeric", hint="give the model's score column")
    if series.isna().any():
        raise InputError(
            f"{source}: score column {column!r} has {int(series.isna().sum())} missing (NaN) value(s)",
            hint="fill or drop those rows",
        )
    return series.to_numpy(dtype="float64")


def intersect(a: Attribute, b: Attribute) -> Attribute:
    """The pair attribute: one group per (a, b) combination present in the data."""
    import numpy as np

    combined = a.codes * len(b.labels) + b.codes
    present = np.flatnonzero(np.bincount(combined, minlength=len(a.labels) * len(b.labels)))
    remap = np.full(len(a.labels) * len(b.labels), -1, dtype=np.int64)
    remap[present] = np.arange(len(present))
    labels = [f"{a.labels[k // len(b.labels)]}|{b.labels[k % len(b.labels)]}" for k in present]
    return Attribute(f"{a.name}{INTERSECTION_SEP}{b.name}", (*a.columns, *b.columns), remap[combined], labels)


# ----------------------------------------------------------------------------------------- math on counts
def confusion_counts(codes: np.ndarray, n_groups: int, cell: np.ndarray) -> np.ndarray:
    """(groups, 4) int64 counts of TN, FP, FN, TP: one bincount over the rows."""
    import numpy as np

    return np.bincount(codes * 4 + cell, minlength=n_groups * 4).reshape(n_groups, 4)


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 0)


def group_rates(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Per-group rates from counts of shape (..., groups, 4); zero denominators give 0 (as Fairlearn)."""
    c = counts.astype("float64")
    tn, fp, fn, tp = c[..., 0], c[..., 1], c[..., 2], c[..., 3]
    n = tn + fp + fn + tp
    return {
        "count": n,
        "selection_rate": _div(tp + fp, n),
        "tpr": _div(tp, tp + fn),
        "fpr": _div(fp, fp + tn),
        "fnr": _div(fn, fn + tp),
        "precision": _div(tp, tp + fp),
    }


def disparities(rates: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fairlearn's between-groups disparities over the last axis (the groups)."""
    import numpy as np

    sel, tpr, fpr = rates["selection_rate"], rates["tpr"], rates["fpr"]
    smax, smin = sel.max(axis=-1), sel.min(axis=-1)
    tpr_diff = tpr.max(axis=-1) - tpr.min(axis=-1)
    fpr_diff = fpr.max(axis=-1) - fpr.min(axis=-1)
    # No group selected at all is perfect parity; Fairlearn would give 0/0 = NaN here.
    ratio = np.divide(smin, smax, out=np.ones(np.shape(smax)), where=smax > 0)
    return {
        "demographic_parity_difference": smax - smin,
        "demographic_parity_ratio": ratio,
        "equalized_odds_difference": np.maximum(tpr_diff, fpr_diff),
        "equal_opportunity_difference": tpr_diff,
    }


def signed_disparities(priv: np.ndarray, unpriv: np.ndarray) -> dict[str, np.ndarray]:
    """AIF360's unprivileged − privileged metrics from two (..., 4) count arrays."""
    import numpy as np

    rp, ru = group_rates(priv), group_rates(unpriv)
    sp, su = rp["selection_rate"], ru["selection_rate"]
    return {
        "statistical_parity_difference": su - sp,
        "disparate_impact": np.divide(su, sp, out=np.full(np.shape(sp), np.inf), where=sp > 0),
        "average_odds_difference": 0.5 * ((ru["fpr"] - rp["fpr"]) + (ru["tpr"] - rp["tpr"])),
    }


def bootstrap_counts(counts: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples, groups, 4) counts: each group's four cells redrawn from a multinomial of its own size."""
    import numpy as np

    n = counts.sum(axis=1)
    pvals = counts / np.maximum(n, 1)[:, None]
    return rng.multinomial(n, pvals, size=(resamples, counts.shape[0]))


# ----------------------------------------------------------------------------------------- the scan
def scan(data: BiasData, cfg: BiasConfig) -> dict[str, Any]:
    """All metrics as plain Python values (the stage's metrics)."""
    import numpy as np

    rng = np.random.default_rng(cfg.seed) if cfg.bootstrap else None
    out: dict[str, Any] = {
        "rows": data.rows,
        "positive_rate": float(np.count_nonzero(data.cell >= 2)) / max(data.rows, 1),
        "min_group_size": cfg.min_group_size,
        "attributes": [a.name for a in data.attributes],
    }
    if cfg.bootstrap:
        out["bootstrap"] = {"resamples": cfg.bootstrap, "seed": cfg.seed, "confidence": cfg.confidence}
    for attr in data.attributes:
        if attr.name in METRICS_SCHEMA and attr.name != "*":
            raise InputError(
                f"sensitive attribute name {attr.name!r} is reserved in bias metrics",
                hint="rename the column",
            )
        counts = confusion_counts(attr.codes, len(attr.labels), data.cell)
        out[attr.name] = attribute_metrics(attr, counts, cfg, rng)
        if data.score is not None:
            sums = np.bincount(attr.codes, weights=data.score, minlength=len(attr.labels))
            n = counts.sum(axis=1)
            for g, label in enumerate(attr.labels):
                out[attr.name]["groups"][label]["mean_score"] = float(sums[g] / n[g]) if n[g] else 0.0
    out["worst"] = _worst([out[a.name] for a in data.attributes if len(a.columns) == 1])
    return out


def attribute_metrics(
    attr: Attribute, counts: np.ndarray, cfg: BiasConfig, rng: np.random.Generator | None
) -> dict[str, Any]:

    rates = group_rates(counts)
    ok = counts.sum(axis=1) >= cfg.min_group_size
    groups: dict[str, Any] = {}
    for g, label in enumerate(attr.labels):
        row: dict[str, Any] = {m: float(rates[m][g]) for m in GROUP_METRICS}
        row["count"] = int(counts[g].sum())
        row["sufficient"] = bool(ok[g])
        groups[label] = row
    res: dict[str, Any] = {
        "columns": list(attr.columns),
        "groups": groups,
        "insufficient_groups": [lbl for lbl, good in zip(attr.labels, ok, strict=True) if not good],
        "sufficient": int(ok.sum()) >= 2,
    }
    if res["sufficient"]:
        d = disparities({k: v[ok] for k, v in rates.items()})
        res.update({k: float(v) for k, v in d.items()})
    else:
        res.update(dict.fromkeys(ATTRIBUTE_METRICS))
    priv_idx = _privileged_index(attr, cfg)
    others = None
    if priv_idx is not None:
        res["privileged"] = attr.labels[priv_idx]
        # The unprivileged side pools the other sufficient groups: small groups are never mixed in.
        others = ok.copy()
        others[priv_idx] = False
        if ok[priv_idx] and others.any():
            s = signed_disparities(counts[priv_idx], counts[others].sum(axis=0))
            res.update({k: _finite(float(v)) for k, v in s.items()})
        else:
            res.update(dict.fromkeys(PRIVILEGED_METRICS))
            priv_idx = None
    if rng is not None and cfg.bootstrap:
        res["ci"] = _bootstrap(counts, ok, priv_idx, others, cfg, rng, res["sufficient"])
    return res


def _privileged_index(attr: Attribute, cfg: BiasConfig) -> int | None:
    if len(attr.columns) != 1 or attr.name not in cfg.privileged:
        return None
    value = str(cfg.privileged[attr.name])
    if value not in attr.labels:
        raise InputError(
            f"--privileged {attr.name}={value}: no such group; groups are {', '.join(attr.labels)}",
            hint="give one of the values present in the data",
        )
    return attr.labels.index(value)


def _bootstrap(
    counts: np.ndarray,
    ok: np.ndarray,
    priv_idx: int | None,
    others: np.ndarray | None,
    cfg: BiasConfig,
    rng: np.random.Generator,
    sufficient: bool,
) -> dict[str, Any]:
    import numpy as np

    draws = bootstrap_counts(counts, cfg.bootstrap, rng)
    tail = (1.0 - cfg.confidence) / 2.0
    metrics: dict[str, np.ndarray] = {}
    if sufficient:
        metrics.update(disparities({k: v[:, ok] for k, v in group_rates(draws).items()}))
    if priv_idx is not None and others is not None:
        metrics.update(signed_disparities(draws[:, priv_idx], draws[:, others].sum(axis=1)))
    ci: dict[str, Any] = {}
    for name, values in metrics.items():
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            continue
        lo, hi = np.quantile(finite, [tail, 1.0 - tail])
        ci[name] = {"low": float(lo), "high": float(hi)}
    return ci


def _finite(v: float) -> float | None:
    import math

    return v if math.isfinite(v) else None


def _worst(attrs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in (*ATTRIBUTE_METRICS, "disparate_impact"):
        values = [a[m] for a in attrs if a.get(m) is not None]
        if values:
            out[m] = min(values) if m in WORST_IS_MIN else max(values)
    return out


def run_bias(df: pd.DataFrame, cfg: BiasConfig, *, source: str) -> StageResult:
    """The bias stage: metrics for policies (its report is rendered by ``govern.api``)."""
    return StageResult("bias", scan(prepare(df, cfg, source=source), cfg))
