"""checkov on the rendered trees: no failed check; skips only as annotations on the object, with a reason."""

from __future__ import annotations

import json
import subprocess

import pytest

from llmops_cli.render.api import render_environment

from .conftest import backup_tree, gpu_full_settings, objects, settings
from .tools import require_tool


def _write(tmp_path, trees):
    for env, tree in trees.items():
        for rel, text in tree.items():
            if rel.startswith("k3s/"):
                continue  # host files, not Kubernetes objects
            p = tmp_path / env / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)


@pytest.mark.slow
def test_checkov_passes_on_every_environment(tmp_path):
    checkov = require_tool("checkov")
    trees = {
        "dev": render_environment(settings(), "dev"),
        "prod": render_environment(settings(), "prod"),
        "dev-gpu": render_environment(gpu_full_settings(), "dev"),
        "prod-cpu": render_environment(settings(stacks={"vllm": {"backend": "cpu"}}), "prod"),
        "prod-backup": backup_tree("prod"),
    }
    _write(tmp_path, trees)
    r = subprocess.run(
        [
            checkov,
            "-d",
            str(tmp_path),
            "--framework",
            "kubernetes",
            "--compact",
            "--quiet",
            "--skip-download",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    report = json.loads(r.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [f"{c['check_id']} {c['file_path']}" for rep in reports for c in rep["results"]["failed_checks"]]
    assert not failed, "\n".join(failed)
    assert sum(rep["summary"]["parsing_errors"] for rep in reports) == 0
    assert sum(rep["summary"]["passed"] for rep in reports) > 500


def test_every_checkov_skip_has_a_reason():
    for obj in objects(render_environment(gpu_full_settings(), "prod")).values():
        for key, value in obj["metadata"].get("annotations", {}).items():
            if key.startswith("checkov.io/skip"):
                check, _, reason = value.partition("=")
                assert check.startswith("CKV"), value
                assert len(reason) > 20, value
