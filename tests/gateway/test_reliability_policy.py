"""Blocked-pattern regexes that compile alone always work in the matcher; validation compiles what the matcher
uses; and no error in a reload stops the gateway from reloading (or from shutting down cleanly)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from llmops_cli.errors import ConfigError
from llmops_cli.gateway.app import create_app
from llmops_cli.gateway.policy import CompiledPolicy, Denied, parse_policy
from llmops_cli.gateway.policy.model import BlockedPattern
from llmops_cli.gateway.policy.patterns import BlockedMatcher, normalise
from llmops_cli.gateway.reload import PolicyHolder

from .conftest import policy_text, policy_with

PATTERNS = [
    BlockedPattern(id="codename", pattern="Project Nightshade"),
    BlockedPattern(id="falcon", pattern="(?i)project falcon", regex=True),
    BlockedPattern(id="repeat", pattern=r"(\w+) \1", regex=True),
    BlockedPattern(id="ticket", pattern=r"tkt-\d{4}", regex=True),
    BlockedPattern(id="verbose", pattern="(?x) zz \\d+  # a comment", regex=True),
    BlockedPattern(id="flags2", pattern="(?s)(?i)alpha.omega", regex=True),
    BlockedPattern(id="named", pattern=r"(?P<w>gamma)-(?P=w)", regex=True),
]


@pytest.mark.parametrize(
    ("text", "hit"),
    [
        ("about PROJECT NIGHTSHADE", "codename"),
        ("Project Falcon is go", "falcon"),
        ("it was was good", "repeat"),
        ("see TKT-1234", "ticket"),
        ("zz42", "verbose"),
        ("alpha\nomega", "flags2"),
        ("gamma-gamma", "named"),
        ("nothing to see: alpha beta", None),
    ],
)
def test_every_pattern_that_compiles_alone_works_in_the_matcher(text: str, hit: str | None) -> None:
    assert BlockedMatcher(PATTERNS).search(normalise(text)) == hit


def test_plain_regexes_and_literals_share_one_alternation() -> None:
    m = BlockedMatcher(PATTERNS)
    assert m.shared_ids == ["codename", "falcon", "ticket", "flags2"]
    assert m.alone_ids == ["repeat", "verbose", "named"]  # groups, or a trailing # comment


def test_policy_with_inline_flags_and_backreferences_loads_and_blocks() -> None:
    text = policy_with(
        {
            "content.blocked_patterns": [
                {"id": "falcon", "pattern": "(?i)project falcon", "regex": True},
                {"id": "repeated", "pattern": r"(\w+) \1", "regex": True},
            ]
        }
    )
    policy = CompiledPolicy(parse_policy(text, "g.yaml"), "g.yaml")
    for content, rule in (("PROJECT FALCON", "falcon"), ("bye bye", "repeated")):
        body = {"model": "m", "messages": [{"role": "user", "content": content}]}
        with pytest.raises(Denied) as e:
            policy.check_request("chat", body, None)
        assert e.value.decisions[-1].rule == f"blocked_pattern:{rule}"


def test_a_pattern_the_matcher_cannot_compile_is_a_file_line_error() -> None:
    text = (
        "version: 1\ncontent:\n  blocked_patterns:\n    - {id: ok, pattern: fine}\n"
        "    - {id: bad, pattern: 'a(?i)b', regex: true}\n"
    )
    with pytest.raises(ConfigError) as e:
        parse_policy(text, "x.yaml")
    assert str(e.value).startswith("x.yaml:5:"), str(e.value)
    assert "content.blocked_patterns.1.pattern" in str(e.value)


def _policy_file(tmp_path: Path) -> Path:
    p = tmp_path / "gateway.yaml"
    p.write_text(policy_with())
    return p


def test_reload_keeps_the_old_policy_on_any_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = _policy_file(tmp_path)
    holder = PolicyHolder.from_file(path)
    old = holder.current

    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("compiler bug")

    monkeypatch.setattr("llmops_cli.gateway.reload.CompiledPolicy", boom)
    path.write_text(path.read_text() + "\n")
    with caplog.at_level(logging.ERROR, "llmops.gateway"):
        assert holder.reload() is False
    assert holder.current is old
    assert holder.last_error is not None and "compiler bug" in holder.last_error
    assert "keeping the previous policy" in caplog.text


@pytest.mark.anyio
@pytest.mark.timeout(20)
async def test_the_watcher_survives_a_failed_reload_and_applies_the_next_good_edit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _policy_file(tmp_path)
    holder = PolicyHolder.from_file(path)
    real = CompiledPolicy
    fail = True

    def flaky(*a: Any, **k: Any) -> CompiledPolicy:
        if fail:
            raise RuntimeError("compiler bug")
        return real(*a, **k)

    monkeypatch.setattr("llmops_cli.gateway.reload.CompiledPolicy", flaky)
    app = create_app(holder, _NoUpstream(), reload_interval=0.02)  # type: ignore[arg-type]
    await app.startup()
    try:
        path.write_text(policy_with({"limits.max_messages": 7}))
        for _ in range(200):
            await asyncio.sleep(0.02)
            if holder.last_error:
                break
        assert holder.last_error is not None and "compiler bug" in holder.last_error
        assert 'policy_reloads_total{result="error"} 1.0' in app.metrics.render().decode()
        fail = False
        path.write_text(policy_with({"limits.max_messages": 9}))
        for _ in range(200):
            await asyncio.sleep(0.02)
            if holder.current.policy.limits.max_messages == 9:
                break
        assert holder.current.policy.limits.max_messages == 9
        assert holder.last_error is None
        assert [t.done() for t in app.background_tasks] == [False]  # the watcher lives on
    finally:
        await app.shutdown()


@pytest.mark.anyio
async def test_shutdown_succeeds_even_when_a_background_task_died() -> None:
    policy = CompiledPolicy(parse_policy(policy_text(), "g.yaml"))
    app = create_app(policy, _NoUpstream())  # type: ignore[arg-type]

    async def dies() -> None:
        raise RuntimeError("watcher bug")

    app._tasks.append(asyncio.create_task(dies()))
    await asyncio.sleep(0)
    await app.shutdown()  # no exception: uvicorn would report "Application shutdown failed"


class _NoUpstream:
    async def close(self) -> None:
        pass
