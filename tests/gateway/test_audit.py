"""The audit log (issue 22, Medium 7): fails closed, reopens for rotation, 0600, keyed hashes, and no disk
filled by requests without a valid key."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmops_cli.gateway.app import create_app
from llmops_cli.gateway.audit import AuditLog, hmac_key
from llmops_cli.gateway.testing.fake_upstream import FakeUpstream
from llmops_cli.gateway.upstream.http import HttpAdapter

from .conftest import AUTH, chat, compiled, policy_with

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


def _client(log: AuditLog, fake: FakeUpstream, text: str | None = None) -> httpx.AsyncClient:
    adapter = HttpAdapter("http://upstream", transport=httpx.ASGITransport(fake))
    app = create_app(compiled(text), adapter, audit=log)
    c = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw", headers=AUTH)
    c.app = app  # type: ignore[attr-defined]
    return c


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (a device whose writes fail: ENOSPC)")
async def test_a_full_disk_fails_closed_and_rotation_reopens(tmp_path: Path, fake: FakeUpstream) -> None:
    """/dev/full answers every write with ENOSPC, as a full disk does. The log is a symlink, as a rotated or
    mounted one may be: pointed at /dev/full, requests are refused (503) and the gateway is not ready, each
    failed write counted; pointed at a file again and reopened (SIGHUP), requests are served and recorded."""
    link = tmp_path / "audit.jsonl"
    link.symlink_to("/dev/full")
    log = AuditLog(str(link))
    async with _client(log, fake) as c:
        assert (await c.post("/v1/chat/completions", json=chat("hi"))).status_code == 200  # its record fails
        r = await c.post("/v1/chat/completions", json=chat("hi"))
        assert r.status_code == 503 and r.json()["error"]["code"] == "audit_unavailable"
        ready = await c.get("/readyz")
        assert ready.status_code == 503 and ready.json()["audit"] == "failing"
        metrics = c.app.metrics.render().decode()  # type: ignore[attr-defined]
        assert "llmops_gateway_audit_write_errors_total 1.0" in metrics
        assert len(fake.received) == 1
        link.unlink()
        link.write_text("")  # rotated: a fresh file in its place
        assert log.reopen()  # what SIGHUP does
        r = await c.post("/v1/chat/completions", json=chat("hi"))
        assert r.status_code == 200, r.text
        assert (await c.get("/readyz")).status_code == 200
    assert [rec["status"] for rec in _records(link)] == [200]


async def test_on_failure_serve_keeps_serving_unrecorded(tmp_path: Path, fake: FakeUpstream) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    text = policy_with({"audit.on_failure": "serve"})
    async with _client(AuditLog("/dev/full"), fake, text) as c:
        for _ in range(3):
            assert (await c.post("/v1/chat/completions", json=chat("hi"))).status_code == 200
        assert (await c.get("/readyz")).json()["audit"] == "failing"


def test_the_log_is_created_private_and_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert log.write({"a": 1}) and AuditLog(str(path)).write({"b": 2})
    assert [sorted(r) for r in _records(path)] == [["a", "time"], ["b", "time"]]


async def test_prompt_hashes_are_keyed(tmp_path: Path, fake: FakeUpstream) -> None:
    """A bare SHA-256 of a short prompt is reversed by hashing guesses; the record holds an HMAC whose key is a
    mounted secret (or drawn per run), named by a fingerprint."""
    key_file = tmp_path / "key"
    key_file.write_bytes(b"0123456789abcdef-audit-key\n")
    key = hmac_key({"PAC_AUDIT_HMAC_KEY_FILE": str(key_file)})
    path = tmp_path / "audit.jsonl"
    async with _client(AuditLog(str(path), key=key), fake) as c:
        assert (await c.post("/v1/chat/completions", json=chat("yes"))).status_code == 200
    (rec,) = _records(path)
    assert rec["prompt_hmac"] == "hmac-sha256:" + hmac.new(key, b"yes", hashlib.sha256).hexdigest()
    assert hashlib.sha256(b"yes").hexdigest() not in path.read_text()
    assert rec["hmac_key"] == hashlib.sha256(key).hexdigest()[:12]
    assert hmac_key({}) != hmac_key({})  # without a key file: random per run
    with pytest.raises(ValueError, match="shorter than 16"):
        key_file.write_bytes(b"short")
        hmac_key({"PAC_AUDIT_HMAC_KEY_FILE": str(key_file)})


async def test_requests_without_a_valid_key_cannot_fill_the_disk(tmp_path: Path, fake: FakeUpstream) -> None:
    path = tmp_path / "audit.jsonl"
    async with _client(AuditLog(str(path)), fake) as c:
        for i in range(300):
            bad = {"authorization": f"Bearer wrong-{i}"} if i % 2 else {"authorization": ""}
            assert (await c.post("/v1/chat/completions", json=chat("hi"), headers=bad)).status_code == 401
        assert (await c.post("/v1/chat/completions", json=chat("hi"))).status_code == 200
        metrics = c.app.metrics.render().decode()  # type: ignore[attr-defined]
    recs = _records(path)
    unauth = [r for r in recs if r["status"] == 401]
    assert 60 <= len(unauth) <= 65  # the bucket (60), plus what it refilled meanwhile
    assert recs[-1]["status"] == 200  # an authenticated request is always recorded
    line = next(ln for ln in metrics.splitlines() if ln.startswith("llmops_gateway_audit_records_suppressed_total{"))
    assert float(line.rsplit(" ", 1)[1]) == 300 - len(unauth)


def _model_audit(names: list[str], text: str, tmp_path: Path) -> tuple[list[int], list[dict[str, Any]], str]:
    import asyncio

    from llmops_cli.gateway.testing.fake_upstream import FakeConfig

    path = tmp_path / f"audit-{os.urandom(4).hex()}.jsonl"

    async def run() -> list[int]:
        async with _client(AuditLog(str(path)), FakeUpstream(FakeConfig()), text) as c:
            return [(await c.post("/v1/chat/completions", json={**chat("hi"), "model": m})).status_code for m in names]

    statuses = asyncio.run(run())
    raw = path.read_text()
    return statuses, _records(path), raw


@pytest.mark.parametrize("allowlist", ["wildcard", "listed"])
def test_a_refused_model_name_is_not_written_to_the_audit_log(tmp_path: Path, allowlist: str) -> None:
    """The model name is the client's free text: a name refused for what it holds (personal data, a blocked
    phrase, no plain name, or one the allowlist does not admit) must not reach the audit log as it was sent,
    where ``store_text: false`` promises no prompt text and a megabyte-long name would fill the disk at the
    requests-per-minute rate."""
    import random

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from llmops_cli.gateway.policy import pii
    from llmops_cli.gateway.testing import pii_values as pv

    changes: dict[str, Any] = {"content.blocked_patterns": [{"id": "bb", "pattern": "project bluebird"}]}
    if allowlist == "listed":
        changes["limits.models"] = ["fake-model", "fake-*"]
    text = policy_with(changes)
    kinds = sorted(pv.GENERATORS)

    @settings(max_examples=60, deadline=None)
    @given(
        kind=st.sampled_from([*kinds, "long", "blocked", "spaces"]),
        seed=st.integers(0, 2**32),
        prefix=st.sampled_from(["", "org/", "fake-"]),
    )
    def check(kind: str, seed: int, prefix: str) -> None:
        rng = random.Random(seed)
        secret = {
            "long": lambda: "m" * rng.randint(300, 200_000),
            "blocked": lambda: "Project-Bluebird".replace("-", rng.choice(["", "\u200b"])),
            "spaces": lambda: f"my {pv.email(rng)}",
        }.get(kind, lambda: pv.GENERATORS[kind](rng).replace(" ", "-"))()
        if kind == "blocked":
            secret = "project bluebird" if allowlist == "listed" else "projectbluebird"
        model = prefix + secret
        statuses, records, raw = _model_audit([model], text, tmp_path)
        if statuses[0] == 200:  # a look-alike the detectors rightly leave alone
            return
        recorded = records[-1]["model"]
        assert len(raw) < 4096
        if recorded is not None:  # only a plain name, in which no detector finds anything
            assert recorded == model and len(model) <= 256 and " " not in model and "bluebird" not in model
            assert pii.find(model) == [], model
        if kind in ("long", "blocked", "spaces") or pii.find(model):
            assert secret not in raw

    check()


def test_an_audit_line_does_not_grow_with_the_findings_of_its_request(tmp_path: Path) -> None:
    """One decision per finding made a 1 MB request of short e-mail addresses a 6 MB audit line (and as many
    metric increments), at the requests-per-minute rate, refused or not: a disk filled in minutes. The record
    keeps each (rule, action) once, with how many times it was taken."""
    import asyncio
    import random

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from llmops_cli.gateway.testing import pii_values as pv

    @settings(max_examples=25, deadline=None)
    @given(
        counts=st.dictionaries(st.sampled_from(sorted(pv.GENERATORS)), st.integers(1, 3000), min_size=1),
        seed=st.integers(0, 2**32),
        parts=st.booleans(),
    )
    def check(counts: dict[str, int], seed: int, parts: bool) -> None:
        rng = random.Random(seed)
        values = [pv.GENERATORS[kind](rng) for kind, n in counts.items() for _ in range(n)]
        rng.shuffle(values)
        content: Any = [f"{v} ." for v in values] if parts else " . ".join(values)
        path = tmp_path / f"audit-{os.urandom(4).hex()}.jsonl"
        log = AuditLog(str(path))

        async def run() -> int:
            async with _client(log, FakeUpstream()) as c:
                body = {"model": "fake-model", "messages": [{"role": "user", "content": content}]}
                return (await c.post("/v1/chat/completions", json=body)).status_code

        status = asyncio.run(run())
        raw = path.read_text()
        assert len(raw) < 2048, (status, len(raw))
        rec = json.loads(raw)
        taken = {(d["rule"], d["action"]): d.get("count", 1) for d in rec["decisions"]}
        assert len(taken) == len(rec["decisions"])  # each (rule, action) once
        found = {k: n for (rule, _), n in taken.items() if rule.startswith("pii.input.") for k in [rule[10:]]}
        assert sum(found.values()) >= len(values) * 0.9  # (a value next to another may merge with it)

    check()
