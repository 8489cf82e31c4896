"""Rates with honest intervals: paraphrases of one probe are not independent observations.

A rate over ``n`` answers grouped in ``k`` probes (each asked in several paraphrases) gets a Wilson score
interval (Wilson 1927) on the effective sample size ``n / deff``, with Kish's design effect
``deff = 1 + (m̄ − 1)·ICC`` (Kish, Survey Sampling, 1965) and the intra-class correlation estimated by
one-way ANOVA. When every answer agrees (ICC undefined) the probes are taken as the independent units
(``n_eff = k``), the conservative choice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

Z95 = 1.959963984540054


def wilson(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def icc(clusters: Sequence[Sequence[int]]) -> float | None:
    """One-way ANOVA intra-class correlation of 0/1 outcomes; None when undefined."""
    groups = [list(c) for c in clusters if c]
    k = len(groups)
    n = sum(len(c) for c in groups)
    if k < 2 or n <= k:
        return None
    mean = sum(sum(c) for c in groups) / n
    msb = sum(len(c) * (sum(c) / len(c) - mean) ** 2 for c in groups) / (k - 1)
    msw = sum(sum((y - sum(c) / len(c)) ** 2 for y in c) for c in groups) / (n - k)
    m0 = (n - sum(len(c) ** 2 for c in groups) / n) / (k - 1)
    denom = msb + (m0 - 1) * msw
    if denom <= 0:
        return None
    return min(1.0, max(0.0, (msb - msw) / denom))


def rate(clusters: Mapping[str, Sequence[int]]) -> dict[str, Any]:
    """``{rate, n, probes, ci: [low, high], n_eff}`` of the 1s among answers grouped by probe."""
    groups = [list(v) for v in clusters.values() if v]
    n = sum(len(c) for c in groups)
    k = len(groups)
    if n == 0:
        return {"rate": None, "n": 0, "probes": 0, "ci": None, "n_eff": 0.0}
    hits = sum(sum(c) for c in groups)
    p = hits / n
    if k == n:
        n_eff = float(n)
    else:
        rho = icc(groups)
        if rho is None:
            n_eff = float(k)
        else:
            m_bar = n / k
            n_eff = n / (1 + (m_bar - 1) * rho)
    lo, hi = wilson(p * n_eff, n_eff)
    return {"rate": round(p, 6), "n": n, "probes": k, "ci": [round(lo, 6), round(hi, 6)], "n_eff": round(n_eff, 3)}


def variance(clusters: Mapping[str, Sequence[int]]) -> dict[str, Any]:
    """How much paraphrases of one probe disagree: mean within-probe variance p(1−p) and the share of
    probes whose paraphrases did not all give the same outcome."""
    multi = [list(v) for v in clusters.values() if len(v) > 1]
    if not multi:
        return {"probes": 0, "mean_variance": None, "unstable_share": None}
    variances = [(sum(c) / len(c)) * (1 - sum(c) / len(c)) for c in multi]
    unstable = sum(1 for c in multi if 0 < sum(c) < len(c))
    return {
        "probes": len(multi),
        "mean_variance": round(sum(variances) / len(variances), 6),
        "unstable_share": round(unstable / len(multi), 6),
    }
