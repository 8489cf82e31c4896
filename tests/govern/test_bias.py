"""Bias metrics: equal to Fairlearn's (1e-9), AIF360's signed variants, groups, bootstrap, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmops_cli.errors import InputError
from llmops_cli.govern.stages.bias import (
    ATTRIBUTE_METRICS,
    MISSING_GROUP,
    BiasConfig,
    bootstrap_counts,
    confusion_counts,
    prepare,
    scan,
)
from tests.govern.conftest import fairlearn_metrics, scored_frame

TOL = 1e-9


def fairlearn_reference(df: pd.DataFrame, label: str, pred: str, features) -> dict[str, float]:
    from fairlearn.metrics import (
        demographic_parity_difference,
        demographic_parity_ratio,
        equal_opportunity_difference,
        equalized_odds_difference,
    )

    kw = {"y_true": df[label], "y_pred": df[pred], "sensitive_features": features}
    return {
        "demographic_parity_difference": demographic_parity_difference(**kw),
        "demographic_parity_ratio": demographic_parity_ratio(**kw),
        "equalized_odds_difference": equalized_odds_difference(**kw),
        "equal_opportunity_difference": equal_opportunity_difference(**kw),
    }


def fairlearn_groups(df: pd.DataFrame, label: str, pred: str, features) -> pd.DataFrame:
    from fairlearn.metrics import MetricFrame

    metrics = fairlearn_metrics()
    return MetricFrame(metrics=metrics, y_true=df[label], y_pred=df[pred], sensitive_features=features).by_group


def run(df: pd.DataFrame, **kw) -> dict:
    cfg = BiasConfig(label="label", prediction="pred", sensitive=kw.pop("sensitive", ("sex", "race")), **kw)
    return scan(prepare(df, cfg, source="test.csv"), cfg)


def test_equals_fairlearn_on_synthetic_data_including_intersections() -> None:
    df = scored_frame(5000, seed=3)
    out = run(df, min_group_size=1)
    for name, feats in (("sex", df["sex"]), ("race", df["race"]), ("sex__race", df[["sex", "race"]])):
        ref = fairlearn_reference(df, "label", "pred", feats)
        for k in ATTRIBUTE_METRICS:
            assert abs(out[name][k] - ref[k]) <= TOL, (name, k)
    by_group = fairlearn_groups(df, "label", "pred", df["race"])
    for g, row in by_group.iterrows():
        ours = out["race"]["groups"][str(g)]
        for k in ("count", "selection_rate", "tpr", "fpr", "fnr", "precision"):
            assert abs(ours[k] - float(row[k])) <= TOL, (g, k)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.integers(min_value=4, max_value=300),
    groups=st.integers(min_value=2, max_value=5),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    p_pos=st.floats(min_value=0.0, max_value=1.0),
    p_sel=st.floats(min_value=0.0, max_value=1.0),
)
def test_property_equals_fairlearn(rows: int, groups: int, seed: int, p_pos: float, p_sel: float) -> None:
    rng = np.random.default_rng(seed)
    rows = max(rows, groups)
    g = rng.integers(0, groups, size=rows)
    g[:groups] = np.arange(groups)  # every group present
    df = pd.DataFrame(
        {
            "grp": [f"g{x}" for x in g],
            "label": (rng.random(rows) < p_pos).astype(int),
            "pred": (rng.random(rows) < p_sel).astype(int),
        }
    )
    cfg = BiasConfig(label="label", prediction="pred", sensitive=("grp",), min_group_size=1)
    out = scan(prepare(df, cfg, source="t"), cfg)["grp"]
    ref = fairlearn_reference(df, "label", "pred", df["grp"])
    for k in ATTRIBUTE_METRICS:
        if k == "demographic_parity_ratio" and df["pred"].sum() == 0:
            assert out[k] == 1.0  # documented: nobody selected is parity (Fairlearn gives NaN)
            continue
        assert abs(out[k] - ref[k]) <= TOL, k


def test_signed_metrics_follow_aif360_definitions() -> None:
    df = scored_frame(4000, seed=5)
    out = run(df, privileged={"sex": "male"}, sensitive=("sex",))["sex"]
    priv, unpriv = df[df.sex == "male"], df[df.sex != "male"]

    def rates(d: pd.DataFrame) -> tuple[float, float, float]:
        sel = d.pred.mean()
        tpr = d[d.label == 1].pred.mean()
        fpr = d[d.label == 0].pred.mean()
        return sel, tpr, fpr

    sp, tp, fp = rates(priv)
    su, tu, fu = rates(unpriv)
    assert out["privileged"] == "male"
    assert abs(out["statistical_parity_difference"] - (su - sp)) <= TOL
    assert abs(out["disparate_impact"] - su / sp) <= TOL
    assert abs(out["average_odds_difference"] - 0.5 * ((fu - fp) + (tu - tp))) <= TOL


def test_small_groups_are_reported_and_left_out() -> None:
    df = scored_frame(2000, seed=1)
    out = run(df, min_group_size=150, sensitive=("race",))["race"]
    small = sorted(g for g, v in out["groups"].items() if v["count"] < 150)
    assert small and out["insufficient_groups"] == small
    assert all(not out["groups"][g]["sufficient"] for g in small)
    big = df[~df.race.isin(small)]
    ref = fairlearn_reference(big, "label", "pred", big["race"])
    for k in ATTRIBUTE_METRICS:
        assert abs(out[k] - ref[k]) <= TOL


def test_attribute_without_two_sufficient_groups_has_null_disparities() -> None:
    df = scored_frame(300, seed=2)
    out = run(df, min_group_size=10_000, sensitive=("sex",))
    assert out["sex"]["sufficient"] is False
    assert out["sex"]["demographic_parity_ratio"] is None
    assert "demographic_parity_ratio" not in out["worst"]


def test_worst_aggregates_single_attributes() -> None:
    out = run(scored_frame(3000, seed=4), min_group_size=1)
    assert out["worst"]["demographic_parity_ratio"] == min(
        out["sex"]["demographic_parity_ratio"], out["race"]["demographic_parity_ratio"]
    )
    assert out["worst"]["equalized_odds_difference"] == max(
        out["sex"]["equalized_odds_difference"], out["race"]["equalized_odds_difference"]
    )


def test_confusion_counts_one_bincount() -> None:
    codes = np.array([0, 0, 1, 1, 1])
    cell = np.array([0, 3, 1, 2, 3])
    assert confusion_counts(codes, 2, cell).tolist() == [[1, 0, 0, 1], [0, 1, 1, 1]]


def test_bootstrap_reproducible_by_seed_and_intervals_bracket_estimate() -> None:
    df = scored_frame(3000, seed=6)
    a = run(df, bootstrap=300, seed=11, privileged={"sex": "male"})
    b = run(df, bootstrap=300, seed=11, privileged={"sex": "male"})
    c = run(df, bootstrap=300, seed=12, privileged={"sex": "male"})
    assert a["sex"]["ci"] == b["sex"]["ci"]
    assert a["sex"]["ci"] != c["sex"]["ci"]
    ci = a["sex"]["ci"]["demographic_parity_difference"]
    assert ci["low"] <= a["sex"]["demographic_parity_difference"] <= ci["high"]
    assert "statistical_parity_difference" in a["sex"]["ci"]
    assert a["bootstrap"] == {"resamples": 300, "seed": 11, "confidence": 0.95}


def test_bootstrap_counts_keep_group_sizes() -> None:
    counts = np.array([[10, 5, 3, 2], [100, 0, 0, 50]])
    draws = bootstrap_counts(counts, 200, np.random.default_rng(0))
    assert draws.shape == (200, 2, 4)
    assert (draws.sum(axis=2) == counts.sum(axis=1)).all()
    assert (draws[:, 1, 1:3] == 0).all()  # impossible cells stay empty


def test_positive_value_for_string_labels() -> None:
    df = scored_frame(500, seed=7)
    df["label"] = np.where(df.label == 1, ">50K", "<=50K")
    df["pred"] = np.where(df.pred == 1, ">50K", "<=50K")
    with pytest.raises(InputError, match=r"label column 'label' is not 0/1.*--positive"):
        run(df)
    out = run(df, positive=">50K", min_group_size=1)
    ref = run(scored_frame(500, seed=7), min_group_size=1)
    assert out["sex"]["demographic_parity_difference"] == ref["sex"]["demographic_parity_difference"]


def test_missing_columns_are_named_with_the_available_ones() -> None:
    df = scored_frame(100)
    cfg = BiasConfig(label="label", prediction="pred", sensitive=("gender",))
    with pytest.raises(InputError) as e:
        prepare(df, cfg, source="scored.csv")
    assert "'gender'" in str(e.value) and "available: sex, race, label, pred, score" in str(e.value)


def test_nan_predictions_are_rejected() -> None:
    df = scored_frame(100).astype({"pred": float})
    df.loc[3, "pred"] = np.nan
    with pytest.raises(InputError, match="prediction column 'pred' has 1 missing"):
        run(df)


def test_scores_instead_of_predictions_are_rejected() -> None:
    df = scored_frame(100)
    df["pred"] = df["score"]
    with pytest.raises(InputError, match="looks like probabilities"):
        run(df)


def test_single_value_group_column_is_rejected() -> None:
    df = scored_frame(100)
    df["sex"] = "female"
    with pytest.raises(InputError, match="single value"):
        run(df)


def test_missing_group_values_form_their_own_group() -> None:
    df = scored_frame(200)
    df.loc[:9, "race"] = None
    out = run(df, min_group_size=1, sensitive=("race",))
    assert out["race"]["groups"][MISSING_GROUP]["count"] == 10


def test_unknown_privileged_value_lists_groups() -> None:
    with pytest.raises(InputError, match="groups are female, male"):
        run(scored_frame(100), privileged={"sex": "other"})


def test_score_column_gives_mean_score_per_group() -> None:
    df = scored_frame(400, seed=8)
    out = run(df, score="score", min_group_size=1, sensitive=("sex",))
    for g, v in out["sex"]["groups"].items():
        assert abs(v["mean_score"] - df[df.sex == g].score.mean()) <= TOL
    df["score"] = df["sex"]
    with pytest.raises(InputError, match="score column 'score' is not numeric"):
        run(df, score="score")


def test_signed_metrics_pool_only_sufficient_groups() -> None:
    df = scored_frame(3000, seed=9)
    out = run(df, privileged={"race": "a"}, sensitive=("race",), min_group_size=200)["race"]
    small = set(out["insufficient_groups"])
    assert small and "a" not in small
    priv, unpriv = df[df.race == "a"], df[(df.race != "a") & ~df.race.isin(small)]
    assert abs(out["statistical_parity_difference"] - (unpriv.pred.mean() - priv.pred.mean())) <= TOL
    out = run(df, privileged={"race": "d"}, sensitive=("race",), min_group_size=200)["race"]
    assert out["privileged"] == "d" and out["disparate_impact"] is None  # "d" itself is too small
