"""The explain stage: attributions read from a file, computed for real scikit-learn and ONNX models (SHAP and
permutation importance), proxies of sensitive attributes, the default rules and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from llmops_cli.errors import InputError
from llmops_cli.govern.stages import explain as ex
from llmops_cli.govern.stages.explain import ExplainConfig, association, run_explain
from tests.helpers import run_cli


def applicants(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """income drives the label; 'area' is a near-copy of sex (a proxy); noise is unrelated."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["f", "m"], size=n)
    area = np.where(rng.random(n) < 0.92, np.where(sex == "f", "north", "south"), "east")
    income = rng.normal(50, 15, size=n)
    noise = rng.normal(0, 1, size=n)
    y = (income + rng.normal(0, 5, size=n) > 50).astype(int)
    return pd.DataFrame({"sex": sex, "area": area, "income": income, "noise": noise, "label": y})


def metrics(df: pd.DataFrame | None, **kw) -> dict:
    return run_explain(df, ExplainConfig(**kw)).metrics


def test_attributions_file_gives_global_importances_and_groups_one_hot_columns(tmp_path: Path) -> None:
    df = applicants()
    rows = pd.DataFrame(
        {
            "income": np.linspace(-2, 2, len(df)),  # mean |.| = 1.0
            "area_north": 0.3,  # one-hot columns of 'area' add up per row: |0.3 - 0.1| = 0.2
            "area_south": -0.1,
            "sex=f": 0.05,
            "base_value": 7.0,  # not a feature
            "row_id": range(len(df)),
        }
    )
    path = tmp_path / "shap.parquet"
    rows.drop(columns="row_id").to_parquet(path)
    m = metrics(df, attributions=path, sensitive=("sex",))
    assert m["available"] and m["source"] == "attributions"
    assert set(m["features"]) == {"income", "area", "sex"}
    assert m["features"]["income"]["importance"] == pytest.approx(1.0, abs=0.01)
    assert m["features"]["area"]["importance"] == pytest.approx(0.2)
    total = 1.0 + 0.2 + 0.05
    assert m["sensitive_share"] == pytest.approx(0.05 / total, rel=0.01)
    assert m["proxies"]["area"]["attribute"] == "sex" and m["proxies"]["area"]["association"] > 0.8
    assert m["features"]["area"]["proxy_for"] == "sex"
    assert m["sensitive_or_proxy_share"] == pytest.approx(0.25 / total, rel=0.01)
    assert m["top_features"][0] == "income"


def test_association_measures() -> None:
    df = applicants(2000, seed=3)
    assert association(df["area"], df["sex"]) > 0.8  # Cramér's V of a near-copy
    assert association(df["noise"], df["sex"]) < 0.1  # correlation ratio of an unrelated number
    assert association(pd.Series(["a"] * 10), df["sex"][:10]) is None


def test_missing_explanations_are_a_warning_not_a_crash() -> None:
    m = metrics(applicants(), sensitive=("sex",))
    assert m["available"] is False and "no explanations" in m["warning"]


@pytest.mark.parametrize(
    ("frame", "needle"),
    [
        (pd.DataFrame({"feature": ["a", "b"]}), "no numeric attribution columns"),
        (pd.DataFrame({"income": [0.1, None]}), "have missing values"),
    ],
)
def test_bad_attribution_files_are_bad_input(tmp_path: Path, frame: pd.DataFrame, needle: str) -> None:
    path = tmp_path / "a.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match=needle):
        metrics(applicants(), attributions=path)


# ----------------------------------------------------------------------------------------- real models
def fitted(df: pd.DataFrame, columns: list[str]):
    from sklearn.linear_model import LogisticRegression

    x = df[columns].to_numpy(dtype="float64")
    return LogisticRegression(max_iter=1000).fit(pd.DataFrame(x, columns=columns), df["label"])


def numeric_frame(n: int = 400) -> pd.DataFrame:
    df = applicants(n)
    df["sex_code"] = (df["sex"] == "m").astype(float)
    return df


@pytest.fixture
def sklearn_model(tmp_path: Path) -> Path:
    import joblib

    path = tmp_path / "model.joblib"
    joblib.dump(fitted(numeric_frame(), ["income", "noise"]), path)
    return path


def test_permutation_importance_for_a_scikit_learn_model(sklearn_model: Path, monkeypatch) -> None:
    monkeypatch.setattr(ex, "_has_shap", lambda: False)
    m = metrics(numeric_frame(), model_file=sklearn_model, sensitive=("sex",), exclude=("label",))
    assert m["source"] == "permutation" and m["top_features"][0] == "income"
    assert set(m["features"]) == {"income", "noise"}  # the model's own feature_names_in_
    assert m["features"]["income"]["share"] > 0.9


