"""API keys: generate, hash, look up, and edit the ``auth.keys`` list of a policy file in place.

Keys are ``llmops-<32 random bytes, urlsafe>``; only ``sha256:<hex>`` of the whole key is stored. A fast
hash is right here (unlike passwords) because the secret has 256 bits of entropy. The file is edited
textually at the YAML node positions so comments and layout elsewhere survive; the result is re-validated
before it is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmops_cli.errors import ConfigError, InputError
from llmops_cli.fsutil import atomic_write
from llmops_cli.gateway.policy.loader import parse_policy
from llmops_cli.gateway.policy.model import ApiKey, Policy

KEY_PREFIX = "llmops-"


def hash_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class CreatedKey:
    id: str
    name: str
    key: str
    models: list[str]
    file: str


def _slug(name: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:24]
    return s or "key"


def _flow(entry: dict[str, Any]) -> str:
    # JSON is valid YAML flow syntax and quotes everything that needs quoting.
    return "{" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in entry.items() if v is not None) + "}"


def _compose(text: str, filename: str) -> Any:
    import yaml

    try:
        return yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as e:
        raise ConfigError(f"invalid YAML: {e}", file=filename) from e


def _child(node: Any, key: str) -> Any:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value == key:
                return v
    return None


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _add_entry(text: str, filename: str, entry: dict[str, Any]) -> str:
    import yaml

    root = _compose(text, filename)
    if root is None or not isinstance(root, yaml.MappingNode):
        return text.rstrip("\n") + ("\n" if text.strip() else "") + f"auth:\n  keys:\n    - {_flow(entry)}\n"
    auth = _child(root, "auth")
    if auth is None:
        return text.rstrip("\n") + f"\nauth:\n  keys:\n    - {_flow(entry)}\n"
    if not isinstance(auth, yaml.MappingNode):
        raise ConfigError("auth must be a mapping", file=filename, line=auth.start_mark.line + 1)
    keys = _child(auth, "keys")
    if keys is None:
        if auth.flow_style:
            raise ConfigError(
                "write auth as a block mapping to add keys", file=filename, line=auth.start_mark.line + 1
            )
        first_key = auth.value[0][0] if auth.value else None
        indent = " " * (first_key.start_mark.column if first_key else 2)
        at = auth.end_mark.index
        at = _line_start(text, at) if text[at - 1 : at] != "\n" and at < len(text) else at
        insert = f"{indent}keys:\n{indent}  - {_flow(entry)}\n"
        if at > 0 and text[at - 1] != "\n":
            insert = "\n" + insert
        return text[:at] + insert + text[at:]
    if not isinstance(keys, yaml.SequenceNode):
        raise ConfigError("auth.keys must be a list", file=filename, line=keys.start_mark.line + 1)
    if keys.flow_style or not keys.value:
        # `keys: []` → a block list under it.
        key_node = next(k for k, v in auth.value if v is keys)
        indent = " " * (key_node.start_mark.column + 2)
        items = [_flow(_node_to_dict(v)) for v in keys.value] + [_flow(entry)]
        block = "".join(f"\n{indent}- {it}" for it in items)
        return text[: keys.start_mark.index].rstrip(" ") + block + text[keys.end_mark.index :]
    last = keys.value[-1]
    indent = " " * (last.start_mark.column - 2)
    at = last.end_mark.index
    eol = text.find("\n", at)
    at = len(text) if eol == -1 else eol + 1
    # A block mapping item ends at the start of the next line already.
    if last.end_mark.column == 0:
        at = last.end_mark.index
    insert = f"{indent}- {_flow(entry)}\n"
    if at > 0 and text[at - 1] != "\n":
        insert = "\n" + insert
    return text[:at] + insert + text[at:]


def _node_to_dict(node: Any) -> dict[str, Any]:
    import yaml

    data = yaml.safe_load(yaml.serialize(node))
    return data if isinstance(data, dict) else {}


def _replace_entry(text: str, filename: str, key_id: str, entry: dict[str, Any]) -> str:
    import yaml

    root = _compose(text, filename)
    keys = _child(_child(root, "auth"), "keys") if root is not None else None
    if isinstance(keys, yaml.SequenceNode):
        for item in keys.value:
            id_node = _child(item, "id")
            if id_node is not None and id_node.value == key_id:
                end = item.end_mark.index
                replacement = _flow(entry)
                if not item.flow_style:
                    # A block mapping item spans lines; replace up to its last content line.
                    while end > item.start_mark.index and text[end - 1] in " \n":
                        end -= 1
                return text[: item.start_mark.index] + replacement + text[end:]
    raise InputError(
        f"no key with id {key_id!r} in {filename}", hint="list them with `llmops gateway keys list`"
    )


def _write(path: Path, text: str) -> Policy:
    policy = parse_policy(text, str(path))  # never write a file the gateway would refuse
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o640
    atomic_write(path, text, mode=mode)
    return policy


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise InputError(f"{path}: policy file not found", hint="pass --policies FILE") from e


def create_key(path: str | os.PathLike[str], name: str, models: list[str] | None = None) -> CreatedKey:
    """Generate a key, store its hash in the policy file, return the key (shown once)."""
    p = Path(path)
    text = _read(p)
    policy = parse_policy(text, str(p))
    existing = {k.id for k in policy.auth.keys}
    base = _slug(name)
    key_id = base if base not in existing and len(base) >= 3 else f"{base}-{secrets.token_hex(3)}"
    key = new_key()
    entry: dict[str, Any] = {
        "id": key_id,
        "name": name,
        "hash": hash_key(key),
        "models": models or ["*"],
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    _write(p, _add_entry(text, str(p), entry))
    return CreatedKey(key_id, name, key, list(entry["models"]), str(p))


def list_keys(path: str | os.PathLike[str]) -> list[ApiKey]:
    p = Path(path)
    return list(parse_policy(_read(p), str(p)).auth.keys)


def revoke_key(path: str | os.PathLike[str], key_id: str) -> ApiKey:
    """Mark a key revoked (kept for the audit trail)."""
    p = Path(path)
    text = _read(p)
    policy = parse_policy(text, str(p))
    match = [k for k in policy.auth.keys if k.id == key_id]
    if not match:
        raise InputError(
            f"no key with id {key_id!r} in {p}", hint="list them with `llmops gateway keys list`"
        )
    entry = match[0].model_dump(exclude_none=True)
    entry["revoked"] = True
    new = _write(p, _replace_entry(text, str(p), key_id, entry))
    return next(k for k in new.auth.keys if k.id == key_id)


class KeyIndex:
    """Hash → key lookup built once per policy (O(1) per request, no secret-dependent branching)."""

    def __init__(self, policy: Policy) -> None:
        self._by_hash = {k.hash: k for k in policy.auth.keys if not k.revoked}

    def lookup(self, presented: str) -> ApiKey | None:
        return self._by_hash.get(hash_key(presented))
