"""The kubeconfig merge against the real kubectl (/usr/bin/kubectl), which shares these files with llmops.

kubectl refuses to write while ``<file>.lock`` exists and writes new entries to a file of its own choosing when
``KUBECONFIG`` lists several: these tests let kubectl itself judge what llmops leaves behind and where it writes.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from llmops_cli.adapters import kubeconfig as kc
from tests.cluster.conftest import K3S_YAML

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed (see docs in .ci/system-deps.sh)")


def env_for(home: Path, *files: Path) -> dict[str, str]:
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    if files:
        env["KUBECONFIG"] = os.pathsep.join(map(str, files))
    return env


def kubectl(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    r = subprocess.run([KUBECTL, *args], env=env, capture_output=True, text=True, timeout=30, check=False)
    if check and r.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {r.stderr}")
    return r


def kubectl_retrying(env: dict[str, str], *args: str, deadline: float = 60.0) -> None:
    """Run a writing kubectl command as a user would: again when another writer holds the lock."""
    end = time.monotonic() + deadline
    while True:
        r = kubectl(env, *args, check=False)
        if r.returncode == 0:
            return
        if "file exists" not in r.stderr or time.monotonic() > end:
            raise AssertionError(f"kubectl {' '.join(args)}: {r.stderr}")
        time.sleep(0.01)


@pytest.fixture(scope="module")
def kubectl_written(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A kubeconfig as kubectl itself writes it, with another cluster the user works on."""
    d = tmp_path_factory.mktemp("kubectl-written")
    env = env_for(d, d / "config")
    kubectl(env, "config", "set-cluster", "work", "--server=https://work.example:6443")
    kubectl(env, "config", "set-credentials", "me", "--token=abc")
    kubectl(env, "config", "set-context", "work", "--cluster=work", "--user=me")
    kubectl(env, "config", "use-context", "work")
    return (d / "config").read_text()


