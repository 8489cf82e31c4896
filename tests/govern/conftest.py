"""Fixtures for governance tests: a copy of the example project, synthetic scored datasets."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def copy_example(tmp_path: Path) -> Path:
    """A private copy of examples/ (without any evidence written by earlier runs)."""
    dest = tmp_path / "project"
    shutil.copytree(EXAMPLES, dest, ignore=shutil.ignore_patterns("evidence", "__pycache__"))
    return dest


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_example(tmp_path)


def scored_frame(rows: int = 3000, seed: int = 0):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    sex = rng.choice(np.array(["female", "male"]), size=rows)
    race = rng.choice(np.array(["a", "b", "c", "d"]), size=rows, p=[0.5, 0.3, 0.15, 0.05])
    y = (rng.random(rows) < 0.4).astype(int)
    flip = rng.random(rows) < np.where(sex == "female", 0.3, 0.15)
    pred = np.where(flip, 1 - y, y)
    return pd.DataFrame({"sex": sex, "race": race, "label": y, "pred": pred, "score": rng.random(rows)})


def fairlearn_metrics() -> dict:
    """The per-group metrics, as Fairlearn computes them: the reference both the equality tests and
    benchmarks/govern_bias.py's baseline use."""
    from fairlearn.metrics import (
        count,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import precision_score

    return {
        "count": count,
        "selection_rate": selection_rate,
        "tpr": true_positive_rate,
        "fpr": false_positive_rate,
        "fnr": false_negative_rate,
        "precision": lambda y, p: precision_score(y, p, zero_division=0),
    }
