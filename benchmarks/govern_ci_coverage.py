"""Coverage of the bias scan's confidence intervals, measured by simulation, beside the percentile bootstrap
they replaced.

Each scenario fixes every group's size, base rate, TPR and FPR (so every metric has a known true value), draws
many datasets from it (multinomial confusion counts per group, exactly what a scan of the rows would count)
and counts how often the 95% interval holds the true value. Target: at least 93% for every metric in every
scenario. The baseline is the percentile bootstrap of max − min that llmops used before, on fewer draws.

    PYTHONPATH=. python benchmarks/govern_ci_coverage.py [--draws N] [--seed S]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from llmops_cli.govern.stages.bias import ATTRIBUTE_METRICS, PRIVILEGED_METRICS
from llmops_cli.govern.stages.fairness import (
    disparities,
    disparity_intervals,
    group_rates,
    signed_disparities,
    signed_intervals,
)

TARGET = 0.93
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Scenario:
    name: str
    sizes: tuple[int, ...]
    base: tuple[float, ...]  # P(label = 1) per group
    tpr: tuple[float, ...]
    fpr: tuple[float, ...]

    def cell_probs(self) -> np.ndarray:
        """(groups, 4) probabilities of TN, FP, FN, TP."""
        b, t, f = (np.array(x) for x in (self.base, self.tpr, self.fpr))
        return np.stack([(1 - b) * (1 - f), (1 - b) * f, b * (1 - t), b * t], axis=1)

    def draw(self, draws: int, rng: np.random.Generator) -> np.ndarray:
        """(draws, groups, 4) counts."""
        probs = self.cell_probs()
        return np.stack([rng.multinomial(n, probs[g], size=draws) for g, n in enumerate(self.sizes)], axis=1)

    def truth(self) -> dict[str, float]:
        """Every metric from the true cell probabilities (scaled to large counts: rates are exact)."""
        p = self.cell_probs()[None] * 1e12
        out = {k: float(v[0]) for k, v in disparities(group_rates(p)).items()}
        # The pooled unprivileged side weights its groups by their sizes, as the data does.
        w = np.array(self.sizes[1:], dtype=float)[:, None] / np.array(self.sizes[1:]).sum()
        pooled = (self.cell_probs()[1:] * w).sum(axis=0)[None] * 1e12
        out.update({k: float(v[0]) for k, v in signed_disparities(p[:, 0], pooled).items()})
        return out


SCENARIOS = (
    Scenario("equal groups, 2 x 500", (500, 500), (0.4,) * 2, (0.7,) * 2, (0.2,) * 2),
    Scenario("equal groups, 6 x 200", (200,) * 6, (0.4,) * 6, (0.7,) * 6, (0.2,) * 6),
    Scenario("equal groups, 2 x 5000", (5000, 5000), (0.3,) * 2, (0.8,) * 2, (0.1,) * 2),
    Scenario("one group differs, 4 x 400", (400,) * 4, (0.4,) * 4, (0.7, 0.7, 0.7, 0.5), (0.2, 0.2, 0.2, 0.1)),
    Scenario("one group differs, 2 x 2000", (2000, 2000), (0.5, 0.5), (0.8, 0.6), (0.3, 0.15)),
    Scenario("small group, 1000 + 1000 + 30", (1000, 1000, 30), (0.4,) * 3, (0.7,) * 3, (0.2,) * 3),
    Scenario("small group differs, 800 + 40", (800, 40), (0.5, 0.3), (0.75, 0.5), (0.25, 0.1)),
    Scenario("rare positives, 3 x 300", (300,) * 3, (0.08, 0.08, 0.08), (0.6, 0.6, 0.6), (0.05, 0.05, 0.05)),
)


def coverage(s: Scenario, draws: int, rng: np.random.Generator) -> dict[str, tuple[float, float, float]]:
    """metric -> (coverage, mean width, share of draws where the metric is defined)."""
    counts = s.draw(draws, rng)
    truth = s.truth()
    est = disparities(group_rates(counts))
    est.update(signed_disparities(counts[:, 0], counts[:, 1:].sum(axis=1)))
    iv = disparity_intervals(counts, CONFIDENCE)
    iv.update(signed_intervals(counts[:, 0], counts[:, 1:].sum(axis=1), CONFIDENCE))
    out = {}
    for m in (*ATTRIBUTE_METRICS, *PRIVILEGED_METRICS):
        if not np.isfinite(truth[m]):
            continue
        lo, hi = iv[m]
        defined = np.isfinite(est[m])
        hit = (lo <= truth[m] + 1e-12) & (truth[m] - 1e-12 <= hi) & defined
        width = np.where(np.isfinite(hi - lo), hi - lo, np.nan)[defined]
        share = float(defined.mean())
        cov = float(hit.sum() / max(defined.sum(), 1))
        out[m] = (cov, float(np.nanmean(width)) if width.size else float("nan"), share)
    return out


def bootstrap_coverage(s: Scenario, draws: int, resamples: int, rng: np.random.Generator) -> dict[str, float]:
    """The replaced method: percentile bootstrap (multinomial per group) of the plain estimates."""
    counts = s.draw(draws, rng)
    truth = s.truth()
    hits = {m: 0 for m in ("demographic_parity_difference", "equalized_odds_difference")}
    for c in counts:
        n = c.sum(axis=1)
        boot = rng.multinomial(n, c / np.maximum(n, 1)[:, None], size=(resamples, c.shape[0]))
        d = disparities(group_rates(boot))
        for m in hits:
            v = d[m][np.isfinite(d[m])]
            lo, hi = np.quantile(v, [0.025, 0.975])
            hits[m] += int(lo <= truth[m] <= hi)
    return {m: h / draws for m, h in hits.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=4000)
    ap.add_argument("--baseline-draws", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    worst = 1.0
    print(f"nominal {CONFIDENCE:.0%} intervals, {args.draws} simulated datasets per scenario; target >= {TARGET:.0%}")
    for s in SCENARIOS:
        cov = coverage(s, args.draws, rng)
        base = bootstrap_coverage(s, args.baseline_draws, 400, rng)
        print(f"\n{s.name}")
        print(f"  {'metric':34}{'coverage':>9}{'width':>8}{'defined':>9}{'bootstrap (before)':>20}")
        for m, (c, w, share) in cov.items():
            b = f"{base[m]:.1%}" if m in base else ""
            print(f"  {m:34}{c:>9.1%}{w:>8.3f}{share:>9.0%}{b:>20}")
            worst = min(worst, c)
    print(f"\nlowest coverage over all scenarios and metrics: {worst:.1%}")
    print("target (>= 93% everywhere):", "met" if worst >= TARGET else "NOT met")


if __name__ == "__main__":
    main()
