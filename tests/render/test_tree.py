"""Writing and checking a tree on disk."""

from __future__ import annotations

import os

import pytest

from llmops_cli.config.model import Settings
from llmops_cli.errors import InputError
from llmops_cli.render.tree import compare, foreign_files, render_tree


def test_unchanged_files_are_not_rewritten(tmp_path):
    render_tree(Settings(), ["dev"], tmp_path)
    f = next((tmp_path / "dev" / "vllm").iterdir())
    os.utime(f, (1, 1))
    result = render_tree(Settings(), ["dev"], tmp_path)
    assert result.changes == []
    assert f.stat().st_mtime == 1


def test_a_foreign_file_at_a_generated_path_is_never_overwritten(tmp_path):
    render_tree(Settings(), ["dev"], tmp_path)
    victim = tmp_path / "dev" / "gateway" / "service-policy-gateway.yaml"
    victim.write_text("hand written\n")
    with pytest.raises(InputError):
        render_tree(Settings(), ["dev"], tmp_path)
    with pytest.raises(InputError, match="refusing to overwrite"):
        render_tree(Settings(), ["dev"], tmp_path, force=True)
    assert victim.read_text() == "hand written\n"


def test_stack_renders_leave_other_generated_files_alone(tmp_path):
    render_tree(Settings(), ["dev"], tmp_path)
    before = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    result = render_tree(Settings(), ["dev"], tmp_path, stacks=["vllm"])
    assert result.changes == []
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == before


def test_disabling_a_stack_removes_its_files_and_empty_folders(tmp_path):
    render_tree(Settings(), ["dev"], tmp_path)
    s = Settings.model_validate({"stacks": {"pgvector": {"enabled": False}}})
    result = render_tree(s, ["dev"], tmp_path)
    assert {c.status for c in result.changes} == {"removed"}
    assert not (tmp_path / "dev" / "pgvector").exists()
    assert compare(tmp_path, {}, full=True) == []


def test_hidden_files_are_not_foreign(tmp_path):
    (tmp_path / ".gitkeep").write_text("")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref")
    assert foreign_files(tmp_path) == []
