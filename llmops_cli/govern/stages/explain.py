"""Explainability: global feature importances from per-row attributions (SHAP or LIME output read from a
file, or computed for a model scikit-learn or ONNX Runtime can load), and how much of them sensitive
attributes and their close proxies carry.

Sources, in order:

1. ``attributions``: a CSV/Parquet file with one row per explained instance and one numeric column per
   feature (what ``pd.DataFrame(shap_values.values, columns=feature_names)`` or LIME's weights per row give).
   One-hot columns (``sex_Male``, ``sex=Female``) are summed per row into their dataset column, as SHAP values
   of one feature's encodings add up. Columns named ``base_value``/``expected_value``/``bias``/``intercept``
   are not features.
2. ``model_file``: a scikit-learn estimator saved with pickle/joblib (loading one runs code from the file: name
   only models you trust) or an ``.onnx`` model. With ``shap`` installed (``pip install 'llmops[explain]'``)
   per-row SHAP values are computed with its permutation explainer on numeric features; otherwise (or with
   non-numeric features) permutation importance: how far the model's score moves, on average, when one
   feature's values are shuffled (model reliance, in score units).

Global importance of a feature = mean |attribution| over rows; ``share`` = its part of the total. A feature is
a proxy of a sensitive attribute when their association reaches ``PROXY_ASSOCIATION``: Cramér's V for a
categorical feature, the correlation ratio η for a numeric one (both 0..1). ``sensitive_share`` and
``proxy_share`` are the parts of the total carried by sensitive attributes and by their proxies.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops_cli.errors import InputError
from llmops_cli.govern.stages import StageResult

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

PROXY_ASSOCIATION = 0.5
NOT_FEATURES = {"base_value", "base_values", "expected_value", "bias", "intercept", "_base_value"}
MODEL_SUFFIXES = {".pkl": "sklearn", ".pickle": "sklearn", ".joblib": "sklearn", ".onnx": "onnx"}
SAMPLE_ROWS = 2000  # rows explained when computing (bounded cost on any dataset)
SHAP_ROWS = 200
BACKGROUND_ROWS = 50
REPEATS = 5
TOP = 10

METRICS_SCHEMA: dict[str, Any] = {
    "available": "bool",
    "source": "string?",
    "method": "string?",
    "rows": "int",
    "warning": "string?",
    "features": {
        "*": {
            "importance": "double",
            "share": "double",
            "rank": "int",
            "sensitive": "bool",
            "proxy_for": "string?",
            "association": "double?",
        }
    },
    "top_features": "list",
    "sensitive_attributes": "list",
    "proxies": {"*": {"attribute": "string", "association": "double"}},
    "sensitive_share": "double",
    "proxy_share": "double",
    "sensitive_or_proxy_share": "double",
}


@dataclass(frozen=True)
class ExplainConfig:
    attributions: Path | None = None
    model_file: Path | None = None
    features: tuple[str, ...] = ()
    sensitive: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()  # label, prediction, score: never features
    seed: int = 0


def missing(warning: str, sensitive: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "available": False,
        "source": None,
        "method": None,
        "rows": 0,
        "warning": warning,
        "features": {},
        "top_features": [],
        "sensitive_attributes": list(sensitive),
        "proxies": {},
        "sensitive_share": 0.0,
        "proxy_share": 0.0,
        "sensitive_or_proxy_share": 0.0,
    }


def run_explain(df: pd.DataFrame | None, cfg: ExplainConfig, *, display: Callable[[Path], str] = str) -> StageResult:
    if cfg.attributions is not None:
        from llmops_cli.govern.io import read_table

        table = read_table(cfg.attributions)
        per_row = attribution_columns(table, df, cfg, source=display(cfg.attributions))
        source, method = "attributions", f"per-row attributions from {display(cfg.attributions)}"
    elif cfg.model_file is not None:
        if df is None:
            raise InputError(
                "explaining a model needs the dataset",
                hint="set governance.inputs.data (or --data) next to governance.inputs.model_file",
            )
        per_row, source, method = compute_attributions(df, cfg, display(cfg.model_file))
    else:
        return StageResult(
            "explain",
            missing(
                "no explanations: give per-row SHAP/LIME attributions (governance.inputs.attributions) or a model "
                "file to explain (governance.inputs.model_file)",
                cfg.sensitive,
            ),
        )
    return StageResult("explain", summarise(per_row, df, cfg, source=source, method=method))


# ----------------------------------------------------------------------------------------- reading
def attribution_columns(
    table: pd.DataFrame, df: pd.DataFrame | None, cfg: ExplainConfig, *, source: str
) -> pd.DataFrame:
    """Per-row attributions keyed by dataset column (one-hot columns summed into theirs)."""
    import pandas as pd

    numeric = [
        c
        for c in table.columns
        if pd.api.types.is_numeric_dtype(table[c])
        and not pd.api.types.is_bool_dtype(table[c])
        and str(c).lower() not in NOT_FEATURES
    ]
    if cfg.features:
        wanted = [c for c in numeric if _owner(str(c), cfg.features) is not None]
    else:
        wanted = [c for c in numeric if str(c) not in cfg.exclude]
    if not wanted:
        raise InputError(
            f"{source}: no numeric attribution columns"
            + (f" for the features {', '.join(cfg.features)}" if cfg.features else ""),
            hint="one row per explained instance, one numeric column per feature (SHAP values or LIME weights)",
        )
    nulls = [str(c) for c in wanted if table[c].isna().any()]
    if nulls:
        raise InputError(
            f"{source}: attribution column(s) {', '.join(nulls)} have missing values",
            hint="export every attribution; a missing one is not a zero",
        )
    columns = list(df.columns) if df is not None else list(cfg.features)
    groups: dict[str, list[str]] = {}
    for c in wanted:
        groups.setdefault(_owner(str(c), columns) or str(c), []).append(c)
    return pd.DataFrame({name: table[cols].sum(axis=1) for name, cols in groups.items()})


def _owner(column: str, names: Sequence[str]) -> str | None:
    """The dataset column an attribution column belongs to: itself, or the longest ``name_``/``name=`` prefix."""
    if column in names:
        return column
    best = None
    for n in names:
        if column.startswith((f"{n}_", f"{n}=")) and (best is None or len(n) > len(best)):
            best = n
    return best


# ----------------------------------------------------------------------------------------- computing
def compute_attributions(df: pd.DataFrame, cfg: ExplainConfig, shown: str) -> tuple[pd.DataFrame, str, str]:
    import numpy as np

    assert cfg.model_file is not None
    model = load_model(cfg.model_file, shown)
    features = list(cfg.features) or model.features or [c for c in df.columns if c not in cfg.exclude]
    from llmops_cli.govern.io import require_columns

    require_columns(shown, [str(c) for c in df.columns], features)
    rng = np.random.default_rng(cfg.seed)
    rows = df[features]
    if len(rows) > SAMPLE_ROWS:
        rows = rows.iloc[np.sort(rng.choice(len(rows), SAMPLE_ROWS, replace=False))]
    rows = rows.reset_index(drop=True)
    try:
        model.score(rows.iloc[:5])
    except InputError:
        raise
    except Exception as e:  # the model's own error: wrong features, types or shapes
        raise InputError(
            f"{shown}: the model cannot score the dataset's columns {', '.join(features)}: {_first_line(e)}",
            hint="name the model's input columns with governance.inputs.features",
        ) from e
    numeric = all(_is_number(rows[c]) for c in features)
    if numeric and _has_shap():
        return _shap_values(model, rows, rng), "shap", f"SHAP (permutation explainer) for {shown}"
    how = "permutation importance" + ("" if numeric else " (non-numeric features)")
    return _permutation(model, rows, rng), "permutation", f"{how} for {shown}"


def _is_number(s: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s))


def _has_shap() -> bool:
    from importlib.util import find_spec

    return find_spec("shap") is not None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__


def _permutation(model: LoadedModel, rows: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """|f(x) − f(x with one feature shuffled)| per row, averaged over REPEATS shuffles."""
    import numpy as np
    import pandas as pd

    base = model.score(rows)
    out = {}
    for c in rows.columns:
        moved = np.zeros(len(rows))
        for _ in range(REPEATS):
            shuffled = rows.copy()
            shuffled[c] = rows[c].to_numpy()[rng.permutation(len(rows))]
            moved += np.abs(model.score(shuffled) - base)
        out[c] = moved / REPEATS
    return pd.DataFrame(out)


def _shap_values(model: LoadedModel, rows: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    import numpy as np
    import pandas as pd
    import shap  # optional: the 'explain' extra

    columns = list(rows.columns)
    dtypes = rows.dtypes.to_dict()
    sample = rows.iloc[np.sort(rng.choice(len(rows), min(SHAP_ROWS, len(rows)), replace=False))]
    background = rows.iloc[rng.choice(len(rows), min(BACKGROUND_ROWS, len(rows)), replace=False)]

    def f(x: np.ndarray) -> np.ndarray:
        return model.score(pd.DataFrame(x, columns=columns).astype(dtypes))

    explainer = shap.Explainer(
        f,
        shap.maskers.Independent(background.to_numpy(dtype="float64")),
        algorithm="permutation",
        seed=int(rng.integers(2**31)),
    )
    values = explainer(sample.to_numpy(dtype="float64"), max_evals=2 * (2 * len(columns) + 1), silent=True).values
    return pd.DataFrame(np.asarray(values, dtype="float64"), columns=columns)


@dataclass
class LoadedModel:
    kind: str
    features: list[str]
    score: Callable[[pd.DataFrame], np.ndarray]


def load_model(path: Path, shown: str) -> LoadedModel:
    kind = MODEL_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InputError(
            f"{shown}: unknown model file type {path.suffix or '(none)'!r}",
            hint="give a scikit-learn model saved as .pkl/.joblib, or an .onnx model",
        )
    if not path.is_file():
        raise InputError(f"{shown}: model file not found", hint="check governance.inputs.model_file")
    return _load_onnx(path, shown) if kind == "onnx" else _load_sklearn(path, shown)


def _load_sklearn(path: Path, shown: str) -> LoadedModel:
    import numpy as np

    # Unpickling runs code from the file: only the file the user named is loaded (documented above).
    try:
        try:
            import joblib  # scikit-learn's own (de)serialiser; reads plain pickles too
        except ImportError:
            import pickle

            with path.open("rb") as fh:
                model = pickle.load(fh)  # noqa: S301
        else:
            model = joblib.load(path)
    except Exception as e:
        raise InputError(
            f"{shown}: cannot load the model: {_first_line(e)}",
            hint="save it with joblib.dump or pickle from the same scikit-learn version",
        ) from e
    if hasattr(model, "predict_proba"):

        def score(x: pd.DataFrame) -> np.ndarray:
            p = np.asarray(model.predict_proba(x))
            return p[:, -1].astype("float64") if p.ndim == 2 else p.astype("float64")
    elif hasattr(model, "decision_function"):

        def score(x: pd.DataFrame) -> np.ndarray:
            return np.asarray(model.decision_function(x), dtype="float64").reshape(len(x), -1)[:, -1]
    elif hasattr(model, "predict"):

        def score(x: pd.DataFrame) -> np.ndarray:
            return np.asarray(model.predict(x), dtype="float64").reshape(len(x))
    else:
        raise InputError(f"{shown}: the object in the file is not a model (no predict)", hint="save the estimator")
    names = [str(n) for n in getattr(model, "feature_names_in_", [])]
    return LoadedModel("sklearn", names, score)


def _load_onnx(path: Path, shown: str) -> LoadedModel:
    import numpy as np

    try:
        import onnxruntime as ort
    except ImportError as e:
        raise InputError(
            "explaining an ONNX model needs onnxruntime", hint="pip install 'llmops[explain]' (or onnxruntime)"
        ) from e
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:
        raise InputError(f"{shown}: cannot load the ONNX model: {_first_line(e)}") from e
    inputs = session.get_inputs()
    outputs = [o.name for o in session.get_outputs()]
    wanted = next((o for o in outputs if "prob" in o.lower()), outputs[-1] if len(outputs) > 1 else outputs[0])

    def tensor(values: Any, onnx_type: str, shape: tuple[int, ...]) -> np.ndarray:
        kind = {
            "tensor(float)": "float32",
            "tensor(double)": "float64",
            "tensor(int64)": "int64",
            "tensor(int32)": "int32",
            "tensor(string)": "object",
            "tensor(bool)": "bool",
        }.get(onnx_type, "float32")
        arr = np.asarray(values)
        return (arr.astype(str) if kind == "object" else arr).astype(kind).reshape(shape)

    def score(x: pd.DataFrame) -> np.ndarray:
        if len(inputs) == 1:
            feed = {inputs[0].name: tensor(x.to_numpy(), inputs[0].type, (len(x), x.shape[1]))}
        else:
            feed = {i.name: tensor(x[i.name].to_numpy(), i.type, (len(x), 1)) for i in inputs}
        out = session.run([wanted], feed)[0]
        if isinstance(out, list) and out and isinstance(out[0], dict):  # skl2onnx's ZipMap: one dict per row
            key = max(out[0])
            return np.array([row[key] for row in out], dtype="float64")
        arr = np.asarray(out, dtype="float64")
        return arr[:, -1] if arr.ndim == 2 else arr.reshape(len(x))

    names = [i.name for i in inputs] if len(inputs) > 1 else []
    return LoadedModel("onnx", names, score)


# ----------------------------------------------------------------------------------------- summary
def summarise(
    per_row: pd.DataFrame, df: pd.DataFrame | None, cfg: ExplainConfig, *, source: str, method: str
) -> dict[str, Any]:
    import numpy as np

    importance = {str(c): float(np.abs(per_row[c].to_numpy(dtype="float64")).mean()) for c in per_row.columns}
    total = sum(importance.values())
    order = sorted(importance, key=lambda c: (-importance[c], c))
    sensitive = [s for s in cfg.sensitive]
    proxies = find_proxies(df, [c for c in order if c not in sensitive], sensitive) if df is not None else {}
    features: dict[str, Any] = {}
    for rank, c in enumerate(order, start=1):
        p = proxies.get(c)
        features[c] = {
            "importance": importance[c],
            "share": importance[c] / total if total > 0 else 0.0,
            "rank": rank,
            "sensitive": c in sensitive,
            "proxy_for": p["attribute"] if p else None,
            "association": p["association"] if p else None,
        }
    s_share = float(sum(f["share"] for f in features.values() if f["sensitive"]))
    p_share = float(sum(f["share"] for c, f in features.items() if c in proxies))
    return {
        "available": True,
        "source": source,
        "method": method,
        "rows": len(per_row),
        "warning": None if total > 0 else "every attribution is zero",
        "features": features,
        "top_features": order[:TOP],
        "sensitive_attributes": sensitive,
        "proxies": proxies,
        "sensitive_share": s_share,
        "proxy_share": p_share,
        "sensitive_or_proxy_share": s_share + p_share,
    }


def find_proxies(df: pd.DataFrame, features: Sequence[str], sensitive: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Features whose association with a sensitive attribute reaches PROXY_ASSOCIATION (the strongest one)."""
    out: dict[str, dict[str, Any]] = {}
    for f in features:
        if f not in df.columns:
            continue
        best: tuple[float, str] | None = None
        for s in sensitive:
            if s not in df.columns or s == f:
                continue
            a = association(df[f], df[s])
            if a is not None and a >= PROXY_ASSOCIATION and (best is None or a > best[0]):
                best = (a, s)
        if best is not None:
            out[f] = {"attribute": best[1], "association": round(best[0], 6)}
    return out


