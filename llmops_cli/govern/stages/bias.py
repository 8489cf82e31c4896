"""Bias scan from per-group confusion counts.

One pass over the rows builds a (groups × 4) table of confusion counts per sensitive attribute
(``np.bincount`` over ``group_code * 4 + label * 2 + prediction``). Every metric and every confidence
interval is a function of that table, so their cost does not depend on the number of rows.

Names and definitions follow the field:

- Between-groups metrics follow Fairlearn (``fairlearn/metrics/_fairness_metrics.py``, 0.15): differences
  are max − min over groups, ratios min / max; ``equalized_odds_difference`` is the larger of the TPR and
  FPR differences and ``equalized_odds_ratio`` the smaller of the two ratios; ``true_positive_rate_difference``
  and ``equal_opportunity_ratio`` are the TPR spread and ratio; predictive parity compares precision.
- Privileged-group metrics follow AIF360's ``ClassificationMetric`` (``aif360/metrics/classification_metric.py``,
  v0.6.1): unprivileged (the other groups, pooled) minus privileged. ``equal_opportunity_difference`` is
  AIF360's signed TPR difference, not Fairlearn's unsigned spread (which is ``true_positive_rate_difference``).

Where the field disagrees on an edge, this module takes the honest side: a rate whose denominator is zero (a
group without positives has no TPR) is undefined (null), not 0 as sklearn's ``zero_division`` gives; a metric
that needs an undefined rate is null, and so is a ratio whose largest rate is 0. Groups under the minimum
size take part in no metric. What could not be measured is listed in ``unmeasured`` and makes the ``worst``
aggregates null, so rules over them fail closed unless the group is waived (``governance.waivers``).

Confidence intervals (``ci``) are score intervals, not a percentile bootstrap (whose intervals for max − min
miss the truth most of the time when groups are equal): Wilson intervals per group rate, made simultaneous
over the groups with Šidák's correction, give a box that holds every group's true rate with the stated
confidence; each between-groups interval is the range of the metric over that box. Signed differences use
Newcombe's MOVER-Wilson interval. ``benchmarks/govern_ci_coverage.py`` measures the coverage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmops_cli.errors import InputError
from llmops_cli.govern.stages import StageResult
from llmops_cli.govern.stages.fairness import (
    confusion_counts,
    disparities,
    disparity_intervals,
    group_rates,
    signed_disparities,
    signed_intervals,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

GROUP_METRICS = ("count", "selection_rate", "tpr", "fpr", "fnr", "precision")
ATTRIBUTE_METRICS = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "true_positive_rate_difference",
    "equal_opportunity_ratio",
    "predictive_parity_difference",
    "predictive_parity_ratio",
)
PRIVILEGED_METRICS = (
    "statistical_parity_difference",
    "disparate_impact",
    "equal_opportunity_difference",
    "average_odds_difference",
)
# Which group rates each between-groups metric reads (a group whose rate is undefined makes it null).
METRIC_RATES = {
    "demographic_parity_difference": ("selection_rate",),
    "demographic_parity_ratio": ("selection_rate",),
    "equalized_odds_difference": ("tpr", "fpr"),
    "equalized_odds_ratio": ("tpr", "fpr"),
    "true_positive_rate_difference": ("tpr",),
    "equal_opportunity_ratio": ("tpr",),
    "predictive_parity_difference": ("precision",),
    "predictive_parity_ratio": ("precision",),
}
# How `worst` aggregates each metric over attributes: min for ratios, max for differences, and the largest
# magnitude (sign kept) for AIF360's signed differences.
WORST_IS_MIN = {
    "demographic_parity_ratio",
    "equalized_odds_ratio",
    "equal_opportunity_ratio",
    "predictive_parity_ratio",
    "disparate_impact",
}
SIGNED = {"statistical_parity_difference", "equal_opportunity_difference", "average_odds_difference"}
WORST_METRICS = (*ATTRIBUTE_METRICS, *PRIVILEGED_METRICS)
MISSING_GROUP = "<missing>"
INTERSECTION_SEP = "__"
GROUP_SEP = "|"

# What the stage can produce and the CEL types, for policy checks at load time ("*" = any attribute / group
# name; "?" = may be null).
_CI = {m: {"low": "double?", "high": "double?"} for m in ATTRIBUTE_METRICS + PRIVILEGED_METRICS}
_GROUP = {
    **{m: "double?" for m in GROUP_METRICS},
    "count": "int",
    "sufficient": "bool",
    "waived": "bool",
    "mean_score": "double?",
}
_ATTR: dict[str, Any] = {
    **{m: "double?" for m in ATTRIBUTE_METRICS + PRIVILEGED_METRICS},
    "columns": "list",
    "privileged": "string?",
    "sufficient": "bool",
    "measured": "bool",
    "waived": "bool",
    "groups": {"*": _GROUP},
    "insufficient_groups": "list",
    "unmeasured_groups": "list",
    "waived_groups": "list",
    "undefined": {"*": "list"},
    "partial": {"*": "double?"},
    "ci": _CI,
}
METRICS_SCHEMA: dict[str, Any] = {
    "rows": "int",
    "positive_rate": "double",
    "min_group_size": "int",
    "attributes": "list",
    "intersections": "list",
    "intersections_gated": "int",
    "worst": {m: "double?" for m in WORST_METRICS},
    "worst_intersection": {m: "double?" for m in WORST_METRICS},
    "unmeasured": "list",
    "waivers": "list[map]",
    "intervals": {"method": "string", "confidence": "double"},
    "*": _ATTR,
}


@dataclass(frozen=True)
class Waiver:
    """An explicit decision to leave an attribute (group None) or one of its groups out of the gate."""

    attribute: str
    group: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"attribute": self.attribute, "group": self.group, "reason": self.reason}


@dataclass(frozen=True)
class BiasConfig:
    label: str
    prediction: str
    sensitive: tuple[str, ...]
    privileged: Mapping[str, str] = field(default_factory=dict)
    positive: str | None = None
    label_map: Mapping[str, str] = field(default_factory=dict)  # raw value -> the class it counts as
    min_group_size: int = 30
    score: str | None = None
    confidence: float = 0.95
    intersectional: bool = True
    waivers: tuple[Waiver, ...] = ()


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
def outcome_columns(
    label: pd.Series,
    prediction: pd.Series,
    positive: str | None,
    *,
    names: tuple[str, str],
    source: str,
    label_map: Mapping[str, str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predictions as 0/1 int8 arrays.

    Without ``positive`` both columns must already be 0/1 (or boolean). With it, the two columns together may
    hold two values, the positive one and one other: a third value (``maybe``, a prediction ``2``) or a
    positive value found in neither column (a typo) is an error naming the values seen, never a silent
    negative. ``label_map`` (raw value -> the value it counts as, ``governance.inputs.label_map``) is the one
    documented way past that: it rewrites both columns first, and the two-value rule applies to the result.
    """
    for series, column, role in ((label, names[0], "label"), (prediction, names[1], "prediction")):
        if series.isna().any():
            n = int(series.isna().sum())
            raise InputError(
                f"{source}: {role} column {column!r} has {n} missing (NaN) value(s)",
                hint=f"fill or drop those rows before the scan; every row needs a {role}",
            )
    if label_map and positive is None:
        raise InputError(
            f"governance.inputs.label_map needs a positive class: which of {sorted(set(label_map.values()))} "
            "is positive?",
            hint="set governance.inputs.positive (or pass --positive VALUE)",
        )
    if label_map:
        assert positive is not None
        label, positive_label = _mapped(label, label_map, names[0]), column_value(label, positive)
        prediction, positive_pred = _mapped(prediction, label_map, names[1]), column_value(prediction, positive)
    if positive is None:
        return (
            binary_column(label, column=names[0], role="label", source=source),
            binary_column(prediction, column=names[1], role="prediction", source=source),
        )
    seen = {group_label(v) for v in _uniques(label)} | {group_label(v) for v in _uniques(prediction)}
    if label_map:
        want = positive_label, positive_pred  # as the raw columns write it (`1.0` is `1` in a numeric column)
    else:
        want = column_value(label, positive), column_value(prediction, positive)
    shown = ", ".join(repr(v) for v in sorted(seen)[:8]) + (", ..." if len(seen) > 8 else "")
    if want[0] not in seen and want[1] not in seen:
        raise InputError(
            f"{source}: --positive {positive!r} matches no value of {names[0]!r} or {names[1]!r} (values: {shown})",
            hint="give the positive class exactly as it is written in the data",
        )
    if len(seen - {want[0], want[1]}) > 1:
        after = " after governance.inputs.label_map" if label_map else ""
        raise InputError(
            f"{source}: {names[0]!r} and {names[1]!r} hold {len(seen)} different values{after} ({shown}); "
            f"a bias scan needs two: {positive!r} and one negative value",
            hint="map each other value to the negative (or positive) class under governance.inputs.label_map "
            "in llmops.yaml, e.g. label_map: {withdrawn: declined} (policies/README.md, 'Reading data')",
        )
    return _is_positive(label, want[0]), _is_positive(prediction, want[1])


