"""Kubeconfig files, parsed (never text-edited): take k3s's admin config, merge it as context
``llmops-<cluster>`` into the user's kubeconfig, remove it again.

Merging replaces every cluster, user and context entry of that name (so no stale certificate survives a
reinstall), under a file lock (two ``llmops up`` or a concurrent ``kubectl config`` never lose each other's
writes: kubectl uses ``<file>.lock`` too), written atomically with mode 0600. ``KUBECONFIG`` may list several
files: like kubectl, an existing entry is updated in the file that holds it and a new one goes to the first
file. The current context changes only when asked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from llmops_cli.errors import ConfigError, LlmopsError

LOCK_TIMEOUT_S = 30.0


class KubeconfigError(LlmopsError):
    code = "kubeconfig"


def kubeconfig_paths(environ: Mapping[str, str] | None = None) -> list[Path]:
    env = os.environ if environ is None else environ
    raw = env.get("KUBECONFIG", "")
    paths = [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]
    if not paths:
        paths = [Path(env.get("HOME", str(Path.home()))) / ".kube" / "config"]
    # kubectl ignores duplicates after the first occurrence.
    seen: set[Path] = set()
    out = []
    for p in paths:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def parse(text: str, source: str = "kubeconfig") -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as e:
        raise ConfigError(f"not valid YAML: {e}", file=source, hint="fix or move the file away") from e
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("a kubeconfig must be a mapping", file=source, hint="fix or move the file away")
    for key in ("clusters", "users", "contexts"):
        if data.get(key) is None:
            data[key] = []
        if not isinstance(data[key], list):
            raise ConfigError(f"`{key}` must be a list", file=source, hint="fix or move the file away")
    data.setdefault("apiVersion", "v1")
    data.setdefault("kind", "Config")
    data.setdefault("preferences", {})
    return data


def dump(data: Mapping[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(dict(data), sort_keys=False, default_flow_style=False)


def entry_from_k3s(k3s_yaml: str, name: str, *, server: str | None = None) -> dict[str, Any]:
    """A one-context kubeconfig named ``name`` from ``/etc/rancher/k3s/k3s.yaml`` (whose entries are all
    called ``default``). ``server`` replaces the API address (a remote host's instead of 127.0.0.1)."""
    src = parse(k3s_yaml, "k3s.yaml")
    ctx_name = src.get("current-context") or (src["contexts"][0]["name"] if src["contexts"] else None)
    ctx = next((c for c in src["contexts"] if c.get("name") == ctx_name), None)
    if ctx is None:
        raise KubeconfigError("k3s.yaml has no context", hint="reinstall k3s or check /etc/rancher/k3s/k3s.yaml")
    cluster = next((c for c in src["clusters"] if c.get("name") == ctx["context"].get("cluster")), None)
    user = next((u for u in src["users"] if u.get("name") == ctx["context"].get("user")), None)
    if cluster is None or user is None:
        raise KubeconfigError("k3s.yaml's context points at a missing cluster or user")
    cluster_body = dict(cluster["cluster"])
    if server:
        cluster_body["server"] = server
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": name, "cluster": cluster_body}],
        "users": [{"name": name, "user": dict(user["user"])}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }


def _has(data: Mapping[str, Any], name: str) -> bool:
    return any(
        isinstance(e, dict) and e.get("name") == name for key in ("clusters", "users", "contexts") for e in data[key]
    )


def _strip(data: dict[str, Any], name: str) -> None:
    for key in ("clusters", "users", "contexts"):
        data[key] = [e for e in data[key] if not (isinstance(e, dict) and e.get("name") == name)]


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return parse("", str(path))
    except OSError as e:
        raise KubeconfigError(f"cannot read {path}: {e.strerror}") from e
    return parse(text, str(path))


def _lock(path: Path) -> Any:
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S)


def _write(path: Path, data: Mapping[str, Any]) -> None:
    from llmops_cli.fsutil import atomic_write

    atomic_write(path, dump(data), mode=0o600)


def target_file(name: str, environ: Mapping[str, str] | None = None) -> Path:
    """The file that holds ``name`` already, else the first file of KUBECONFIG."""
    paths = kubeconfig_paths(environ)
    for p in paths:
        if p.is_file() and _has(_read(p), name):
            return p
    return paths[0]


def find_context(name: str, environ: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The merged one-context config for ``name`` (as :func:`entry_from_k3s` returns), or None."""
    for p in kubeconfig_paths(environ):
        if not p.is_file():
            continue
        data = _read(p)
        ctx = next((c for c in data["contexts"] if c.get("name") == name), None)
        if ctx is None:
            continue
        body = ctx.get("context") or {}
        cluster = next((c for c in data["clusters"] if c.get("name") == body.get("cluster")), None)
        user = next((u for u in data["users"] if u.get("name") == body.get("user")), None)
        if cluster is None or user is None:
            return None
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [cluster],
            "users": [user],
            "contexts": [ctx],
            "current-context": name,
        }
    return None


def merge_context(entry: Mapping[str, Any], *, switch: bool = False, environ: Mapping[str, str] | None = None) -> Path:
    """Merge the one-context ``entry`` into the user's kubeconfig; return the file written."""
    name = entry["contexts"][0]["name"]
    paths = kubeconfig_paths(environ)
    others = [p for p in paths if p.is_file() and _has(_read(p), name)]
    target = others[0] if others else paths[0]
    try:
        with _lock(target):
            data = _read(target)
            _strip(data, name)
            for key in ("clusters", "users", "contexts"):
                data[key].extend(entry[key])
            if switch or not data.get("current-context"):
                # An empty current-context means nothing to preserve; kubectl needs one to be useful.
                data["current-context"] = name
            _write(target, data)
    except TimeoutError as e:
        raise KubeconfigError(
            f"{target} is locked by another program", hint=f"retry, or remove a stale {target}.lock"
        ) from e
    # Entries of the same name further down KUBECONFIG would be shadowed anyway; drop them so they go stale
    # nowhere.
    for p in others[1:]:
        remove_context(name, environ={"KUBECONFIG": str(p), "HOME": str(Path.home())})
    return target


def remove_context(name: str, *, environ: Mapping[str, str] | None = None) -> list[Path]:
    """Remove ``name`` from every kubeconfig file that holds it; return the files changed."""
    changed = []
    for p in kubeconfig_paths(environ):
        if not p.is_file():
            continue
        try:
            with _lock(p):
                data = _read(p)
                if not _has(data, name):
                    continue
                _strip(data, name)
                if data.get("current-context") == name:
                    data["current-context"] = ""
                _write(p, data)
                changed.append(p)
        except TimeoutError as e:
            raise KubeconfigError(f"{p} is locked by another program", hint=f"retry, or remove {p}.lock") from e
    return changed


def same_credentials(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Whether two one-context configs point at the same server with the same credentials."""
    if a is None or b is None:
        return False
    return a["clusters"][0]["cluster"] == b["clusters"][0]["cluster"] and a["users"][0]["user"] == b["users"][0]["user"]
