from __future__ import annotations

from pathlib import Path

import pytest

from llmops_cli.errors import ConfigError
from llmops_cli.gateway.policy import load_policy, parse_policy

from .conftest import SHIPPED


def test_shipped_policy_requires_keys_and_redacts_everything_both_ways() -> None:
    p = load_policy(SHIPPED)
    assert p.auth.required is True
    assert set(p.content.pii.input.model_dump().values()) == {"redact"}
    assert set(p.content.pii.output.model_dump().values()) == {"redact"}


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ("version: 1\nlimits:\n  requests_per_minut: 5\n", "x.yaml:3:", "unknown key 'requests_per_minut'"),
        ("version: 1\nlimits:\n  max_tokens:\n    action: cut\n", "x.yaml:4:", "limits.max_tokens.action"),
        ("content:\n  pii:\n    input: {email: hide}\n", "x.yaml:3:20", "content.pii.input.email"),
        ("auth:\n  keys:\n    - {id: a1b, name: n, hash: md5:x}\n", "x.yaml:3:", "auth.keys.0.hash"),
        (
            "content:\n  blocked_patterns:\n    - {id: x, pattern: '(', regex: true}\n",
            "x.yaml:3:",
            "invalid regular",
        ),
        ("a: 1\na: 2\n", "x.yaml:2:", "duplicate key"),
        ("version: 2\n", "x.yaml:1:", "version"),
    ],
)
def test_errors_name_file_line_and_field(text: str, where: str, what: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_policy(text, "x.yaml")
    assert str(e.value).startswith(where), str(e.value)
    assert what in str(e.value)


def test_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PAC_POLICY_FILE"):
        load_policy(tmp_path / "nope.yaml")


def test_off_is_accepted_unquoted() -> None:
    p = parse_policy("content:\n  pii:\n    input: {email: off}\n  injection: {action: off}\n", "x.yaml")
    assert p.content.pii.input.email == "off" and p.content.injection.action == "off"
