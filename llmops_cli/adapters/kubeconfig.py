"""Kubeconfig files, parsed (never text-edited): take k3s's admin config, merge it as context
``llmops-<cluster>`` into the user's kubeconfig, remove it again.

Writes follow kubectl's own protocol (kubernetes/client-go, tools/clientcmd/loader.go ``lockFile``/``unlockFile``
and config.go ``ModifyConfig``/``GetDefaultFilename``), because kubectl shares these files with us:

- **Locking.** Before changing anything, every file of the loading precedence is locked, in sorted order, by
  creating ``<file>.lock`` with ``O_CREAT|O_EXCL`` (mode 0); the lock files are removed afterwards. kubectl does
  exactly this and gives up at once when a lock exists ("open config.lock: file exists"), so a lock left behind
  breaks every later ``kubectl config`` command: ours are removed on every path, errors and Ctrl-C included
  (SIGINT/SIGTERM are held back while a lock is held, and delivered right after it is released). Where kubectl
  fails, we wait (``LOCK_TIMEOUT_S``): its locks live for milliseconds.
- **Where to write.** ``KUBECONFIG`` may list several files. An entry that exists is updated in the first file
  that holds it (the one kubectl reads); a new entry, and the current context, go to kubectl's default file: the
  only file of a one-file ``KUBECONFIG``, else the first that exists, else the last one listed; without
  ``KUBECONFIG``, ``~/.kube/config``.
- Every write is atomic (temp file + rename) with mode 0600; the current context changes only when asked (or when
  no file sets one: kubectl needs one to be useful).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from llmops_cli.errors import ConfigError, LlmopsError

LOCK_TIMEOUT_S = 30.0
LOCK_POLL_S = 0.02
# How long a lock is held at least. `kubectl config set/use-context` reads the files *before* it takes the lock,
# and client-go's ModifyConfig then deletes every entry the locked re-read has but its earlier read had not: an
# entry we add and release inside that window is lost. Holding the lock longer than kubectl's read-to-lock gap
# (microseconds, unless it is descheduled) makes kubectl fail loudly ("config.lock: file exists") instead.
MIN_HOLD_S = 0.2
# Held back while a lock file exists, so that no signal can leave one behind (SIGKILL cannot be held back).
_DEFERRED_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
_KINDS = ("clusters", "users", "contexts")


class KubeconfigError(LlmopsError):
    code = "kubeconfig"


def kubeconfig_paths(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The loading precedence: ``KUBECONFIG``'s files (duplicates dropped, as client-go does), else
    ``~/.kube/config``."""
    paths = _env_files(environ)
    return paths or [_home_file(environ)]


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _env_files(environ: Mapping[str, str] | None) -> list[Path]:
    raw = _env(environ).get("KUBECONFIG", "")
    out: list[Path] = []
    for part in raw.split(os.pathsep):
        if not part.strip():
            continue
        p = Path(part).expanduser()
        if p not in out:
            out.append(p)
    return out


def _home_file(environ: Mapping[str, str] | None) -> Path:
    return Path(_env(environ).get("HOME", str(Path.home()))) / ".kube" / "config"


def default_file(environ: Mapping[str, str] | None = None) -> Path:
    """Where kubectl writes a new entry or the current context (client-go ``PathOptions.GetDefaultFilename``)."""
    files = _env_files(environ)
    if not files:
        return _home_file(environ)
    if len(files) == 1:
        return files[0]
    for f in files:
        if f.exists():
            return f
    return files[-1]


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
    for key in _KINDS:
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


def _has(data: Mapping[str, Any], kind: str, name: str) -> bool:
    return any(isinstance(e, dict) and e.get("name") == name for e in data[kind])


def _has_any(data: Mapping[str, Any], name: str) -> bool:
    return any(_has(data, kind, name) for kind in _KINDS)


def _strip(data: dict[str, Any], name: str, kinds: Sequence[str] = _KINDS) -> None:
    for key in kinds:
        data[key] = [e for e in data[key] if not (isinstance(e, dict) and e.get("name") == name)]


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return parse("", str(path))
    except OSError as e:
        raise KubeconfigError(f"cannot read {path}: {e.strerror}") from e
    return parse(text, str(path))


def _write(path: Path, data: Mapping[str, Any]) -> None:
    from llmops_cli.fsutil import atomic_write

    atomic_write(path, dump(data), mode=0o600)


def lock_name(path: Path) -> Path:
    return Path(str(path) + ".lock")


