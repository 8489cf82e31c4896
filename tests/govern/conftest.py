"""Fixtures for governance tests: a copy of the example project, synthetic scored datasets."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def copy_example(tmp_path: Path, *, fria: bool = True) -> Path:
    """A private copy of examples/ (without any evidence written by earlier runs). As shipped, the example fails
    on its missing fundamental rights impact assessment; with ``fria`` (the default) the copy has one."""
    dest = tmp_path / "project"
    shutil.copytree(EXAMPLES, dest, ignore=shutil.ignore_patterns("evidence", "__pycache__"))
    if fria:
        provide_fria(dest)
    return dest


def provide_fria(project: Path) -> None:
    """Write a complete assessment (every Art. 27 element answered) and name it in ai_act.yaml."""
    import yaml

    from llmops_cli.govern.mappings import eu_ai_act

    answers = {k: f"Answered for the example ({k.replace('_', ' ')})." for k in eu_ai_act()["fria_fields"]}
    (project / "fria.yaml").write_text(yaml.safe_dump(answers, sort_keys=False), encoding="utf-8")
    ai_act = project / "ai_act.yaml"
    text = ai_act.read_text(encoding="utf-8")
    assert "# fria: fria.yaml" in text
    ai_act.write_text(text.replace("# fria: fria.yaml", "fria: fria.yaml"), encoding="utf-8")


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
