"""The rendered Alertmanager configuration: checked by `amtool check-config` (Debian's Alertmanager 0.25), its
Jira part against the pinned Alertmanager's facts (0.25 predates the native Jira receiver of 0.28), and a real
Alertmanager routing alerts to local webhooks, whose payload `llmops govern incident open` then reads."""

from __future__ import annotations

import copy
import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from llmops_cli.config.model import Settings
from llmops_cli.render.api import render_environment
from tests.helpers import run_cli
from tests.realparts import Webhook, need, start_alertmanager, stop, wait_for

from .conftest import objects
from .upstream.rendered import release

ALL_RECEIVERS = {
    "webhook": {"url": "https://automation.example.com/alertmanager", "bearer_token_key": "webhook-token"},
    "github": {"url": "https://github-bridge.example.com/hook", "bearer_token_key": "github-token"},
    "jira": {"api_url": "https://example.atlassian.net", "project": "AIRISK", "username": "bot@example.com",
             "priority": "High"},
    "email": {"to": "ai-risk@example.com", "from": "alertmanager@example.com", "smarthost": "smtp.example.com:587",
              "username": "alertmanager", "password_key": "smtp-password"},
}  # fmt: skip


def rendered(alerting: dict | None = None, env: str = "prod") -> tuple[dict, dict]:
    """(alertmanager.config, the alertmanager values) as the kube-prometheus-stack Application carries them."""
    s = Settings.model_validate({"stacks": {"observability": {"alerting": alerting or {}}}})
    app = next(
        o
        for o in objects(render_environment(s, env)).values()
        if o["kind"] == "Application" and o["metadata"]["name"] == "kube-prometheus-stack"
    )
    values = app["spec"]["source"]["helm"]["valuesObject"]["alertmanager"]
    return values["config"], values


def without_jira(config: dict) -> dict:
    """What Alertmanager 0.25 can check: the config less its jira_configs (0.28+)."""
    out = copy.deepcopy(config)
    for r in out["receivers"]:
        r.pop("jira_configs", None)
    return out


def amtool(tmp_path: Path, config: dict) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run([need("amtool"), "check-config", str(path)], capture_output=True, text=True, timeout=30)


def _keys(d: dict, prefix: str = "") -> set[str]:
    out = set()
    for k, v in d.items():
        out.add(prefix + k)
        if isinstance(v, dict) and k in ("global", "route"):
            out |= _keys(v, prefix + k + ".")
    return out


def test_the_config_sets_every_key_of_the_charts_default_so_nothing_is_merged_in():
    cfg, _ = rendered()
    want = release("kube-prometheus-stack chart").names("alertmanager_config_keys")
    assert want <= _keys(cfg), want - _keys(cfg)


@pytest.mark.parametrize("alerting", [{}, ALL_RECEIVERS], ids=["no-receivers", "all-receivers"])
def test_amtool_check_config_accepts_the_rendered_config(alerting, tmp_path):
    cfg, values = rendered(alerting)
    r = amtool(tmp_path, without_jira(cfg))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout and "3 receivers" in r.stdout
    if alerting:
        # credentials come from the mounted Secret, never from the tree
        assert values["alertmanagerSpec"]["secrets"] == ["llmops-alertmanager"]
        text = json.dumps(cfg)
        for field in ("password", "credentials", "api_token", "token"):
            assert f'"{field}"' not in text
    else:
        assert "alertmanagerSpec" not in values


def test_the_jira_receiver_is_one_the_pinned_alertmanager_reads():
    am = release("alertmanager")
    cfg, _ = rendered(ALL_RECEIVERS)
    receivers = {r["name"]: r for r in cfg["receivers"]}
    assert set().union(*(set(r) for r in receivers.values())) <= am.names("receivers")
    (jira,) = receivers["llmops-incidents"]["jira_configs"]
    assert set(jira) <= am.names("jira_config"), set(jira) - am.names("jira_config")
    assert am.names("jira_required") <= set(jira)
    assert jira.get("api_type", "auto") in am.names("jira_api_types")
    assert "api_url" in jira or "jira_api_url" in cfg["global"]
    auth = {f"{k}.{kk}" for k, v in jira["http_config"].items() for kk in v}
    assert auth <= am.names("http_config")
    assert jira["http_config"]["basic_auth"]["password_file"].startswith(
        next(iter(am.names("secrets_dir"))) + "/llmops-alertmanager/"
    )