@contextlib.contextmanager
def locked(paths: Sequence[Path], *, timeout: float | None = None) -> Iterator[None]:
    """Hold kubectl's lock on every file of ``paths`` (client-go ``ModifyConfig``: sorted, ``<file>.lock`` created
    with ``O_CREAT|O_EXCL``, removed afterwards) for at least ``MIN_HOLD_S``. Signals are held back while any lock
    exists, so that nothing but SIGKILL can leave one behind; they are let through while waiting for another
    writer's lock."""
    wait = LOCK_TIMEOUT_S if timeout is None else timeout
    deadline = time.monotonic() + wait
    held: list[Path] = []
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED_SIGNALS) if hasattr(signal, "pthread_sigmask") else None
    try:
        for path in sorted({Path(p) for p in paths}, key=str):
            path.parent.mkdir(parents=True, exist_ok=True)  # client-go: MkdirAll(dir, 0755) when missing
            lock = lock_name(path)
            while True:
                try:
                    os.close(os.open(lock, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
                    held.append(lock)
                    break
                except FileExistsError:
                    if time.monotonic() >= deadline:
                        raise _locked_error(path, lock, wait) from None
                if mask is not None:
                    signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # let Ctrl-C through while we wait
                try:
                    time.sleep(LOCK_POLL_S)
                finally:
                    if mask is not None:
                        signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED_SIGNALS)
        acquired = time.monotonic()
        yield
        time.sleep(max(0.0, MIN_HOLD_S - (time.monotonic() - acquired)))
    finally:
        for lock in reversed(held):
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _locked_error(path: Path, lock: Path, waited: float) -> KubeconfigError:
    try:
        age = f", created {time.time() - lock.stat().st_mtime:.0f}s ago"
    except OSError:
        age = ""
    return KubeconfigError(
        f"{path} stayed locked for {waited:.0f}s ({lock} exists{age}): another kubectl or llmops is writing it",
        hint=f"if no kubectl or llmops is running, {lock} is stale: remove it (kubectl cannot write while it exists)",
    )


def _documents(paths: Sequence[Path]) -> dict[Path, dict[str, Any]]:
    return {p: _read(p) for p in paths if p.is_file()}


def _first(docs: Mapping[Path, Mapping[str, Any]], paths: Sequence[Path], kind: str, name: object) -> Any:
    """The entry kubectl sees for ``name``: the first file of the precedence that defines it wins."""
    for p in paths:
        doc = docs.get(p)
        if doc is None:
            continue
        for e in doc[kind]:
            if isinstance(e, dict) and e.get("name") == name:
                return e
    return None


def _current(docs: Mapping[Path, Mapping[str, Any]], paths: Sequence[Path]) -> str:
    """The merged current context: the first file that sets a non-empty one wins."""
    for p in paths:
        value = (docs.get(p) or {}).get("current-context")
        if value:
            return str(value)
    return ""


def current_context(environ: Mapping[str, str] | None = None) -> str:
    paths = kubeconfig_paths(environ)
    return _current(_documents(paths), paths)


def context_names(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every context name of the merged kubeconfig, in kubectl's precedence order (each once)."""
    paths = kubeconfig_paths(environ)
    docs = _documents(paths)
    names = [e.get("name") for p in paths if p in docs for e in docs[p]["contexts"] if isinstance(e, dict)]
    return list(dict.fromkeys(str(n) for n in names if n))


def target_file(name: str, environ: Mapping[str, str] | None = None) -> Path:
    """The file that holds context ``name`` (the first that defines it), else kubectl's default file."""
    paths = kubeconfig_paths(environ)
    docs = _documents(paths)
    for p in paths:
        if p in docs and _has(docs[p], "contexts", name):
            return p
    return default_file(environ)


def find_context(name: str, environ: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The one-context config kubectl would use for ``name`` (as :func:`entry_from_k3s` returns), or None."""
    paths = kubeconfig_paths(environ)
    docs = _documents(paths)
    ctx = _first(docs, paths, "contexts", name)
    if ctx is None:
        return None
    body = ctx.get("context") or {}
    cluster = _first(docs, paths, "clusters", body.get("cluster"))
    user = _first(docs, paths, "users", body.get("user"))
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


def _put(entries: list[Any], new: Sequence[Any], name: str) -> list[Any]:
    """``entries`` with every entry named ``name`` replaced by ``new`` (where the first one was, else at the end)."""
    out: list[Any] = []
    placed = False
    for e in entries:
        if isinstance(e, dict) and e.get("name") == name:
            if not placed:
                out.extend(new)
                placed = True
            continue
        out.append(e)
    if not placed:
        out.extend(new)
    return out


def merge_context(entry: Mapping[str, Any], *, switch: bool = False, environ: Mapping[str, str] | None = None) -> Path:
    """Merge the one-context ``entry`` into the user's kubeconfig where kubectl would write it; return the file
    that holds the context. Entries of the same name further down ``KUBECONFIG`` (shadowed: kubectl never reads
    them) are dropped, so no stale certificate survives anywhere."""
    name = entry["contexts"][0]["name"]
    paths = kubeconfig_paths(environ)
    with locked(paths):
        docs = _documents(paths)
        default = default_file(environ)
        changed: set[Path] = set()
        target = default
        for kind in _KINDS:
            holders = [p for p in paths if p in docs and _has(docs[p], kind, name)]
            where = holders[0] if holders else default
            doc = docs.setdefault(where, parse("", str(where)))
            doc[kind] = _put(doc[kind], entry[kind], name)
            changed.add(where)
            for p in holders[1:]:
                _strip(docs[p], name, (kind,))
                changed.add(p)
            if kind == "contexts":
                target = where
        if switch or not _current(docs, paths):
            # kubectl writes the current context to its default file (client-go writeCurrentContext).
            docs.setdefault(default, parse("", str(default)))["current-context"] = name
            changed.add(default)
        for p in [*paths, default]:
            if p in changed:
                _write(p, docs[p])
                changed.discard(p)
    return target


def remove_context(name: str, *, environ: Mapping[str, str] | None = None) -> list[Path]:
    """Remove ``name`` from every kubeconfig file that holds it; return the files changed."""
    paths = kubeconfig_paths(environ)
    changed = []
    with locked(paths):
        for p, data in _documents(paths).items():
            if not _has_any(data, name) and data.get("current-context") != name:
                continue
            _strip(data, name)
            if data.get("current-context") == name:
                data["current-context"] = ""
            _write(p, data)
            changed.append(p)
    return changed


def same_credentials(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Whether two one-context configs point at the same server with the same credentials."""
    if a is None or b is None:
        return False
    return a["clusters"][0]["cluster"] == b["clusters"][0]["cluster"] and a["users"][0]["user"] == b["users"][0]["user"]
