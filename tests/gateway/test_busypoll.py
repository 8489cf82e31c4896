"""Opt-in busy polling: the loop polls without sleeping only within the window after activity."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmops_cli.errors import ConfigError
from llmops_cli.gateway.busypoll import BusyPoll
from llmops_cli.gateway.serve import build_app
from llmops_cli.gateway.settings import GatewayServerSettings

from .conftest import app_of, chat

pytestmark = pytest.mark.timeout(30)
POLICY = str(Path(__file__).resolve().parents[2] / "policies" / "gateway.yaml")


async def _until(cond: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


@pytest.mark.anyio
async def test_polls_within_the_window_then_lets_the_loop_sleep() -> None:
    bp = BusyPoll(0.2)
    assert not bp.running
    bp.poke()
    assert bp.running
    await asyncio.sleep(0.02)
    # The loop turned over and over during a 20 ms sleep instead of sleeping in its poll once.
    assert bp.running and bp.turns > 50
    await _until(lambda: not bp.running)
    turns = bp.turns
    await asyncio.sleep(0.1)
    assert bp.turns == turns  # idle: nothing runs any more


@pytest.mark.anyio
async def test_each_poke_extends_the_window() -> None:
    bp = BusyPoll(0.2)
    bp.poke()
    for _ in range(4):  # 4 x 80 ms, longer than one window: each poke renewed it 80 ms ago
        await asyncio.sleep(0.08)
        assert bp.running
        bp.poke()
    bp.stop()
    await _until(lambda: not bp.running)


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError):
        BusyPoll(0)


@pytest.mark.anyio
async def test_gateway_polls_after_a_request_only_when_enabled(make_client: Callable[..., Any]) -> None:
    plain = make_client()
    assert app_of(plain).busy is None
    await plain.aclose()

    c: httpx.AsyncClient = make_client()
    app = app_of(c)
    app.busy = BusyPoll(0.5)
    r = await c.post("/v1/chat/completions", json=chat("hi", stream=True))
    assert r.status_code == 200
    assert app.busy.running  # the request and each streamed read renewed the window
    await _until(lambda: not app.busy.running)
    await app.shutdown()
    await c.aclose()


def test_setting_from_flag_or_env_reaches_the_app() -> None:
    s = GatewayServerSettings.from_env({"PAC_BUSY_POLL_MS": "25"}, policy_file=POLICY)
    app = build_app(s)
    assert app.busy is not None and app.busy.window == pytest.approx(0.025)
    assert build_app(GatewayServerSettings.from_env({}, policy_file=POLICY)).busy is None
    with pytest.raises(ConfigError, match="--busy-poll"):  # the error names where the value came from
        GatewayServerSettings.from_env({}, busy_poll_ms=-1)
    with pytest.raises(ConfigError, match="PAC_BUSY_POLL_MS"):
        GatewayServerSettings.from_env({"PAC_BUSY_POLL_MS": "-1"})