@given(field=st.sampled_from(["url_typo", "sendresolved", "max_alert"]), where=st.sampled_from(["webhook", "email"]))
@hsettings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_amtool_rejects_a_field_alertmanager_does_not_have(field, where, tmp_path):
    """The check is not a formality: one unknown field in a receiver fails it, as Alertmanager itself would."""
    cfg, _ = rendered(ALL_RECEIVERS)
    broken = without_jira(cfg)
    incident = next(r for r in broken["receivers"] if r["name"] == "llmops-incidents")
    incident[f"{where}_configs"][0][field] = "x"
    r = amtool(tmp_path, broken)
    assert r.returncode != 0
    assert field in (r.stdout + r.stderr)


def _post(url: str, alerts: list[dict]) -> None:
    r = httpx.post(url + "/api/v2/alerts", json=alerts, timeout=5)
    assert r.status_code == 200, r.text


def _alert(name: str, labels: dict[str, str]) -> dict:
    now = time.time()
    return {
        "labels": {"alertname": name, **labels},
        "annotations": {"summary": f"{name} test", "description": "from the test"},
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 30)),
        "generatorURL": "http://127.0.0.1/graph",
    }


def test_a_real_alertmanager_routes_incidents_and_warnings_and_the_payload_opens_an_incident(tmp_path, workdir):
    hook, github = Webhook(), Webhook()
    with hook.running(), github.running():
        alerting = {
            "group_wait": "1s",
            "group_interval": "1s",
            "webhook": {"url": hook.url},
            "github": {"url": github.url},
        }
        cfg, _ = rendered(alerting)
        proc, url = start_alertmanager(tmp_path, cfg)
        try:
            release_labels = {
                "model": "credit-approval",
                "model_version": "1.3.0",
                "served_model": "qwen2-5-0-5b-instruct",
            }
            _post(url, [
                _alert("ModelRedactionRatioHigh", {"severity": "warning", "team": "llmops", "incident": "true",
                                                   **release_labels}),
                _alert("VllmKvCacheSaturated", {"severity": "warning", "team": "llmops"}),
                _alert("Watchdog", {"severity": "none"}),
            ])  # fmt: skip
            wait_for(lambda: len(hook.received()) >= 2 and github.received(), "both webhooks", timeout=20)
            time.sleep(1.5)  # a later (wrong) delivery would show up here
        finally:
            stop(proc)
    by_receiver = {b["receiver"]: b for b in hook.received()}
    assert set(by_receiver) == {"llmops-incidents", "llmops-notify"}
    incident = by_receiver["llmops-incidents"]
    assert [a["labels"]["alertname"] for a in incident["alerts"]] == ["ModelRedactionRatioHigh"]
    assert [a["labels"]["alertname"] for a in by_receiver["llmops-notify"]["alerts"]] == ["VllmKvCacheSaturated"]
    # GitHub issues (through a bridge) get the incidents only; Watchdog goes nowhere
    assert {b["receiver"] for b in github.received()} == {"llmops-incidents"}
    assert not any(
        a["labels"]["alertname"] == "Watchdog" for b in hook.received() + github.received() for a in b["alerts"]
    )
    assert incident["version"] == next(iter(release("alertmanager").names("webhook_payload_version")))
    assert set(release("alertmanager").names("webhook_payload")) <= set(incident)

    payload = workdir / "payload.json"
    payload.write_text(json.dumps(incident))
    r = run_cli("govern", "incident", "open", str(payload), "-o", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)["data"]
    assert data["created"] is True
    rec = data["incident"]
    assert rec["severity"] == "warning"
    assert rec["model"] == {"name": "credit-approval", "version": "1.3.0", "served_model": "qwen2-5-0-5b-instruct"}
    assert rec["detection"]["receiver"] == "llmops-incidents"
    assert rec["detection"]["group_key"] == incident["groupKey"]
    # the same notification again (Alertmanager's repeat) updates, never duplicates
    again = run_cli("govern", "incident", "open", str(payload), "-o", "json")
    assert again.exit_code == 0 and json.loads(again.stdout)["data"]["created"] is False
    assert len(list((workdir / "incidents").glob("INC-*.json"))) == 1
