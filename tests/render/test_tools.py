"""The tool helper: skip only outside CI; in CI a missing tool fails the proof."""

from __future__ import annotations

import pytest

from . import tools


def test_missing_tool_skips_outside_ci(monkeypatch):
    monkeypatch.setattr(tools, "IN_CI", False)
    monkeypatch.setitem(tools.CANDIDATES, "nosuchtool", ["/nonexistent/nosuchtool"])
    with pytest.raises(pytest.skip.Exception):
        tools.require_tool("nosuchtool")


def test_missing_tool_fails_in_ci(monkeypatch):
    monkeypatch.setattr(tools, "IN_CI", True)
    monkeypatch.setitem(tools.CANDIDATES, "nosuchtool", ["/nonexistent/nosuchtool"])
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        tools.require_tool("nosuchtool")
