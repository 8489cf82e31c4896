"""Create, list and revoke API keys in a gateway policy file, editing its ``auth.keys`` list in place.

The file is edited textually at the YAML node positions, so comments, quoting and layout everywhere else
survive byte for byte (a round-tripping YAML library re-emits the whole document instead); the result is
re-validated before it is written, atomically, under a lock. Only ``llmops gateway keys`` uses this: the serving
gateway reads keys through ``policy.keys``.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from llmops_cli.errors import ConfigError, InputError, LlmopsError
from llmops_cli.fsutil import atomic_write
from llmops_cli.gateway.policy.keys import hash_key, new_key
from llmops_cli.gateway.policy.loader import parse_policy
from llmops_cli.gateway.policy.model import ApiKey, Policy

LOCK_TIMEOUT_S = 30.0


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


def _newline(text: str) -> str:
    """The file's line break (that of its first line), so an edit never mixes CRLF and LF."""
    eol = text.find("\n")
    return "\r\n" if eol > 0 and text[eol - 1] == "\r" else "\n"


def _content_end(text: str, node: Any) -> int:
    """Index just past the last character that belongs to ``node``.

    PyYAML ends a block collection at the next token, i.e. past any blank lines and comments that follow
    it (they belong to whatever comes next), and a block scalar past its line breaks; neither is part of
    the node.
    """
    import yaml

    if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and not node.flow_style and node.value:
        last = node.value[-1]
        return _content_end(text, last[1] if isinstance(node, yaml.MappingNode) else last)
    end: int = node.end_mark.index
    if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
        while end > node.start_mark.index and text[end - 1] in " \t\r\n":
            end -= 1
    return end


def _after_line(text: str, index: int) -> int:
    """Index of the start of the line after the one holding ``index`` (len(text) on the last line)."""
    eol = text.find("\n", index)
    return len(text) if eol == -1 else eol + 1


def _splice(text: str, start: int, end: int, insert: str) -> str:
    """Replace ``text[start:end]`` with ``insert`` (written with ``\\n``) in the file's line breaks."""
    return text[:start] + insert.replace("\n", _newline(text)) + text[end:]


def _add_entry(text: str, filename: str, entry: dict[str, Any]) -> str:
    import yaml

    root = _compose(text, filename)
    if root is not None and not isinstance(root, yaml.MappingNode):
        raise ConfigError("expected a mapping at the top level", file=filename, line=1, column=1)
    auth = _child(root, "auth") if root is not None else None
    if auth is None:
        # No auth section (or an empty file): append one.
        sep = "\n" if text and not text.endswith("\n") else ""
        return _splice(text, len(text), len(text), f"{sep}auth:\n  keys:\n    - {_flow(entry)}\n")
    if not isinstance(auth, yaml.MappingNode):
        raise ConfigError("auth must be a mapping", file=filename, line=auth.start_mark.line + 1)
    keys = _child(auth, "keys")
    if keys is None:
        if auth.flow_style or not auth.value:
            raise ConfigError("write auth as a block mapping to add keys", file=filename, line=auth.start_mark.line + 1)
        indent = " " * auth.value[0][0].start_mark.column
        at = _after_line(text, _content_end(text, auth))
        sep = "\n" if at == len(text) and not text.endswith("\n") else ""
        return _splice(text, at, at, f"{sep}{indent}keys:\n{indent}  - {_flow(entry)}\n")
    if not isinstance(keys, yaml.SequenceNode):
        raise ConfigError("auth.keys must be a list", file=filename, line=keys.start_mark.line + 1)
    if keys.flow_style or not keys.value:
        # `keys: []` → a block list under it.
        key_node = next(k for k, v in auth.value if v is keys)
        indent = " " * (key_node.start_mark.column + 2)
        items = [_flow(_node_to_dict(v)) for v in keys.value] + [_flow(entry)]
        block = "".join(f"\n{indent}- {it}" for it in items)
        start = len(text[: keys.start_mark.index].rstrip(" "))
        return _splice(text, start, keys.end_mark.index, block)
    last = keys.value[-1]
    # Reuse the last item's "<indent>- " so the new item lines up with it.
    prefix = text[_line_start(text, last.start_mark.index) : last.start_mark.index]
    if prefix.strip() != "-":
        prefix = " " * (last.start_mark.column - 2) + "- "
    at = _after_line(text, _content_end(text, last))
    sep = "\n" if at == len(text) and not text.endswith("\n") else ""
    return _splice(text, at, at, f"{sep}{prefix}{_flow(entry)}\n")


def _node_to_dict(node: Any) -> dict[str, Any]:
    import yaml

    data = yaml.safe_load(yaml.serialize(node))
    return data if isinstance(data, dict) else {}


def _key_item(text: str, filename: str, key_id: str) -> Any:
    """The YAML node of the ``auth.keys`` item with ``id: key_id``; None when there is none."""
    import yaml

    root = _compose(text, filename)
    keys = _child(_child(root, "auth"), "keys") if root is not None else None
    for item in keys.value if isinstance(keys, yaml.SequenceNode) else ():
        id_node = _child(item, "id")
        if id_node is not None and id_node.value == key_id:
            return item
    return None


