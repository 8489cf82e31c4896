"""What a governance run reads: files and settings, resolved to one frozen object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class GovernInputs:
    project_dir: Path
    data: Path | None = None
    label: str | None = None
    prediction: str | None = None
    score: str | None = None
    sensitive: tuple[str, ...] = ()
    privileged: Mapping[str, str] = field(default_factory=dict)
    positive: str | None = None
    label_map: Mapping[str, str] = field(default_factory=dict)  # raw value -> the class it counts as
    model: Path | None = None
    risk_register: Path | None = None
    ai_act: Path | None = None
    data_card: Path | None = None
    attributions: Path | None = None  # per-row SHAP/LIME attributions
    model_file: Path | None = None  # a model to explain (scikit-learn or ONNX)
    features: tuple[str, ...] = ()
    waivers: tuple[Any, ...] = ()  # bias.Waiver: attributes or groups left out of the gate on purpose
    policies: Path | None = None
    min_group_size: int = 30
    bootstrap: int = 0
    seed: int = 0
    config_file: Path | None = None
    docs_dir: Path | None = None
    gated_environments: tuple[str, ...] = ()  # environments whose promotion requires evidence
    monitoring: bool = False  # the observability stack (Grafana dashboards) is rendered
    llm_eval: Any = None  # llmeval.run.EvalOptions when governance.llm_eval.endpoint is set
    llm_suites: tuple[Path, ...] = ()  # empty: the packaged default suite

    @property
    def llm_endpoint(self) -> str | None:
        return self.llm_eval.endpoint if self.llm_eval is not None else None

    @property
    def llm_model(self) -> str | None:
        return (self.llm_eval.model or None) if self.llm_eval is not None else None

    def rel(self, path: Path) -> str:
        """A path as recorded in artefacts: project-relative when inside the project (stable across hosts)."""
        if inside(path, self.project_dir):
            return Path(os.path.relpath(path.resolve(), self.project_dir.resolve())).as_posix()
        return str(path)

    def settings(self, fail_on: str) -> dict[str, Any]:
        """What decides the verdict besides the files: recorded (and signed) in the manifest."""
        return {
            "label": self.label,
            "prediction": self.prediction,
            "score": self.score,
            "sensitive": list(self.sensitive),
            "privileged": dict(self.privileged),
            "positive": self.positive,
            **({"label_map": dict(self.label_map)} if self.label_map else {}),
            "min_group_size": self.min_group_size,
            "features": list(self.features),
            "waivers": [w.to_dict() for w in self.waivers],
            "bootstrap": self.bootstrap,
            "seed": self.seed,
            "fail_on": fail_on,
            **({"llm_eval": self.llm_eval.recorded()} if self.llm_eval is not None else {}),
        }


def inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True
