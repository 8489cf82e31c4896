from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.helpers import run_cli


def test_validate_without_file_is_ok(workdir: Path) -> None:
    r = run_cli("config", "validate")
    assert r.exit_code == 0, r.output
    assert "built-in defaults" in r.stderr


def test_validate_lists_every_problem(workdir: Path) -> None:
    (workdir / "llmops.yaml").write_text("gpu:\n  mode: x\n  share: 0\ncluster:\n  bogus: 1\n")
    r = run_cli("config", "validate")
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 3
    assert any("llmops.yaml:2:9: gpu.mode" in ln for ln in lines)
    assert any("llmops.yaml:3:10: gpu.share" in ln for ln in lines)
    assert any("llmops.yaml:5:3: cluster.bogus: unknown key" in ln for ln in lines)


def test_validate_json(workdir: Path) -> None:
    (workdir / "llmops.yaml").write_text("gpu:\n  mode: x\n")
    r = run_cli("config", "validate", "-o", "json")
    assert r.exit_code == 2
    doc = json.loads(r.stdout)
    assert doc["status"] == "error" and len(doc["errors"]) == 1


def test_show_default_is_yaml_of_all_values(workdir: Path) -> None:
    r = run_cli("config", "show")
    assert r.exit_code == 0, r.output
    data = yaml.safe_load(r.stdout)
    assert data["cluster"]["name"] == "llmops"
    assert data["stacks"]["pgvector"]["schema"] == "rag"


def test_show_sources(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / "llmops.yaml").write_text("cluster:\n  name: mine\n")
    monkeypatch.setenv("LLMOPS_GPU__MODE", "off")
    r = run_cli("config", "show", "--sources")
    assert r.exit_code == 0, r.output
    rows = {ln.split()[0]: ln for ln in r.stdout.splitlines()}
    assert rows["cluster.name"].endswith("# file:2")
    assert rows["gpu.mode"].endswith("# env LLMOPS_GPU__MODE")
    assert rows["gpu.share"].endswith("# default")
    rj = run_cli("config", "show", "--sources", "-o", "json")
    doc = json.loads(rj.stdout)
    assert doc["data"]["sources"]["cluster.name"] == "file:2"
    assert doc["data"]["settings"]["gpu"]["mode"] == "off"


def test_schema_is_json_schema_that_accepts_defaults(workdir: Path) -> None:
    r = run_cli("config", "schema")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["type"] == "object"
    assert {"cluster", "gpu", "gitops", "environments", "stacks", "governance"} <= set(doc["properties"])
    jsonschema = pytest.importorskip("jsonschema")
    from llmops_cli.config.model import Settings

    jsonschema.validate(Settings().model_dump(mode="json", by_alias=True), doc)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"gpu": {"mode": "sometimes"}}, doc)