@pytest.fixture
def user_config(kubectl_written: str):  # type: ignore[no-untyped-def]
    def write(path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(kubectl_written)
        path.chmod(0o600)

    return write


def locks(d: Path) -> list[str]:
    return sorted(p.name for p in d.rglob("*.lock"))


def test_kubectl_uses_and_views_the_context_after_merge_and_remove(tmp_path: Path, user_config) -> None:  # type: ignore[no-untyped-def]
    env = env_for(tmp_path)
    user_config(tmp_path / ".kube" / "config")
    kc.merge_context(kc.entry_from_k3s(K3S_YAML, "llmops-x"), environ=env)
    assert locks(tmp_path) == []
    kubectl(env, "config", "use-context", "llmops-x")
    view = json.loads(kubectl(env, "config", "view", "-o", "json").stdout)
    assert sorted(c["name"] for c in view["contexts"]) == ["llmops-x", "work"]
    assert kubectl(env, "config", "current-context").stdout.strip() == "llmops-x"
    assert kc.remove_context("llmops-x", environ=env) == [tmp_path / ".kube" / "config"]
    assert locks(tmp_path) == []
    kubectl(env, "config", "use-context", "work")
    view = json.loads(kubectl(env, "config", "view", "-o", "json").stdout)
    assert [c["name"] for c in view["contexts"]] == ["work"]


def _where(files: list[Path], context: str) -> list[str]:
    out = []
    for f in files:
        if f.exists() and any(
            c.get("name") == context for c in (yaml.safe_load(f.read_text()) or {}).get("contexts") or []
        ):
            out.append(f.name)
    return out


def _current_in(files: list[Path], context: str) -> list[str]:
    return [
        f.name for f in files if f.exists() and (yaml.safe_load(f.read_text()) or {}).get("current-context") == context
    ]


LAYOUTS = [existing for n in (1, 2, 3) for existing in itertools.product([False, True], repeat=n)]


@pytest.mark.parametrize("existing", LAYOUTS, ids=lambda e: "".join("x" if b else "-" for b in e))
def test_a_new_context_and_the_current_context_go_where_kubectl_puts_them(
    tmp_path: Path,
    existing: tuple,
    user_config,  # type: ignore[no-untyped-def]
) -> None:
    """Every layout of a KUBECONFIG of 1-3 files, each present or not: llmops writes where kubectl does."""
    layouts = {}
    for who in ("kubectl", "llmops"):
        d = tmp_path / who
        d.mkdir()
        files = [d / f"k{i}.yaml" for i in range(len(existing))]
        for f, present in zip(files, existing, strict=True):
            if present:
                user_config(f)
        layouts[who] = (d, files)
    d, files = layouts["kubectl"]
    env = env_for(d, *files)
    kubectl(env, "config", "set-context", "llmops-x", "--cluster=llmops-x", "--user=llmops-x")
    kubectl(env, "config", "use-context", "llmops-x")
    d2, files2 = layouts["llmops"]
    kc.merge_context(kc.entry_from_k3s(K3S_YAML, "llmops-x"), switch=True, environ=env_for(d2, *files2))
    assert _where(files2, "llmops-x") == _where(files, "llmops-x")
    assert _current_in(files2, "llmops-x") == _current_in(files, "llmops-x")
    # kubectl sees it as its current context, and works with the files afterwards.
    assert kubectl(env_for(d2, *files2), "config", "current-context").stdout.strip() == "llmops-x"
    kubectl(env_for(d2, *files2), "config", "use-context", "llmops-x")
    assert locks(tmp_path) == []


def test_an_existing_entry_is_updated_in_the_file_kubectl_updates(tmp_path: Path, user_config) -> None:  # type: ignore[no-untyped-def]
    layouts = {}
    for who in ("kubectl", "llmops"):
        d = tmp_path / who
        d.mkdir()
        a, b = d / "a.yaml", d / "b.yaml"
        user_config(a)
        kc.merge_context(kc.entry_from_k3s(K3S_YAML, "llmops-x"), environ=env_for(d, b))
        layouts[who] = (d, [a, b])
    d, files = layouts["kubectl"]
    kubectl(env_for(d, *files), "config", "set-cluster", "llmops-x", "--server=https://10.200.0.9:6443")
    d2, files2 = layouts["llmops"]
    kc.merge_context(
        kc.entry_from_k3s(K3S_YAML, "llmops-x", server="https://10.200.0.9:6443"), environ=env_for(d2, *files2)
    )
    for mine, theirs in zip(files2, files, strict=True):
        assert ("10.200.0.9" in mine.read_text()) == ("10.200.0.9" in theirs.read_text()), mine.name
    assert "10.200.0.9" in files2[1].read_text()


MERGER = textwrap.dedent(
    """
    import sys
    from llmops_cli.adapters import kubeconfig as kc
    k3s = open(sys.argv[1]).read()
    env = {"KUBECONFIG": sys.argv[2], "HOME": sys.argv[3]}
    prefix, count = sys.argv[4], int(sys.argv[5])
    for i in range(count if count >= 0 else 10**9):
        kc.merge_context(kc.entry_from_k3s(k3s, f"{prefix}{i % 50}"), environ=env)
        if count < 0:
            print("merged", flush=True)
    """
)


def _merger(tmp_path: Path, cfg: Path, prefix: str, count: int) -> subprocess.Popen[str]:
    k3s = tmp_path / "k3s.yaml"
    k3s.write_text(K3S_YAML)
    return subprocess.Popen(
        [sys.executable, "-c", MERGER, str(k3s), str(cfg), str(tmp_path), prefix, str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_merges_racing_kubectl_config_set_keep_every_write(tmp_path: Path, user_config) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "config"
    env = env_for(tmp_path, cfg)
    user_config(cfg)
    mergers = [_merger(tmp_path, cfg, prefix, 6) for prefix in ("llmops-a", "llmops-b")]
    for i in range(12):
        kubectl_retrying(env, "config", "set", f"clusters.kubectl-{i}.server", f"https://k{i}.example:6443")
    for m in mergers:
        _, err = m.communicate(timeout=120)
        assert m.returncode == 0, err
    view = json.loads(kubectl(env, "config", "view", "-o", "json").stdout)
    contexts = {c["name"] for c in view["contexts"]}
    assert {f"llmops-{p}{i}" for p in "ab" for i in range(6)} | {"work"} <= contexts
    clusters = {c["name"] for c in view["clusters"]}
    assert {f"kubectl-{i}" for i in range(12)} <= clusters
    assert locks(tmp_path) == []


@pytest.mark.parametrize(("sig", "delay"), [(signal.SIGINT, 0.35), (signal.SIGTERM, 0.5), (signal.SIGINT, 0.9)])
def test_a_signal_mid_merge_leaves_no_lock_and_a_whole_file(
    tmp_path: Path,
    sig: int,
    delay: float,
    user_config,  # type: ignore[no-untyped-def]
) -> None:
    cfg = tmp_path / "config"
    env = env_for(tmp_path, cfg)
    user_config(cfg)
    proc = _merger(tmp_path, cfg, "llmops-s", -1)
    assert proc.stdout is not None
    proc.stdout.readline()  # merging in a loop now, each merge holding the locks for MIN_HOLD_S
    time.sleep(delay)
    proc.send_signal(sig)
    proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert locks(tmp_path) == []
    kubectl(env, "config", "use-context", "work")
    assert "work" in kubectl(env, "config", "get-contexts", "-o", "name").stdout.split()
