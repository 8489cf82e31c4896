"""`llmops govern incident serve`: Alertmanager's webhook receiver opens incidents by itself (issue 27, item 3)."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from llmops_cli.config.model import Settings
from llmops_cli.govern.runtime.api import Project
from llmops_cli.govern.runtime.webhook import MAX_BODY, Receiver, make_server
from tests.cli.test_govern_runtime import PAYLOAD
from tests.helpers import run_cli

REPO = Path(__file__).resolve().parents[2]
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def announce_only(port: int, length: int) -> tuple[int, Any]:
    """Announce a body of ``length`` bytes and send none of it: the answer comes from the header alone (a client
    still sending a large body when the server answers 413 and closes gets a broken pipe instead of the answer)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n".encode()
        )
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        return resp.status, json.loads(resp.read())


def post(port: int, body: bytes | dict[str, Any], *, path: str = "/", token: str | None = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        conn.request("POST", path, body=raw, headers=headers)
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


@contextmanager
def serving(project: Path, **kw: Any) -> Iterator[tuple[int, list[str]]]:
    lines: list[str] = []
    receiver = Receiver(Project(Settings(), project), now=time.time, log=lines.append, **kw)
    server = make_server(receiver, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], lines
    finally:
        server.shutdown()
        server.server_close()


def incidents(project: Path) -> list[Path]:
    return sorted((project / "incidents").glob("INC-*.json"))


def test_a_notification_opens_its_incident_once_and_bad_requests_get_one_line(tmp_path: Path):
    with serving(tmp_path, receivers=("llmops-incidents",)) as (port, log):
        status, body = post(port, PAYLOAD)
        assert status == 200, body
        [iid] = body["incidents"]
        assert body["note"] == "opened"
        [path] = incidents(tmp_path)
        assert path.stem == iid and json.loads(path.read_text())["severity"] == "critical"
        assert json.loads((tmp_path / "incidents" / "index.json").read_text())["incidents"][0]["id"] == iid
        # Alertmanager's repeat of the same group: the same incident, updated, never a second one
        status, again = post(port, PAYLOAD, path="/alerts")
        assert (status, again["incidents"], again["note"]) == (200, [iid], "updated (0 new alerts)")
        assert incidents(tmp_path) == [path]
        # resolved: noted on the open incident
        resolved = {**PAYLOAD, "status": "resolved",
                    "alerts": [{**PAYLOAD["alerts"][0], "status": "resolved", "endsAt": "2026-12-01T10:05:00Z"}]}  # fmt: skip
        status, done = post(port, resolved)
        assert (status, done["incidents"], done["note"]) == (200, [iid], "resolution noted")
        assert json.loads(path.read_text())["resolved_at"] == "2026-12-01T10:05:00Z"
        # another receiver's notification (the warnings the webhook also gets): answered, ignored
        status, other = post(port, {**PAYLOAD, "receiver": "llmops-notify", "groupKey": "other"})
        assert (status, other["incidents"]) == (200, [])
        assert incidents(tmp_path) == [path]
        for bad, why in [
            ({**PAYLOAD, "version": "3"}, "payload.version: expected '4'"),
            ({**PAYLOAD, "alerts": []}, "payload.alerts: expected a non-empty list"),
            (b"{not json", "payload: not valid JSON"),
            (b"\xff\xfe", "payload: not valid JSON"),
            ([1, 2], "payload: expected a JSON object"),
        ]:
            status, err = post(port, bad if isinstance(bad, bytes) else json.dumps(bad).encode())
            assert status == 400 and why in err["error"] and "\n" not in err["error"], err
        status, err = announce_only(port, MAX_BODY + 1)
        assert status == 413 and "over the limit" in err["error"]
        assert post(port, PAYLOAD, path="/elsewhere")[0] == 404
    assert incidents(tmp_path) == [path]
    # one line per notification, naming alert, severity and ids, never the payload's other contents
    line = next(ln for ln in log if iid in ln)
    assert line.startswith("ModelErrorRatioHigh (critical, firing, receiver llmops-incidents) → ")
    assert not any("errors" in ln or "abc" in ln for ln in log)  # summary annotation, fingerprint


def test_concurrent_notifications_are_written_one_at_a_time(tmp_path: Path):
    bodies = [{**PAYLOAD, "groupKey": f"g{i}", "alerts": [{**PAYLOAD["alerts"][0], "fingerprint": f"f{i}"}]}
              for i in range(12)]  # fmt: skip
    with serving(tmp_path) as (port, _):
        results: list[tuple[int, Any]] = []
        threads = [threading.Thread(target=lambda b=b: results.append(post(port, b))) for b in bodies]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert [s for s, _ in results] == [200] * 12
    ids = {b["incidents"][0] for _, b in results}
    assert len(ids) == 12 == len(incidents(tmp_path))
    index = json.loads((tmp_path / "incidents" / "index.json").read_text())
    assert {e["id"] for e in index["incidents"]} == ids


def test_a_configured_token_is_required(tmp_path: Path):
    with serving(tmp_path, token="s3cret") as (port, log):
        assert post(port, PAYLOAD)[0] == 401
        assert post(port, PAYLOAD, token="wrong")[0] == 401
        assert incidents(tmp_path) == []
        status, body = post(port, PAYLOAD, token="s3cret")
        assert status == 200 and len(body["incidents"]) == 1
    assert not any("s3cret" in ln for ln in log)


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env={**os.environ, **GIT_ENV}
    ).stdout