@pytest.mark.slow  # shap's numba functions compile on first use: ~15 s per process
def test_shap_values_for_a_scikit_learn_model(sklearn_model: Path) -> None:
    pytest.importorskip("shap")
    m = metrics(numeric_frame(), model_file=sklearn_model, sensitive=("sex",))
    assert m["source"] == "shap" and m["top_features"][0] == "income"
    assert m["features"]["income"]["share"] > 0.9


def test_onnx_model_converted_from_scikit_learn_scores_like_it(tmp_path: Path, monkeypatch) -> None:
    """skl2onnx's graph with a ZipMap output, run by onnxruntime: the same importances as the sklearn model."""
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType

    df = numeric_frame()
    model = fitted(df, ["income", "sex_code"])
    onx = skl2onnx.convert_sklearn(model, initial_types=[("input", FloatTensorType([None, 2]))])
    path = tmp_path / "model.onnx"
    path.write_bytes(onx.SerializeToString())
    loaded = ex.load_model(path, "model.onnx")
    x = df[["income", "sex_code"]]
    assert np.allclose(loaded.score(x), model.predict_proba(x)[:, 1], atol=1e-5)
    monkeypatch.setattr(ex, "_has_shap", lambda: False)
    m = metrics(df, model_file=path, features=("income", "sex_code"), sensitive=("sex_code",))
    assert m["source"] == "permutation" and set(m["features"]) == {"income", "sex_code"}
    assert m["features"]["sex_code"]["sensitive"] is True


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("model.h5", b"x", "unknown model file type '.h5'"),
        ("model.onnx", b"not onnx", "cannot load the ONNX model"),
        ("model.pkl", b"not a pickle", "cannot load the model"),
    ],
)
def test_bad_model_files_are_bad_input(tmp_path: Path, name: str, content: bytes, needle: str) -> None:
    if name.endswith(".onnx"):
        pytest.importorskip("onnxruntime")
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=needle):
        metrics(numeric_frame(), model_file=path)


def test_a_model_that_cannot_score_the_columns_names_them(sklearn_model: Path) -> None:
    with pytest.raises(InputError, match="cannot score the dataset's columns income, sex"):
        metrics(numeric_frame(), model_file=sklearn_model, features=("income", "sex"))


# ----------------------------------------------------------------------------------------- check + CLI
def test_check_gates_on_attribution_carried_by_a_sensitive_attribute(project: Path) -> None:
    from tests.govern.test_check import check

    attr = project / "data" / "attributions.csv"
    rows = pd.read_csv(attr)
    rows["sex"] = rows["credit_score"]  # the model now leans on sex as much as on the credit score
    rows.to_csv(attr, index=False)
    report = check(project)
    outcomes = {r.id: r.outcome for r in report.results}
    assert outcomes["sensitive-attribution"] == "fail" and report.status == "fail"
    explained = json.loads((report.bundle / "explain.json").read_text())
    assert explained["sensitive_share"] > 0.3
    card = (report.bundle / "model_card.md").read_text()
    assert "## Explanations" in card and "| sex |" in card


def test_check_without_explanations_warns(project: Path) -> None:
    from tests.govern.test_check import check

    text = (project / "llmops.yaml").read_text()
    (project / "llmops.yaml").write_text(
        "\n".join(line for line in text.splitlines() if "attributions" not in line) + "\n"
    )
    report = check(project)
    outcomes = {r.id: r.outcome for r in report.results}
    assert outcomes["explanations-present"] == "fail" and outcomes["sensitive-attribution"] == "pass"
    assert report.status == "pass"  # a warning
    assert "no explanations" in (report.bundle / "model_card.md").read_text()


def test_cli_explain_flags_reach_the_stage(tmp_path: Path) -> None:
    df = applicants()
    data, attr = tmp_path / "d.csv", tmp_path / "a.csv"
    df.to_csv(data, index=False)
    pd.DataFrame({"income": [1.0, -1.0], "area": [0.5, 0.5]}).to_csv(attr, index=False)
    r = run_cli(
        *("govern", "explain", "--data", str(data), "--attributions", str(attr), "--sensitive", "sex", "-o", "json")
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)["data"]
    assert d["top_features"] == ["income", "area"] and d["proxies"]["area"]["attribute"] == "sex"
    r = run_cli("govern", "explain", "--data", str(data), "--model-file", str(tmp_path / "m.h5"))
    assert r.exit_code == 2 and "unknown model file type" in r.stderr
