"""The repository's manifests/ is the rendered output of the embedded defaults (`llmops render --all`)."""

from __future__ import annotations

from pathlib import Path

from llmops_cli.config.model import Settings
from llmops_cli.render.tree import render_tree

ROOT = Path(__file__).resolve().parents[2]


def test_repository_manifests_equal_llmops_render():
    result = render_tree(Settings(), ["dev", "prod"], ROOT / "manifests", check=True)
    assert result.files > 50
    assert not result.drift, "manifests/ is stale; run `llmops render --all` and commit: " + ", ".join(
        f"{c.status} {c.path}" for c in result.changes[:10]
    )