def _mapped(series: pd.Series, label_map: Mapping[str, str], column: str) -> pd.Series:
    """The column with each raw value replaced by the value it counts as, as text (one pass over the rows).

    Keys and targets are read as the column writes values (``1`` and ``1.0`` alike in a numeric column)."""
    import numpy as np
    import pandas as pd

    keys: dict[str, str] = {}
    for raw, target in label_map.items():
        key = column_value(series, raw)
        value = column_value(series, target)
        if keys.get(key, value) != value:
            raise InputError(
                f"governance.inputs.label_map maps {key!r} twice (as written in {column!r}): "
                f"to {keys[key]!r} and to {value!r}",
                hint="keep one entry per value",
            )
        keys[key] = value
    codes, uniques = series.factorize()
    out = np.array([keys.get(group_label(u), group_label(u)) for u in uniques] + [None], dtype=object)
    return pd.Series(out[np.asarray(codes)], index=series.index, dtype=object)


def _uniques(series: pd.Series) -> list[Any]:
    import pandas as pd

    return list(pd.unique(series.dropna()))


def column_value(series: pd.Series, positive: str) -> str:
    """A value given as text (the positive class, a label_map entry) as a group label of this column (``1`` and
    ``1.0`` read alike in a numeric column, ``true`` is ``True`` in a boolean one)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return "True" if positive.strip().lower() in ("1", "true", "yes") else "False"
    if pd.api.types.is_numeric_dtype(series):
        try:
            return group_label(float(positive))
        except ValueError:
            return positive
    return positive


def _is_positive(series: pd.Series, want: str) -> np.ndarray:
    import numpy as np
    import pandas as pd

    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        try:
            return (series.to_numpy(dtype=float) == float(want)).astype(np.int8)
        except ValueError:
            return np.zeros(len(series), dtype=np.int8)
    codes, uniques = series.factorize()
    hit = np.array([group_label(u) == want for u in uniques] + [False], dtype=np.int8)
    return hit[np.asarray(codes)]


def binary_column(series: pd.Series, *, column: str, role: str, source: str) -> np.ndarray:
    """0/1 int8 array from a column that is already 0/1 or boolean."""
    import numpy as np
    import pandas as pd

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
    """Integer codes (sorted by label) and their labels; missing values form their own group.

    Values that print alike (``1`` and ``1.0`` in a mixed column) are one group, so no two groups share a
    label and no rows vanish under a shared key.
    """
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(series, sort=True, use_na_sentinel=True)
    raw = [group_label(u) for u in uniques]
    labels = sorted(set(raw))
    index = {lbl: i for i, lbl in enumerate(labels)}
    remap = np.array([index[lbl] for lbl in raw] + [-1], dtype=np.int64)
    codes = remap[np.asarray(codes, dtype=np.int64)]
    if (codes < 0).any():
        if MISSING_GROUP in index:
            raise InputError(
                f"{source}: sensitive column {column!r} has missing values and a value written {MISSING_GROUP!r}",
                hint=f"rename the {MISSING_GROUP!r} value; llmops reports missing values under that name",
            )
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


def _escape(label: str) -> str:
    """A group label as one part of an intersection label: ``\\`` and ``|`` escaped, so parts never blur."""
    return label.replace("\\", "\\\\").replace(GROUP_SEP, "\\" + GROUP_SEP)


def prepare(df: pd.DataFrame, cfg: BiasConfig, *, source: str) -> BiasData:
    """Validate the columns and encode labels, predictions and groups (one pass each)."""
    from llmops_cli.govern.io import DUPLICATES, require_columns

    if not cfg.sensitive:
        raise InputError(
            "no sensitive attribute given", hint="pass --sensitive COLUMN (or governance.inputs.sensitive)"
        )
    wanted = [cfg.label, cfg.prediction, *cfg.sensitive, *([cfg.score] if cfg.score else [])]
    require_columns(source, list(df.columns), wanted, df.attrs.get(DUPLICATES))
    for attr in cfg.privileged:
        if attr not in cfg.sensitive:
            raise InputError(
                f"--privileged names {attr!r}, which is not a sensitive attribute ({', '.join(cfg.sensitive)})",
                hint="use --privileged COLUMN=VALUE with one of the --sensitive columns",
            )
    y, p = outcome_columns(
        df[cfg.label],
        df[cfg.prediction],
        cfg.positive,
        names=(cfg.label, cfg.prediction),
        source=source,
        label_map=cfg.label_map,
    )
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
    _check_names(attributes, source)
    _check_waivers(cfg, attributes)
    return BiasData(cell, attributes, score_column(df[cfg.score], cfg.score, source) if cfg.score else None)


def _check_names(attributes: Sequence[Attribute], source: str) -> None:
    seen: dict[str, Attribute] = {}
    for a in attributes:
        if a.name in METRICS_SCHEMA and a.name != "*":
            raise InputError(
                f"sensitive attribute name {a.name!r} is reserved in bias metrics", hint="rename the column"
            )
        if a.name in seen:
            first = " × ".join(seen[a.name].columns)
            raise InputError(
                f"{source}: {first!r} and {' × '.join(a.columns)!r} would both be reported as {a.name!r}",
                hint=f"rename the column whose name holds {INTERSECTION_SEP!r}",
            )
        seen[a.name] = a


def _check_waivers(cfg: BiasConfig, attributes: Sequence[Attribute]) -> None:
    by_name = {a.name: a for a in attributes}
    for w in cfg.waivers:
        if w.attribute not in by_name:
            raise InputError(
                f"waiver for {w.attribute!r}: no such sensitive attribute ({', '.join(by_name)})",
                hint="fix or remove the entry in governance.waivers",
            )
        if w.group is not None and w.group not in by_name[w.attribute].labels:
            raise InputError(
                f"waiver for {w.attribute}={w.group!r}: no such group; groups are "
                + ", ".join(by_name[w.attribute].labels),
                hint="fix or remove the entry in governance.waivers",
            )


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
    nb = len(b.labels)
    labels = [f"{_escape(a.labels[k // nb])}{GROUP_SEP}{_escape(b.labels[k % nb])}" for k in present]
    return Attribute(f"{a.name}{INTERSECTION_SEP}{b.name}", (*a.columns, *b.columns), remap[combined], labels)


# ----------------------------------------------------------------------------------------- the scan
def scan(data: BiasData, cfg: BiasConfig) -> dict[str, Any]:
    """All metrics as plain Python values (the stage's metrics)."""
    import numpy as np

    out: dict[str, Any] = {
        "rows": data.rows,
        "positive_rate": float(np.count_nonzero(data.cell >= 2)) / max(data.rows, 1),
        "min_group_size": cfg.min_group_size,
        "attributes": [a.name for a in data.attributes],
        "intersections": [a.name for a in data.attributes if len(a.columns) > 1],
        "intervals": {"method": "wilson-sidak box; newcombe mover-wilson (signed)", "confidence": cfg.confidence},
        "waivers": [w.to_dict() for w in cfg.waivers],
    }
    for attr in data.attributes:
        counts = confusion_counts(attr.codes, len(attr.labels), data.cell)
        out[attr.name] = attribute_metrics(attr, counts, cfg)
        if data.score is not None:
            sums = np.bincount(attr.codes, weights=data.score, minlength=len(attr.labels))
            n = counts.sum(axis=1)
            for g, label in enumerate(attr.labels):
                out[attr.name]["groups"][label]["mean_score"] = float(sums[g] / n[g]) if n[g] else None
    singles = [a.name for a in data.attributes if len(a.columns) == 1]
    pairs = [a.name for a in data.attributes if len(a.columns) > 1]
    unmeasured: list[str] = []
    out["worst"] = _worst({a: out[a] for a in singles}, unmeasured, cfg.min_group_size, gate_small_groups=True)
    # Intersections are gated over the groups that reach the minimum size. A pair with fewer than two such
    # groups has nothing to compare: like a single attribute, it is listed in `unmeasured` and makes
    # `worst_intersection` null, so a rule over it fails closed unless the pair is waived as a whole.
    gated = [a for a in pairs if not out[a]["waived"]]
    out["worst_intersection"] = _worst(
        {a: out[a] for a in gated}, unmeasured, cfg.min_group_size, gate_small_groups=False
    )
    out["intersections_gated"] = len(gated)
    out["unmeasured"] = unmeasured
    return out


def attribute_metrics(attr: Attribute, counts: np.ndarray, cfg: BiasConfig) -> dict[str, Any]:
    import numpy as np

    waived_all = any(w.attribute == attr.name and w.group is None for w in cfg.waivers)
    waived = {w.group for w in cfg.waivers if w.attribute == attr.name and w.group is not None}
    rates = group_rates(counts)
    big = counts.sum(axis=1) >= cfg.min_group_size
    is_waived = np.array([lbl in waived for lbl in attr.labels], dtype=bool)
    ok = big & ~is_waived
    groups: dict[str, Any] = {}
    for g, label in enumerate(attr.labels):
        row: dict[str, Any] = {m: _finite(float(rates[m][g])) for m in GROUP_METRICS}
        row["count"] = int(counts[g].sum())
        row["sufficient"] = bool(big[g])
        row["waived"] = bool(is_waived[g])
        groups[label] = row
    res: dict[str, Any] = {
        "columns": list(attr.columns),
        "groups": groups,
        "insufficient_groups": [lbl for lbl, good in zip(attr.labels, big, strict=True) if not good],
        "unmeasured_groups": [lbl for g, lbl in enumerate(attr.labels) if not big[g] and not is_waived[g]],
        "waived_groups": sorted(waived),
        "waived": waived_all,
        "sufficient": int(ok.sum()) >= 2,
        "undefined": {},
    }
    if res["sufficient"]:
        sub = {k: v[ok] for k, v in rates.items()}
        d = disparities(sub)
        labels_ok = [lbl for g, lbl in enumerate(attr.labels) if ok[g]]
        for k, v in d.items():
            res[k] = _finite(float(v))
            if res[k] is None:
                bad = sorted({labels_ok[i] for r in METRIC_RATES[k] for i in np.flatnonzero(np.isnan(sub[r]))})
                res["undefined"][k] = bad or ["(largest rate is 0)"]
        ci = {k: (float(lo), float(hi)) for k, (lo, hi) in disparity_intervals(counts[ok], cfg.confidence).items()}
    else:
        res.update(dict.fromkeys(ATTRIBUTE_METRICS))
        ci = {}
    res["measured"] = bool(res["sufficient"] and not res["unmeasured_groups"] and not res["undefined"])
    priv_idx = _privileged_index(attr, cfg)
    if priv_idx is not None:
        res["privileged"] = attr.labels[priv_idx]
        # The unprivileged side pools the other sufficient groups: small groups are never mixed in.
        others = ok.copy()
        others[priv_idx] = False
        if ok[priv_idx] and others.any():
            pooled = counts[others].sum(axis=0)
            s = signed_disparities(counts[priv_idx], pooled)
            for k, v in s.items():
                res[k] = _finite(float(v))
                if res[k] is None:
                    res["undefined"][k] = [res["privileged"]]
            for k, (lo, hi) in signed_intervals(counts[priv_idx], pooled, cfg.confidence).items():
                ci[k] = (float(lo), float(hi))
        else:
            res.update(dict.fromkeys(PRIVILEGED_METRICS))
            res["undefined"].update({k: [res["privileged"]] for k in PRIVILEGED_METRICS})
        res["measured"] = res["measured"] and not res["undefined"]
    if len(attr.columns) == 1 and res["unmeasured_groups"]:
        # A single attribute with a group too small to measure (and not waived) has no value a rule could pass
        # on: the figures over the other groups stay in `partial`, for the report.
        res["partial"] = {k: res[k] for k in (*ATTRIBUTE_METRICS, *PRIVILEGED_METRICS) if res.get(k) is not None}
        res.update(dict.fromkeys(res["partial"]))
        ci = {}
    res["ci"] = {k: {"low": _finite(lo), "high": _finite(hi)} for k, (lo, hi) in ci.items() if res.get(k) is not None}
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


def _finite(v: float) -> float | None:
    import math

    return v if math.isfinite(v) else None


def _too_few(name: str, a: Mapping[str, Any], min_size: int) -> str:
    """Why an attribute (or pair) could not be measured: its group counts against the minimum size."""
    groups = a["groups"]
    reach = [g for g, v in groups.items() if v["sufficient"] and not v["waived"]]
    sizes = ", ".join(f"{g!r} {v['count']}" + (" (waived)" if v["waived"] else "") for g, v in groups.items())
    return (
        f"{name}: fewer than two groups reach the minimum size ({len(reach)} of {len(groups)} groups have "
        f"at least {min_size} rows; counts: {sizes})"
    )


def _worst(
    attrs: Mapping[str, Mapping[str, Any]], unmeasured: list[str], min_size: int, *, gate_small_groups: bool
) -> dict[str, Any]:
    """The worst value of each metric over ``attrs``; null when any attribute could not be measured for it.

    An attribute waived as a whole takes no part. One with fewer than two groups of the minimum size (not
    waived) makes every metric null. With ``gate_small_groups``, so does a group under the minimum size that
    is not waived (it could not be measured, so the gate cannot pass); intersections compare the groups that
    reach the size.
    """
    out: dict[str, Any] = {}
    counted = {name: a for name, a in attrs.items() if not a["waived"]}
    blocked = False
    for name, a in counted.items():
        if not a["sufficient"]:
            unmeasured.append(_too_few(name, a, min_size))
            blocked = True
        elif gate_small_groups and a["unmeasured_groups"]:
            groups = ", ".join(repr(g) for g in a["unmeasured_groups"])
            unmeasured.append(f"{name}: group(s) {groups} under the minimum size")
            blocked = True
        for m, groups_ in a["undefined"].items():
            unmeasured.append(f"{name}: {m} undefined for {', '.join(repr(g) for g in groups_)}")
    for m in WORST_METRICS:
        relevant = [a for a in counted.values() if m in ATTRIBUTE_METRICS or a.get("privileged") is not None]
        if not relevant:
            continue
        got = [a.get(m) for a in relevant]
        values = [float(v) for v in got if v is not None]
        if blocked or len(values) < len(got):
            out[m] = None
        elif m in WORST_IS_MIN:
            out[m] = min(values)
        elif m in SIGNED:
            out[m] = max(values, key=abs)
        else:
            out[m] = max(values)
    return out


def run_bias(df: pd.DataFrame, cfg: BiasConfig, *, source: str) -> StageResult:
    """The bias stage: metrics for policies (its report is rendered by ``govern.api``)."""
    return StageResult("bias", scan(prepare(df, cfg, source=source), cfg))
