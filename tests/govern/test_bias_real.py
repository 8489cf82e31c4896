"""Bias metrics on real data (Adult, German credit, COMPAS) against Fairlearn, to 1e-9.

The CSVs come from the ``fairness==0.1.8`` wheel (Friedler et al.'s benchmark). pip >= 24.1 refuses that
wheel's metadata, so CI downloads it with an older pip and points FAIRNESS_WHEEL at it:

    python -m venv /tmp/oldpip && /tmp/oldpip/bin/pip install 'pip<24.1'
    /tmp/oldpip/bin/pip download fairness==0.1.8 --no-deps -d .cache/fairness
    export FAIRNESS_WHEEL=$PWD/.cache/fairness/fairness-0.1.8-py3-none-any.whl

Without it these tests are skipped.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from llmops_cli.govern.stages.bias import ATTRIBUTE_METRICS, BiasConfig, prepare, scan
from tests.govern.test_bias import TOL, fairlearn_reference


def _wheel() -> Path | None:
    env = os.environ.get("FAIRNESS_WHEEL")
    candidates = [Path(env)] if env else []
    candidates += sorted(Path(__file__).resolve().parents[2].glob(".cache/fairness/fairness-0.1.8-*.whl"))
    return next((p for p in candidates if p.is_file()), None)


WHEEL = _wheel()
pytestmark = pytest.mark.skipif(WHEEL is None, reason="fairness==0.1.8 wheel not found (set FAIRNESS_WHEEL)")


def load(name: str) -> pd.DataFrame:
    assert WHEEL is not None
    with zipfile.ZipFile(WHEEL) as z:
        return pd.read_csv(io.BytesIO(z.read(f"fairness/data/preprocessed/{name}_original.csv")))


def with_rule_predictions(df: pd.DataFrame, label: pd.Series, rule: pd.Series) -> pd.DataFrame:
    out = df.copy()
    out["y"] = label.astype(int).to_numpy()
    out["y_hat"] = rule.astype(int).to_numpy()
    return out


CASES = {
    # dataset: (label, deterministic "model", sensitive columns, privileged)
    "adult": (
        lambda d: d["income-per-year"] == ">50K",
        lambda d: (d["education-num"] >= 13) | (d["capital-gain"] > 5000),
        ("sex", "race"),
        {"sex": "Male"},
    ),
    "german": (
        lambda d: d["credit"] == 1,
        lambda d: d["credit_amount"] < 4000,
        ("sex", "age"),
        {"age": "adult"},
    ),
    "propublica-recidivism": (
        lambda d: d["two_year_recid"] == 1,
        lambda d: d["priors_count"] >= 3,
        ("race", "sex"),
        {"race": "Caucasian"},
    ),
}


@pytest.mark.parametrize("dataset", sorted(CASES))
def test_equals_fairlearn_on_real_data(dataset: str) -> None:
    label, rule, sensitive, privileged = CASES[dataset]
    raw = load(dataset)
    df = with_rule_predictions(raw, label(raw), rule(raw))
    cfg = BiasConfig(label="y", prediction="y_hat", sensitive=sensitive, privileged=privileged, min_group_size=1)
    out = scan(prepare(df, cfg, source=dataset), cfg)
    a, b = sensitive
    for name, feats in ((a, df[a]), (b, df[b]), (f"{a}__{b}", df[[a, b]])):
        ref = fairlearn_reference(df, "y", "y_hat", feats)
        for k in ATTRIBUTE_METRICS:
            assert abs(out[name][k] - ref[k]) <= TOL, (dataset, name, k)
    attr, value = next(iter(privileged.items()))
    priv = df[df[attr] == value]
    unpriv = df[df[attr] != value]
    spd = unpriv.y_hat.mean() - priv.y_hat.mean()
    assert abs(out[attr]["statistical_parity_difference"] - spd) <= TOL
    assert np.isclose(out[attr]["disparate_impact"], unpriv.y_hat.mean() / priv.y_hat.mean(), rtol=0, atol=TOL)
