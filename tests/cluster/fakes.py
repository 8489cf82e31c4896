"""In-memory stand-ins of our own protocols (Host, Kube) that record every call.

``FakeKube`` is a thin front of :class:`tests.cluster.kubesim.Sim`: the simulated cluster decides what happens
(and refuses what a real cluster refuses); the front adds the call record and turns the simulator's refusals
into the very errors the real Kube adapter raises for the same HTTP status.
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmops_cli.adapters.kube import Unreachable, status_error
from llmops_cli.adapters.procs import ProcResult
from llmops_cli.errors import CommandFailed
from tests.cluster.kubesim import Sim, SimError

Responder = ProcResult | Callable[[list[str]], ProcResult]


def ok(stdout: str = "", stderr: str = "", code: int = 0) -> ProcResult:
    return ProcResult((), code, stdout, stderr)


@dataclass
class FakeHost:
    """A machine in memory: files, directories, tools on PATH, canned command outputs; records calls in order.

    ``on_run(host, argv, env)`` plays what a command does to the machine; it may return a ProcResult to answer
    with (a command that fails or is killed)."""

    name: str = "fake"
    root: bool = True
    files: dict[str, str] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)
    modes: dict[str, int] = field(default_factory=dict)
    tools: set[str] = field(default_factory=set)
    responses: dict[str, Responder] = field(default_factory=dict)  # glob over " ".join(argv)
    calls: list[tuple[str, ...]] = field(default_factory=list)
    on_run: Callable[[FakeHost, list[str], Mapping[str, str]], ProcResult | None] | None = None

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
        answer = self.on_run(self, argv, env or {}) if self.on_run else None
        line = " ".join(argv)
        result = answer or ok()
        if answer is None:
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
        p = path.rstrip("/")
        return (
            path in self.files
            or p in self.dirs
            or any(f.startswith(p + "/") for f in self.files)
            or any(d.startswith(p + "/") for d in self.dirs)
        )

    def remove(self, path: str, *, privileged: bool = False) -> None:
        self.calls.append(("remove", path))
        self.files.pop(path, None)

    def stage(self, local_path: str) -> str:
        self.calls.append(("stage", local_path))
        return local_path

    def remove_tree(self, prefix: str) -> None:
        p = prefix.rstrip("/")
        for f in [f for f in self.files if f == p or f.startswith(p + "/")]:
            del self.files[f]
        self.dirs = {d for d in self.dirs if not (d == p or d.startswith(p + "/"))}

    def mutations(self) -> list[tuple[str, ...]]:
        return [c for c in self.calls if c[0] in ("write", "remove") or (c[0] == "run" and c[3] == "rw")]


@dataclass
class FakeKube:
    """The Kube adapter's interface over a simulated cluster; ``hooks`` run the simulator's controllers."""

    sim: Sim = field(default_factory=Sim)
    calls: list[tuple[str, ...]] = field(default_factory=list)
    read_only: bool = False
    hooks: list[Callable[[FakeKube], None]] = field(default_factory=lambda: [lambda k: k.sim.tick()])
    now: float = 0.0
    reachable: Callable[[], bool] = field(default=lambda: True)

    @property
    def objects(self) -> dict[tuple[str, str, str, str], dict[str, Any]]:
        return self.sim.objects

    def put(self, obj: dict[str, Any]) -> None:
        self.sim.put(obj)

    def _tick(self) -> None:
        for h in self.hooks:
            h(self)

    def _up(self) -> None:
        if not self.reachable():
            raise Unreachable(
                "request to the Kubernetes API at https://127.0.0.1:6443 failed: connection refused",
                hint="is k3s running?",
            )

    def _guard(self, what: str) -> None:
        if self.read_only:
            from llmops_cli.adapters.hosts import DryRunViolation

            raise DryRunViolation(what)

    @staticmethod
    def _call(method: str, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except SimError as e:
            raise status_error(e.status, method, what, e.message) from None

    def apply(self, obj: Any, *, force: bool = True) -> dict[str, Any]:
        self._guard("apply")
        self._up()
        m = obj["metadata"]
        self.calls.append(("apply", obj["kind"], m.get("namespace") or "", m["name"]))
        live = self._call("PATCH", f"{obj['kind']}/{m['name']}", lambda: self.sim.apply(obj))
        self._tick()
        return live  # type: ignore[no-any-return]

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        self._up()
        self.calls.append(("get", kind, namespace or "", name))
        self._tick()
        return self.sim.get(api_version, kind, name, namespace)

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        self._up()
        self.calls.append(("list", kind, namespace or ""))
        self._tick()
        return self.sim.list(api_version, kind, namespace, label_selector=label_selector, field_selector=field_selector)

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str = "Foreground",
    ) -> bool:
        self._guard("delete")
        self._up()
        self.calls.append(("delete", kind, namespace or "", name))
        gone = self.sim.delete(api_version, kind, name, namespace)
        self._tick()
        return gone

    def merge_patch(
        self, api_version: str, kind: str, name: str, patch: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        self._guard("patch")
        self._up()
        self.calls.append(("patch", kind, namespace or "", name))
        out = self._call(
            "PATCH", f"{kind}/{name}", lambda: self.sim.merge_patch(api_version, kind, name, patch, namespace)
        )
        self._tick()
        return out  # type: ignore[no-any-return]

    def logs(self, pod: str, namespace: str, *, tail: int = 50) -> str:
        self._up()
        return self._call("GET", f"pod {pod}", lambda: self.sim.logs(pod, namespace))  # type: ignore[no-any-return]

    def events_for(self, namespace: str, name: str, kind: str | None = None, limit: int = 5) -> list[str]:
        sel = f"involvedObject.name={name}" + (f",involvedObject.kind={kind}" if kind else "")
        items = self.sim.list("v1", "Event", namespace, field_selector=sel)
        return [f"{e.get('reason', '?')}: {e.get('message', '').strip()}" for e in items[-limit:]]

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


@dataclass
class FakeClock:
    """Time for waits in tests: ``sleep`` advances it, so a wait that never succeeds ends at its deadline."""

    t: float = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def deep(obj: Any) -> Any:
    return copy.deepcopy(obj)
