"""The arithmetic of the bias scan on per-group confusion counts (TN, FP, FN, TP): rates per group, the
disparities between groups (AIF360's and Fairlearn's metrics), and their confidence intervals (Wilson per rate,
Šidák-adjusted boxes for the between-groups spread, Newcombe's method for the signed differences). Pure numpy;
:mod:`.bias` prepares the counts and judges the results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


def confusion_counts(codes: np.ndarray, n_groups: int, cell: np.ndarray) -> np.ndarray:
    """(groups, 4) int64 counts of TN, FP, FN, TP: one bincount over the rows."""
    import numpy as np

    return np.bincount(codes * 4 + cell, minlength=n_groups * 4).reshape(n_groups, 4)


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b, NaN where b is 0 (undefined)."""
    import numpy as np

    return np.divide(a, b, out=np.full(np.broadcast(a, b).shape, np.nan), where=b > 0)


def rate_parts(counts: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each group rate as (successes, trials) from counts of shape (..., groups, 4)."""
    c = counts.astype("float64")
    tn, fp, fn, tp = c[..., 0], c[..., 1], c[..., 2], c[..., 3]
    return {
        "selection_rate": (tp + fp, tn + fp + fn + tp),
        "tpr": (tp, tp + fn),
        "fpr": (fp, fp + tn),
        "fnr": (fn, fn + tp),
        "precision": (tp, tp + fp),
    }


def group_rates(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Per-group rates from counts of shape (..., groups, 4); a zero denominator gives NaN (undefined)."""
    out = {"count": counts.astype("float64").sum(axis=-1)}
    out.update({k: _div(s, n) for k, (s, n) in rate_parts(counts).items()})
    return out


def _spread(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """max − min and min / max over the last axis; NaN where any group is NaN (or max is 0, for the ratio)."""

    hi, lo = r.max(axis=-1), r.min(axis=-1)  # NaN propagates
    return hi - lo, _div(lo, hi)


def disparities(rates: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fairlearn's between-groups disparities over the last axis (the groups); NaN where undefined."""
    import numpy as np

    sel_d, sel_r = _spread(rates["selection_rate"])
    tpr_d, tpr_r = _spread(rates["tpr"])
    fpr_d, fpr_r = _spread(rates["fpr"])
    pp_d, pp_r = _spread(rates["precision"])
    return {
        "demographic_parity_difference": sel_d,
        "demographic_parity_ratio": sel_r,
        "equalized_odds_difference": np.maximum(tpr_d, fpr_d),
        "equalized_odds_ratio": np.minimum(tpr_r, fpr_r),
        "true_positive_rate_difference": tpr_d,
        "equal_opportunity_ratio": tpr_r,
        "predictive_parity_difference": pp_d,
        "predictive_parity_ratio": pp_r,
    }


def signed_disparities(priv: np.ndarray, unpriv: np.ndarray) -> dict[str, np.ndarray]:
    """AIF360's unprivileged − privileged metrics from two (..., 4) count arrays; NaN where undefined."""
    rp, ru = group_rates(priv), group_rates(unpriv)
    return {
        "statistical_parity_difference": ru["selection_rate"] - rp["selection_rate"],
        "disparate_impact": _div(ru["selection_rate"], rp["selection_rate"]),
        "equal_opportunity_difference": ru["tpr"] - rp["tpr"],
        "average_odds_difference": 0.5 * ((ru["fpr"] - rp["fpr"]) + (ru["tpr"] - rp["tpr"])),
    }


# ----------------------------------------------------------------------------------------- intervals
def wilson(successes: np.ndarray, trials: np.ndarray, confidence: float) -> tuple[Any, Any]:
    """Wilson score interval per element; (0, 1) where there are no trials."""
    import numpy as np

    z = _z(confidence)
    n = np.asarray(trials, dtype="float64")
    k = np.asarray(successes, dtype="float64")
    denom = n + z * z
    center = (k + z * z / 2) / np.where(denom > 0, denom, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = (
            z / np.where(denom > 0, denom, 1) * np.sqrt(np.maximum(k * (n - k) / np.where(n > 0, n, 1), 0) + z * z / 4)
        )
    lo = np.where(n > 0, np.clip(center - half, 0.0, 1.0), 0.0)
    hi = np.where(n > 0, np.clip(center + half, 0.0, 1.0), 1.0)
    return lo, hi


def _z(confidence: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + float(confidence) / 2.0)


def _box(counts: np.ndarray, rate: str, confidence: float, tests: int) -> tuple[np.ndarray, np.ndarray]:
    """Šidák-simultaneous Wilson bounds of one rate for every group (last axis), over ``tests`` intervals."""
    s, n = rate_parts(counts)[rate]
    return wilson(s, n, confidence ** (1.0 / max(tests, 1)))


def _spread_interval(lo: np.ndarray, hi: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Range of max − min and of min / max over the box [lo, hi] (last axis = groups)."""
    import numpy as np

    diff_lo = np.maximum(lo.max(axis=-1) - hi.min(axis=-1), 0.0)
    diff_hi = hi.max(axis=-1) - lo.min(axis=-1)
    top_hi, top_lo = hi.max(axis=-1), lo.max(axis=-1)
    ratio_lo = np.divide(lo.min(axis=-1), top_hi, out=np.zeros(np.shape(top_hi)), where=top_hi > 0)
    ratio_hi = np.minimum(np.divide(hi.min(axis=-1), top_lo, out=np.ones(np.shape(top_lo)), where=top_lo > 0), 1.0)
    return {"difference": (diff_lo, diff_hi), "ratio": (ratio_lo, ratio_hi)}


def disparity_intervals(counts: np.ndarray, confidence: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Simultaneous intervals for the between-groups metrics from counts of shape (..., groups, 4)."""
    import numpy as np

    groups = counts.shape[-2]
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    one = {r: _spread_interval(*_box(counts, r, confidence, groups)) for r in ("selection_rate", "tpr", "precision")}
    two = {r: _spread_interval(*_box(counts, r, confidence, 2 * groups)) for r in ("tpr", "fpr")}
    out["demographic_parity_difference"] = one["selection_rate"]["difference"]
    out["demographic_parity_ratio"] = one["selection_rate"]["ratio"]
    out["true_positive_rate_difference"] = one["tpr"]["difference"]
    out["equal_opportunity_ratio"] = one["tpr"]["ratio"]
    out["predictive_parity_difference"] = one["precision"]["difference"]
    out["predictive_parity_ratio"] = one["precision"]["ratio"]
    (tdl, tdh), (fdl, fdh) = two["tpr"]["difference"], two["fpr"]["difference"]
    (trl, trh), (frl, frh) = two["tpr"]["ratio"], two["fpr"]["ratio"]
    out["equalized_odds_difference"] = (np.maximum(tdl, fdl), np.maximum(tdh, fdh))
    out["equalized_odds_ratio"] = (np.minimum(trl, frl), np.minimum(trh, frh))
    return out


def signed_intervals(priv: np.ndarray, unpriv: np.ndarray, confidence: float) -> dict[str, tuple[Any, Any]]:
    """Intervals for AIF360's signed metrics: Newcombe's MOVER-Wilson for differences (sums of independent
    rates), the Šidák box of the two selection rates for the disparate-impact ratio."""
    import numpy as np

    pp, pu = rate_parts(priv), rate_parts(unpriv)

    def parts(rate: str, conf: float) -> tuple[Any, ...]:
        (sp, np_), (su, nu) = pp[rate], pu[rate]
        lp, hp = wilson(sp, np_, conf)
        lu, hu = wilson(su, nu, conf)
        return _div(su, nu), lu, hu, _div(sp, np_), lp, hp

    def mover(terms: Sequence[tuple[Any, ...]], scale: float = 1.0) -> tuple[Any, Any]:
        est = sum(t[0] - t[3] for t in terms)
        lo = est - np.sqrt(sum((t[0] - t[1]) ** 2 + (t[5] - t[3]) ** 2 for t in terms))
        hi = est + np.sqrt(sum((t[2] - t[0]) ** 2 + (t[3] - t[4]) ** 2 for t in terms))
        return scale * lo, scale * hi

    sel = parts("selection_rate", confidence)
    out = {
        "statistical_parity_difference": mover([sel]),
        "equal_opportunity_difference": mover([parts("tpr", confidence)]),
        "average_odds_difference": mover([parts("fpr", confidence), parts("tpr", confidence)], 0.5),
    }
    _, lu, hu, _, lp, hp = parts("selection_rate", confidence**0.5)
    di_lo = np.divide(lu, hp, out=np.zeros(np.shape(hp)), where=hp > 0)
    di_hi = np.divide(hu, lp, out=np.full(np.shape(lp), np.inf), where=lp > 0)
    out["disparate_impact"] = (di_lo, di_hi)
    return out
