"""Each part of llmops imports only what its pyproject extra installs.

The gateway image installs `llmops[gateway]` and a governance CI job `llmops[govern]`. The real commands run here
in a Python whose every distribution outside what the base install and that extra bring (resolved from the
installed metadata, dependencies of dependencies included) cannot be imported, as in such an install: an
optional import that a library guards falls back, as it would there, and anything else fails the command. A
command whose extra is missing says which one to install.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement

from llmops_cli.extras import EXTRA_FOR_MODULE
from tests.gateway.conftest import SHIPPED
from tests.gateway.redis_server import free_port

ROOT = Path(__file__).resolve().parents[1]
EXTRAS: dict[str, list[str]] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
MODULE_DISTS = metadata.packages_distributions()


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(extras: Iterable[str]) -> set[str]:
    """Distributions that `pip install 'llmops[EXTRAS]'` installs: llmops's own requirements for those extras,
    then every requirement of those, as the installed metadata of this environment says."""
    wanted: list[Requirement] = []
    base = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    todo = [Requirement(r) for r in base]
    seen_extras: set[str] = set()
    pending = list(extras)
    while pending:
        extra = pending.pop()
        if extra in seen_extras:
            continue
        seen_extras.add(extra)
        for spec in EXTRAS[extra]:
            req = Requirement(spec)
            if _norm(req.name) == "llmops":
                pending.extend(req.extras)
            else:
                todo.append(req)
    found: set[str] = set()
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = _norm(req.name)
        if name in found:
            continue
        found.add(name)
        wanted.append(req)
        try:
            requires = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue
        for spec in requires:
            sub = Requirement(spec)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in ("", *req.extras)):
                todo.append(sub)
    return found


# Run `python -m llmops_cli ARGS` with the distributions not in $LLMOPS_TEST_ALLOWED unimportable.
_BLOCKED_RUN = """
import json, os, runpy, sys
from importlib import metadata

allowed = set(json.loads(os.environ["LLMOPS_TEST_ALLOWED"]))
norm = lambda n: n.replace("_", "-").replace(".", "-").lower()
owners = {m: {norm(d) for d in ds} for m, ds in metadata.packages_distributions().items()}

class Blocker:
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top != "llmops_cli" and owners.get(top) and not owners[top] & allowed:
            raise ModuleNotFoundError(f"No module named {top!r} (not installed with this extra)", name=top)
        return None

sys.meta_path.insert(0, Blocker())
sys.argv = ["llmops", *sys.argv[1:]]
runpy.run_module("llmops_cli", run_name="__main__", alter_sys=True)
"""


def _blocked(*extras: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of `llmops` installed with these extras alone (none: the base)."""
    allowed = json.dumps(sorted(_closure(extras)))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "LLMOPS_TEST_ALLOWED": allowed}
    return [sys.executable, "-c", _BLOCKED_RUN], env


def test_the_table_of_extras_is_pyprojects() -> None:
    """Each module in the table comes from a distribution of the extra it names, and each distribution an extra
    lists directly is in the table."""
    listed = {
        extra: {_norm(Requirement(r).name) for r in reqs if _norm(Requirement(r).name) != "llmops"}
        for extra, reqs in EXTRAS.items()
        if extra not in ("test", "dev", "all")
    }
    for module, extra in EXTRA_FOR_MODULE.items():
        assert {_norm(d) for d in MODULE_DISTS.get(module, ())} & listed[extra], (module, extra)
    covered = {_norm(d) for module in EXTRA_FOR_MODULE for d in MODULE_DISTS.get(module, ())}
    for extra, dists in listed.items():
        assert dists <= covered, (extra, dists - covered)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_gateway_runs_on_the_gateway_extra_alone(tmp_path: Path) -> None:
    from llmops_cli.gateway.testing.fake_upstream import FakeConfig, FakeUpstream, serve_in_thread

    policy = tmp_path / "gateway.yaml"
    policy.write_text(SHIPPED.read_text())
    llmops, env = _blocked("gateway")
    keys = subprocess.run(
        [*llmops, "gateway", "keys", "create", "demo", "--policies", str(policy)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert keys.returncode == 0, keys.stderr
    key = keys.stdout.strip()
    port, metrics_port = free_port(), free_port()
    with serve_in_thread(FakeUpstream(FakeConfig())) as upstream:
        proc = subprocess.Popen(
            [
                *llmops,
                "gateway",
                "serve",
                "--policies",
                str(policy),
                "--upstream",
                upstream + "/v1",
                "--port",
                str(port),
                "--metrics-port",
                str(metrics_port),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(url + "/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise AssertionError(f"the gateway did not start: {proc.communicate()[1][-3000:]}")
                time.sleep(0.1)
            headers = {"Authorization": f"Bearer {key}"}
            body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi, I am bob@example.com"}]}
            r = httpx.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=10)
            assert r.status_code == 200 and "bob@example.com" not in r.text, r.text
            with httpx.stream(
                "POST", url + "/v1/chat/completions", json={**body, "stream": True}, headers=headers, timeout=10
            ) as stream:
                assert stream.status_code == 200 and "[DONE]" in "".join(stream.iter_text())
            metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text  # on their own port only
            assert "llmops_gateway_requests_total" in metrics
        finally:
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0 or "Traceback" not in stderr, stderr[-3000:]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_govern_check_runs_on_the_govern_extra_alone(tmp_path: Path) -> None:
    llmops, env = _blocked("govern")
    argv = [
        "govern",
        "check",
        "--project",
        str(ROOT / "examples"),
        "--evidence-dir",
        str(tmp_path / "ev"),
        "-o",
        "json",
    ]
    r = subprocess.run([*llmops, *argv], env=env, capture_output=True, text=True, timeout=100, cwd=tmp_path)
    assert r.returncode in (0, 4), r.stderr[-3000:]
    envelope = json.loads(r.stdout)
    assert envelope["command"] == "govern check" and envelope["status"] in ("ok", "fail"), envelope["status"]


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["govern", "check", "--project", str(ROOT / "examples")], "govern"),
        (["render", "--out", "tree"], "render"),
        (["gateway", "serve", "--policies", str(SHIPPED), "--port", "0"], "gateway"),
        (["doctor"], "cluster"),
    ],
)
def test_a_command_without_its_extra_names_the_extra(argv: list[str], extra: str, tmp_path: Path) -> None:
    """On the base install alone, a command that needs an extra says which, in one line (exit 1), not "bug"."""
    llmops, env = _blocked()
    r = subprocess.run([*llmops, *argv], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    last = r.stderr.splitlines()[-1]
    assert re.fullmatch(rf"error: this command needs llmops's {extra!r} extra \(\w+ is not installed\) .*", last), last
    assert f"pip install 'llmops[{extra}]'" in last and "Traceback" not in r.stderr
