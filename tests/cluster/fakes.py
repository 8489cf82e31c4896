"""In-memory fakes of our own protocols (Host, Kube) that record every call."""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmops_cli.adapters.procs import ProcResult
from llmops_cli.errors import CommandFailed

Responder = ProcResult | Callable[[list[str]], ProcResult]


def ok(stdout: str = "", stderr: str = "", code: int = 0) -> ProcResult:
    return ProcResult((), code, stdout, stderr)


@dataclass
class FakeHost:
    """A machine in memory: files, tools on PATH, canned command outputs; records calls in order."""

    name: str = "fake"
    root: bool = True
    files: dict[str, str] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    tools: set[str] = field(default_factory=set)
    responses: dict[str, Responder] = field(default_factory=dict)  # glob over " ".join(argv)
    calls: list[tuple[str, ...]] = field(default_factory=list)
    on_run: Callable[[FakeHost, list[str]], None] | None = None

    @property
    def is_root(self) -> bool:
        return self.root

    def run(
        self,
        argv: Sequence[str],
        *,
        privileged: bool = False,
        check: bool = True,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        timeout: float | None = None,
        readonly: bool = False,
    ) -> ProcResult:
        argv = list(argv)
        self.calls.append(
            (
                "run",
                " ".join(argv),
                "priv" if privileged else "",
                "ro" if readonly else "rw",
                ",".join(f"{k}={v}" for k, v in sorted((env or {}).items())),
            )
        )
        if self.on_run:
            self.on_run(self, argv)
        line = " ".join(argv)
        result = ok()
        for pattern, resp in self.responses.items():
            if fnmatch.fnmatchcase(line, pattern):
                result = resp(argv) if callable(resp) else resp
                break
        result = ProcResult(tuple(argv), result.returncode, result.stdout, result.stderr)
        if check and not result.ok:
            raise CommandFailed(argv, result.returncode, result.stdout, result.stderr)
        return result

    def which(self, tool: str) -> str | None:
        return f"/usr/bin/{tool}" if tool in self.tools else None

    def read_text(self, path: str, *, privileged: bool = False) -> str | None:
        return self.files.get(path)

    def write_text(self, path: str, text: str, *, mode: int = 0o644, privileged: bool = False) -> None:
        self.calls.append(("write", path, "priv" if privileged else "", f"{mode:o}"))
        self.files[path] = text
        self.modes[path] = mode

    def exists(self, path: str) -> bool:
        return path in self.files or any(f.startswith(path.rstrip("/") + "/") for f in self.files)

    def remove(self, path: str, *, privileged: bool = False) -> None:
        self.calls.append(("remove", path))
        self.files.pop(path, None)

    def mutations(self) -> list[tuple[str, ...]]:
        return [c for c in self.calls if c[0] in ("write", "remove") or (c[0] == "run" and c[3] == "rw")]


def _key(api_version: str, kind: str, name: str, namespace: str | None) -> tuple[str, str, str, str]:
    return (api_version, kind, namespace or "", name)


@dataclass
class FakeKube:
    """An object store with the Kube adapter's interface; ``hooks`` simulate controllers."""

    objects: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)
    read_only: bool = False
    logs_text: str = ""
    hooks: list[Callable[[FakeKube], None]] = field(default_factory=list)
    now: float = 0.0

    def put(self, obj: dict[str, Any]) -> None:
        m = obj["metadata"]
        self.objects[_key(obj["apiVersion"], obj["kind"], m["name"], m.get("namespace"))] = copy.deepcopy(obj)

    def _tick(self) -> None:
        for h in self.hooks:
            h(self)

    def apply(self, obj: Any, *, force: bool = True) -> dict[str, Any]:
        if self.read_only:
            from llmops_cli.adapters.hosts import DryRunViolation

            raise DryRunViolation("apply")
        m = obj["metadata"]
        self.calls.append(("apply", obj["kind"], m.get("namespace") or "", m["name"]))
        key = _key(obj["apiVersion"], obj["kind"], m["name"], m.get("namespace"))
        live = copy.deepcopy(obj)
        old = self.objects.get(key)
        if old and "status" in old:
            live["status"] = old["status"]
        self.objects[key] = live
        self._tick()
        return live

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        self.calls.append(("get", kind, namespace or "", name))
        self._tick()
        obj = self.objects.get(_key(api_version, kind, name, namespace))
        return copy.deepcopy(obj) if obj else None

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        self.calls.append(("list", kind, namespace or ""))
        self._tick()
        out = []
        for (av, k, ns, _), obj in sorted(self.objects.items()):
            if av != api_version or k != kind or (namespace and ns != namespace):
                continue
            if label_selector:
                labels = obj["metadata"].get("labels") or {}
                want = dict(p.split("=", 1) for p in label_selector.split(","))
                if any(labels.get(a) != b for a, b in want.items()):
                    continue
            out.append(copy.deepcopy(obj))
        return out

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str = "Foreground",
    ) -> bool:
        if self.read_only:
            from llmops_cli.adapters.hosts import DryRunViolation

            raise DryRunViolation("delete")
        self.calls.append(("delete", kind, namespace or "", name))
        return self.objects.pop(_key(api_version, kind, name, namespace), None) is not None

    def merge_patch(
        self, api_version: str, kind: str, name: str, patch: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        if self.read_only:
            from llmops_cli.adapters.hosts import DryRunViolation

            raise DryRunViolation("patch")
        self.calls.append(("patch", kind, namespace or "", name))
        obj = self.objects[_key(api_version, kind, name, namespace)]
        _merge(obj, dict(patch))
        return copy.deepcopy(obj)

    def logs(self, pod: str, namespace: str, *, tail: int = 50) -> str:
        return self.logs_text

    def events_for(self, namespace: str, name: str, kind: str | None = None, limit: int = 5) -> list[str]:
        return [f"BackOff: {kind or ''} {name} is not happy"]

    def wait_until(
        self,
        probe: Callable[[], Any],
        *,
        timeout: float,
        what: str,
        interval: float = 2.0,
        describe: Callable[[], Any] | None = None,
    ) -> Any:
        from llmops_cli.errors import WaitTimeout

        start = self.now
        while True:
            value = probe()
            if value is not None:
                return value
            if self.now - start >= timeout:
                lines = list(describe()) if describe else []
                raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what}\n  " + "\n  ".join(lines))
            self.now += interval

    def mutations(self) -> list[tuple[str, ...]]:
        return [c for c in self.calls if c[0] in ("apply", "delete", "patch")]


def _merge(dst: dict[str, Any], patch: dict[str, Any]) -> None:
    for k, v in patch.items():
        if v is None:
            dst.pop(k, None)
        elif isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge(dst[k], v)
        else:
            dst[k] = copy.deepcopy(v)
