"""The project's release record and incident index in the rendered tree: ConfigMaps the gateway mounts, the
release's digest on the pod template (a new release is a new canary), the incidents updated in place."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from llmops_cli.config.model import Settings
from llmops_cli.errors import InputError
from llmops_cli.render.api import render_environment
from llmops_cli.riskdata import IncidentIndex, Release
from llmops_cli.versions import KUBERNETES_MINOR
from tests.helpers import run_cli
from tests.riskfixtures import incident_index, release_record

from .conftest import objects


def _project(tmp_path: Path, rel: Release | None = None) -> tuple[Path, Release]:
    rel = rel or release_record(version="1.3.0")
    (tmp_path / "releases").mkdir(parents=True)
    (tmp_path / "releases" / "prod.json").write_text(rel.to_json())
    (tmp_path / "incidents").mkdir()
    (tmp_path / "incidents" / "index.json").write_text(incident_index().to_json())
    return tmp_path, rel


def _one(objs: dict, kind: str, name: str) -> dict:
    return next(o for o in objs.values() if o["kind"] == kind and o["metadata"]["name"] == name)


def test_the_release_and_incidents_reach_the_gateway_pods(tmp_path):
    project, rel = _project(tmp_path)
    s = Settings.model_validate({"stacks": {"gateway": {"release_file": "releases/prod.json"}}})
    objs = objects(render_environment(s, "prod", project_dir=project))
    cm = _one(objs, "ConfigMap", "policy-gateway-release")["data"]["release.json"]
    assert Release.from_json(cm) == rel
    idx = IncidentIndex.from_json(_one(objs, "ConfigMap", "policy-gateway-incidents")["data"]["index.json"])
    assert sorted(e.id for e in idx.incidents) == sorted(e.id for e in incident_index().incidents)
    deploy = _one(objs, "Deployment", "policy-gateway")
    pod = deploy["spec"]["template"]
    assert pod["metadata"]["annotations"]["llmops.dev/release-sha256"] == hashlib.sha256(cm.encode()).hexdigest()
    c = pod["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in c["env"]}
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert env["PAC_RELEASE_FILE"] == mounts["release"] + "/release.json"
    assert env["PAC_INCIDENTS_FILE"] == mounts["incidents"] + "/index.json"
    kubernetes_validate.validate(deploy, KUBERNETES_MINOR, strict=True)
    # the incident index is no part of the pod template: closing an incident does not restart the gateways
    other, _ = _project(tmp_path / "other", rel)
    (other / "incidents" / "index.json").write_text(IncidentIndex().to_json())
    again = objects(render_environment(s, "prod", project_dir=other))
    assert _one(again, "Deployment", "policy-gateway")["spec"]["template"] == pod


def test_without_a_project_the_tree_has_no_release_and_an_empty_index():
    objs = objects(render_environment(Settings(), "dev"))
    assert not any(o["metadata"]["name"] == "policy-gateway-release" for o in objs.values())
    idx = _one(objs, "ConfigMap", "policy-gateway-incidents")["data"]["index.json"]
    assert IncidentIndex.from_json(idx).incidents == ()


def test_a_missing_or_bad_release_file_is_an_error_naming_the_setting(tmp_path):
    s = Settings.model_validate({"stacks": {"gateway": {"release_file": "releases/prod.json"}}})
    with pytest.raises(InputError, match=r"stacks\.gateway\.release_file: cannot read"):
        render_environment(s, "prod", project_dir=tmp_path)
    (tmp_path / "releases").mkdir()
    (tmp_path / "releases" / "prod.json").write_text(json.dumps({"llmops_release_format": 1, "model": "m"}))
    with pytest.raises(InputError, match=r"stacks\.gateway\.release_file: .*evidence"):
        render_environment(s, "prod", project_dir=tmp_path)


def test_llmops_render_ships_the_projects_release_and_check_agrees(tmp_path, monkeypatch):
    project, rel = _project(tmp_path)
    (project / "llmops.yaml").write_text(
        yaml.safe_dump({"version": 1, "stacks": {"gateway": {"release_file": "releases/prod.json"}}})
    )
    monkeypatch.chdir(project)
    r = run_cli("render", "--env", "prod")
    assert r.exit_code == 0, r.output
    text = (project / "manifests" / "prod" / "gateway" / "configmap-policy-gateway-release.yaml").read_text()
    assert Release.from_json(yaml.safe_load(text)["data"]["release.json"]) == rel
    assert run_cli("render", "--env", "prod", "--check").exit_code == 0
    (project / "incidents" / "index.json").write_text(IncidentIndex().to_json())
    drift = run_cli("render", "--env", "prod", "--check")
    assert drift.exit_code == 1 and "configmap-policy-gateway-incidents" in drift.stderr
