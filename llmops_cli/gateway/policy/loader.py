"""Load and validate ``gateway.yaml``: every error names ``file:line:col``, the dotted field and the fix."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llmops_cli.config.load import Mark, parse_yaml
from llmops_cli.errors import ConfigError
from llmops_cli.gateway.policy.model import Policy
from llmops_cli.gateway.policy.patterns import BlockedMatcher

Loc = tuple[str, ...]


def _mark_for(loc: Loc, values: dict[Loc, Mark], keys: dict[Loc, Mark], kind: str) -> Mark | None:
    if kind == "extra_forbidden" and loc in keys:
        return keys[loc]
    for i in range(len(loc), -1, -1):
        if loc[:i] in values:
            return values[loc[:i]]
    return None


def _message(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return f"unknown key {err['loc'][-1]!r}; see policies/gateway.schema.md"
    if kind == "missing":
        return "required value is missing"
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    if msg.startswith("Input should be"):
        msg = "expected" + msg[len("Input should be") :]
    got = err.get("input")
    if got is not None and not isinstance(got, dict | list) and kind != "value_error":
        msg += f", got {got!r}"
    return msg


def parse_policy(text: str, filename: str) -> Policy:
    """Validate policy text; raise ConfigError naming file:line:col and the field."""
    data, values, keys = parse_yaml(text, filename)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping at the top level", file=filename, line=1, column=1)
    try:
        policy = Policy.model_validate(data)
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        loc: Loc = tuple(str(p) for p in err["loc"])
        mark = _mark_for(loc, values, keys, err.get("type", ""))
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise ConfigError(
            _message(dict(err)) + more,
            file=filename,
            line=mark.line if mark else None,
            column=mark.column if mark else None,
            path=".".join(loc) or None,
            hint="fix the policy file",
        ) from e
    try:
        # exactly what the gateway will search with: a pattern that compiles alone but not as the matcher
        # uses it must fail here, at start or reload, not when the policy is put in force
        BlockedMatcher(policy.content.blocked_patterns)
    except BlockedMatcher.PatternError as e:
        loc = ("content", "blocked_patterns", str(e.index), "pattern")
        mark = values.get(loc)
        raise ConfigError(
            f"invalid regular expression: {e}",
            file=filename,
            line=mark.line if mark else None,
            column=mark.column if mark else None,
            path=".".join(loc),
            hint="fix the pattern (Python `re` syntax)",
        ) from e
    return policy


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read and validate a policy file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(
            "gateway policy file not found",
            file=str(p),
            hint="pass --policies FILE or set PAC_POLICY_FILE (default: policies/gateway.yaml)",
        ) from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read gateway policy: {e}", file=str(p)) from e
    return parse_policy(text, str(p))