def association(feature: pd.Series, attribute: pd.Series) -> float | None:
    """Cramér's V (categorical feature) or the correlation ratio η (numeric feature) with a categorical
    attribute; None when it cannot be computed (fewer than two values on either side)."""
    import numpy as np
    import pandas as pd

    mask = feature.notna() & attribute.notna()
    f, a = feature[mask], attribute[mask].astype(str)
    if len(f) < 2 or a.nunique() < 2 or f.nunique() < 2:
        return None
    if _is_number(f) and f.nunique() > 10:
        x = f.to_numpy(dtype="float64")
        total = float(((x - x.mean()) ** 2).sum())
        if total == 0:
            return None
        grouped = pd.DataFrame({"x": x, "a": a.to_numpy()}).groupby("a")["x"].agg(["mean", "count"])
        between = float((grouped["count"] * (grouped["mean"] - x.mean()) ** 2).sum())
        return math.sqrt(between / total)
    table = pd.crosstab(f.astype(str), a).to_numpy(dtype="float64")
    n = table.sum()
    expected = table.sum(axis=1, keepdims=True) @ table.sum(axis=0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / np.where(expected > 0, expected, 1)).sum())
    k = min(table.shape) - 1
    return math.sqrt(chi2 / (n * k)) if k > 0 else None