@pytest.fixture
def git_project(tmp_path: Path) -> Path:
    project = tmp_path / "ops"
    project.mkdir()
    (project / "llmops.yaml").write_text("{}\n")
    (project / "notes.txt").write_text("the user's own uncommitted change\n")
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", "llmops.yaml")
    _git(project, "commit", "-qm", "init")
    return project


def test_the_command_commits_each_change_asks_for_the_token_and_stops_on_ctrl_c(git_project: Path):
    env = {**os.environ, **GIT_ENV, "PYTHONPATH": str(REPO), "HOOK_TOKEN": "s3cret", "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmops_cli", "govern", "incident", "serve", "--project", str(git_project),
         "--port", "0", "--commit", "--token-env", "HOOK_TOKEN"],
        env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", first)
        assert m, first + (proc.stderr.read() if proc.poll() is not None else "")
        port = int(m[1])
        assert post(port, PAYLOAD)[0] == 401
        status, body = post(port, PAYLOAD, token="s3cret")
        assert status == 200, body
        [iid] = body["incidents"]
        assert body["commit"]
        assert post(port, PAYLOAD, token="s3cret")[1]["commit"] is None  # nothing changed: no commit
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err and "s3cret" not in err
    assert _git(git_project, "rev-list", "--count", "HEAD").strip() == "2"
    files = _git(git_project, "show", "--name-only", "--format=%s", "HEAD").split()
    assert f"incidents/{iid}.json" in files and "incidents/index.json" in files and "notes.txt" not in files
    assert iid in _git(git_project, "log", "-1", "--format=%s")
    assert "?? notes.txt" in _git(git_project, "status", "--porcelain")


def test_the_command_refuses_at_start_what_would_fail_later(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("HOOK_TOKEN", raising=False)
    (tmp_path / "llmops.yaml").write_text("{}\n")
    for args, why in [
        (["--commit"], "is not in a Git repository: --commit records each incident as a commit"),
        (["--token-env", "HOOK_TOKEN"], "--token-env HOOK_TOKEN: the variable is unset or empty"),
        (["--lookback", "soon"], "--lookback 'soon': not a duration"),
    ]:
        monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
        r = run_cli("govern", "incident", "serve", "--project", str(tmp_path), "--port", "0", *args)
        assert r.exit_code == 2 and why in r.stderr and len(r.stderr.strip().splitlines()) <= 2, r.output


def test_a_real_alertmanager_delivers_to_it_and_the_incident_appears(tmp_path: Path):
    from tests.realparts import start_alertmanager, stop, wait_for
    from tests.render.test_alerting import _alert, _post, rendered

    project = tmp_path / "proj"
    project.mkdir()
    token = tmp_path / "webhook-token"
    token.write_text("am-s3cret\n")
    with serving(project, token="am-s3cret", receivers=("llmops-incidents",)) as (port, log):
        cfg, _ = rendered({
            "group_wait": "1s",
            "group_interval": "1s",
            "webhook": {"url": f"http://127.0.0.1:{port}/alerts", "bearer_token_key": "webhook-token"},
        })  # fmt: skip
        for receiver in cfg["receivers"]:
            for hook in receiver.get("webhook_configs", []):
                hook["http_config"]["authorization"]["credentials_file"] = str(token)
        proc, url = start_alertmanager(tmp_path, cfg)
        try:
            labels = {"model": "credit-approval", "model_version": "1.3.1", "served_model": "qwen2-5-0-5b-instruct"}
            _post(url, [
                _alert("ModelRolloutAborted", {"severity": "critical", "team": "llmops", "incident": "true", **labels}),
                _alert("VllmKvCacheSaturated", {"severity": "warning", "team": "llmops"}),
            ])  # fmt: skip
            wait_for(lambda: incidents(project) and any("VllmKvCacheSaturated" in ln for ln in log), "the record")
        finally:
            stop(proc)
    [path] = incidents(project)
    rec = json.loads(path.read_text())
    assert rec["title"].startswith("ModelRolloutAborted")
    assert rec["severity"] == "critical" and rec["model"]["version"] == "1.3.1"
    assert rec["detection"]["receiver"] == "llmops-incidents"
    assert any(a["by"] == "argo-rollouts" and "automatic rollback" in a["action"] for a in rec["actions"])
    assert not any("401" in ln for ln in log), log