def _set_revoked(text: str, filename: str, key_id: str) -> str | None:
    """Mark one ``auth.keys`` item revoked by editing only its ``revoked`` field: the value where it is set,
    else a ``revoked: true`` line under a block item or a last ``revoked: true`` in a flow item. Comments and
    layout inside the item stay. None when the item is not a mapping this can edit."""
    import yaml

    item = _key_item(text, filename, key_id)
    if not isinstance(item, yaml.MappingNode) or not item.value:
        return None
    flag = _child(item, "revoked")
    if flag is not None:
        return _splice(text, flag.start_mark.index, _content_end(text, flag), "true")
    if item.flow_style:
        close = text.rfind("}", item.start_mark.index, item.end_mark.index)
        if close == -1:
            return None
        comma = "" if text[item.start_mark.index : close].rstrip().endswith(",") else ","
        return _splice(text, close, close, f"{comma} revoked: true")
    indent = " " * item.value[0][0].start_mark.column
    at = _after_line(text, _content_end(text, item))
    if at == len(text) and not text.endswith("\n"):  # the item ends the file: keep it without a final EOL
        return _splice(text, at, at, f"\n{indent}revoked: true")
    return _splice(text, at, at, f"{indent}revoked: true\n")


def _replace_entry(text: str, filename: str, key_id: str, entry: dict[str, Any]) -> str:
    """Replace exactly the characters of one ``auth.keys`` item; every other byte of the file stays."""
    item = _key_item(text, filename, key_id)
    if item is not None:
        return _splice(text, item.start_mark.index, _content_end(text, item), _flow(entry))
    raise InputError(f"no key with id {key_id!r} in {filename}", hint="list them with `llmops gateway keys list`")


def _read_text(fh: BinaryIO, path: Path) -> str:
    # Bytes, not read_text(): universal-newline decoding would turn a CRLF file into LF on rewrite.
    try:
        raw = fh.read()
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}") from e
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"cannot read {path}: not UTF-8 text ({e.reason} at byte {e.start})") from e


def _open(path: Path, *, for_lock: bool = False) -> BinaryIO:
    if for_lock:
        # NFS emulates flock with fcntl locks, and an exclusive one needs a descriptor open for writing;
        # opening for writing changes nothing (no mtime), and a read-only descriptor does on local disks.
        try:
            return path.open("r+b")
        except OSError:
            pass
    try:
        return path.open("rb")
    except FileNotFoundError as e:
        raise InputError(f"{path}: policy file not found", hint="pass --policies FILE") from e
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}") from e


def _read(path: Path) -> str:
    with _open(path) as fh:
        return _read_text(fh, path)


@contextmanager
def _locked(path: Path) -> Iterator[tuple[str, int]]:
    """Hold an exclusive lock on the policy file for a read-modify-write; yield (text, permission bits).

    The lock is a ``flock`` on the file itself (no lock file to leave behind). ``atomic_write`` replaces the
    file with a new inode, so a process that waited on the old one sees that it is stale once it gets the
    lock and starts over on the file ``path`` names now. Other ``keys create|revoke`` runs wait, up to
    ``LOCK_TIMEOUT_S``.
    """
    deadline = time.monotonic() + LOCK_TIMEOUT_S
    while True:
        with _open(path, for_lock=True) as fh:
            fd = fh.fileno()
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LlmopsError(
                            f"{path} is locked by another llmops process (waited {LOCK_TIMEOUT_S:.0f}s)",
                            hint="retry when it has finished",
                        ) from None
                    time.sleep(0.01)
                except OSError as e:
                    raise InputError(f"cannot lock {path}: {e.strerror or e}") from e
            held = os.fstat(fd)
            try:
                now = os.stat(path)
            except OSError:
                now = None  # replaced and gone, or unreachable now: start over (and report it)
            if now is not None and (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
                yield _read_text(fh, path), held.st_mode & 0o777
                return  # closing the file releases the lock


def _write(path: Path, text: str, mode: int) -> Policy:
    policy = parse_policy(text, str(path))  # never write a file the gateway would refuse
    try:
        atomic_write(path, text, mode=mode)  # a symlinked policy file: its target is replaced, the link kept
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror or e}") from e
    return policy


def create_key(path: str | os.PathLike[str], name: str, models: list[str] | None = None) -> CreatedKey:
    """Generate a key, store its hash in the policy file, return the key (shown once)."""
    p = Path(path)
    with _locked(p) as (text, mode):
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
        _write(p, _add_entry(text, str(p), entry), mode)
    return CreatedKey(key_id, name, key, list(entry["models"]), str(p))


def list_keys(path: str | os.PathLike[str]) -> list[ApiKey]:
    p = Path(path)
    return list(parse_policy(_read(p), str(p)).auth.keys)


@dataclass(frozen=True)
class Revocation:
    key: ApiKey
    already: bool  # the key was revoked before: the file was left as it was


def revoke_key(path: str | os.PathLike[str], key_id: str) -> Revocation:
    """Mark a key revoked (kept for the audit trail); a key revoked before is left as it is."""
    p = Path(path)
    with _locked(p) as (text, mode):
        policy = parse_policy(text, str(p))
        match = [k for k in policy.auth.keys if k.id == key_id]
        if not match:
            raise InputError(f"no key with id {key_id!r} in {p}", hint="list them with `llmops gateway keys list`")
        if match[0].revoked:
            return Revocation(match[0], already=True)
        edited = _set_revoked(text, str(p), key_id)
        if edited is None or not _revoked_in(edited, str(p), key_id):
            # An item layout the field edit does not handle: rewrite the item as one flow mapping.
            entry = match[0].model_dump(exclude_none=True)
            entry["revoked"] = True
            edited = _replace_entry(text, str(p), key_id, entry)
        new = _write(p, edited, mode)
    return Revocation(next(k for k in new.auth.keys if k.id == key_id), already=False)


def _revoked_in(text: str, filename: str, key_id: str) -> bool:
    """Whether ``text`` parses to a policy in which ``key_id`` is revoked."""
    try:
        policy = parse_policy(text, filename)
    except ConfigError:
        return False
    return any(k.id == key_id and k.revoked for k in policy.auth.keys)
