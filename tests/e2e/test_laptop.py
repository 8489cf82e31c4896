"""End to end on a real Linux host: the laptop journey, and what a careful admin checks afterwards.

Opt-in (it installs k3s!): `nox -s e2e` or `pytest tests/e2e --with-e2e`. Needs a disposable Linux machine or
VM with systemd (or OpenRC), root or passwordless sudo, kubectl, and internet access (or
LLMOPS_E2E_AIRGAP=<bundle dir>). LLMOPS_E2E_GPU=on runs the GPU path (NVIDIA driver required; the toolkit is
installed by `up --install-toolkit` when missing); the default is auto. LLMOPS_E2E_TIMEOUT (seconds, default
1800) bounds each `up`. The suite ends with `down --purge` and checks the host is clean, unless
LLMOPS_E2E_KEEP=1.

In order: doctor; a dry run; the pinned installer's hash; an `up` killed mid-install and resumed; `verify` (every
part through its own port-forwards; LLMOPS_E2E_API_KEY adds the gateway key checks) and `verify --context`; status and
kubectl with a kubeconfig that had other contexts; a no-op `up`; a config change that restarts k3s; `sync`;
`down` then `up`; `down --purge` and a clean host; then a k3s installed by hand is adopted (and left by
`--purge`, removed by `--uninstall-k3s`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.e2e

TIMEOUT = int(os.environ.get("LLMOPS_E2E_TIMEOUT", "1800"))
GPU = os.environ.get("LLMOPS_E2E_GPU", "auto")
AIRGAP = os.environ.get("LLMOPS_E2E_AIRGAP")
API_KEY = os.environ.get("LLMOPS_E2E_API_KEY")  # a gateway key the cluster accepts, for verify's key checks
REPO = Path(__file__).resolve().parents[2]
DROPIN = "/etc/rancher/k3s/config.yaml.d/50-llmops.yaml"
SUDO = [] if os.geteuid() == 0 else ["sudo", "-n"]


def llmops(*args: str, timeout: int = TIMEOUT, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess, with the test's HOME and KUBECONFIG."""
    return subprocess.run(
        [sys.executable, "-m", "llmops_cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
        cwd=env["LLMOPS_E2E_PROJECT"],
    )


def up_args(*extra: str) -> list[str]:
    args = ["up", "--yes", "--gpu", GPU, "--timeout", str(TIMEOUT), "-o", "json", "--install-toolkit", *extra]
    if AIRGAP:
        args += ["--airgap-bundle", AIRGAP]
    return args


def kubectl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", *args], capture_output=True, text=True, env=env, timeout=120, check=False)


@pytest.fixture(scope="module")
def real_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("e2e-home")
    project = tmp_path_factory.mktemp("e2e-project")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMOPS_")}
    env.update(
        HOME=str(home),
        KUBECONFIG=str(home / ".kube" / "config"),
        NO_COLOR="1",
        LLMOPS_E2E_PROJECT=str(project),
        PYTHONPATH=str(REPO),
    )
    env.pop("CI", None)
    # A kubeconfig with the user's other work in it, written by kubectl itself.
    for args in (
        ("config", "set-cluster", "work", "--server=https://work.example:6443"),
        ("config", "set-credentials", "me", "--token=abc"),
        ("config", "set-context", "work", "--cluster=work", "--user=me"),
        ("config", "use-context", "work"),
    ):
        assert kubectl(env, *args).returncode == 0
    yield env
    if os.environ.get("LLMOPS_E2E_KEEP") != "1":
        llmops("down", "--yes", "--uninstall-k3s", env=env, timeout=900)


def test_doctor_passes(real_env: dict[str, str]) -> None:
    r = llmops("doctor", "-o", "json", env=real_env, timeout=120)
    data = json.loads(r.stdout)["data"]
    failing = [c for c in data["checks"] if c["status"] == "fail"]
    assert r.returncode == 0 and not failing, failing


def test_dry_run_changes_nothing_and_exits_0_on_a_host_that_can_run_it(real_env: dict[str, str]) -> None:
    before = Path(real_env["KUBECONFIG"]).read_text()
    r = llmops("up", "--dry-run", "--gpu", GPU, "--install-toolkit", "-o", "json", env=real_env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["data"]["preflight"] == []
    assert Path(real_env["KUBECONFIG"]).read_text() == before and not Path(DROPIN).exists()


@pytest.mark.skipif(bool(AIRGAP), reason="airgap run: no internet")
def test_pinned_installer_matches_its_hash() -> None:
    from llmops_cli.adapters import upstream

    with urllib.request.urlopen(upstream.K3S_INSTALLER_URL, timeout=60) as resp:
        body = resp.read()
    assert hashlib.sha256(body).hexdigest() == upstream.K3S_INSTALLER_SHA256


def test_an_up_killed_mid_install_is_resumed(real_env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmops_cli", *up_args()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=real_env,
        cwd=real_env["LLMOPS_E2E_PROJECT"],
        start_new_session=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 600
    for line in proc.stderr:
        if "install k3s" in line or time.monotonic() > deadline:
            break
    time.sleep(5)  # inside the installer now
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(60)
    r = llmops(*up_args(), env=real_env, timeout=TIMEOUT + 300)
    assert r.returncode == 0, r.stderr[-3000:]
    data = json.loads(r.stdout)["data"]
    assert all(v == "Synced/Healthy" for v in data["results"]["applications"].values())
    if GPU == "on":
        assert data["results"]["gpu_allocatable"] >= 1 and data["results"]["gpu_smoke"]


def _verify(real_env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    env = dict(real_env)
    if API_KEY:  # the completion, redaction and Loki checks need a key the cluster's gateway accepts
        env["LLMOPS_API_KEY"] = API_KEY
    r = llmops("verify", *args, "-o", "json", env=env, timeout=900)
    assert r.stdout, r.stderr[-3000:]
    return r.returncode, json.loads(r.stdout)["data"]


def test_verify_after_up_proves_each_part_works(real_env: dict[str, str]) -> None:
    """`llmops verify` on the cluster `up` made: the offline checks, then every enabled part through port-forwards
    verify opens itself (kubeconfig context llmops-llmops, the user's current context left alone)."""
    code, data = _verify(real_env)
    checks = {c["name"]: c for c in data["checks"]}
    failing = {n: c for n, c in checks.items() if c["status"] == "fail"}
    assert code == 0 and not failing, failing
    assert data["mode"] == "cluster" and data["environment"] == "dev"
    for name in ("config", "governance policies", "gateway policy", "gateway ready", "pgvector nearest neighbour",
                 "prometheus targets", "prometheus rules", "grafana dashboards", "argocd llmops-dev"):  # fmt: skip
        assert checks[name]["status"] in ("ok", "warn"), checks[name]
    argo = [c for c in checks.values() if c["component"] == "argocd"]
    assert argo and all(c["status"] == "ok" and "Synced/Healthy" in c["detail"] for c in argo), argo
    if API_KEY:
        for name in ("gateway chat completion", "gateway streamed completion", "gateway redacts email"):
            assert checks[name]["status"] == "ok", checks[name]
    else:
        assert checks["gateway chat completion"]["status"] == "skip"
    assert kubectl(real_env, "config", "current-context").stdout.strip() == "work"


def test_verify_reaches_a_cluster_by_its_context(real_env: dict[str, str]) -> None:
    """--context names the kubeconfig context (as a remote environment's llmops-<env> would be named)."""
    code, data = _verify(real_env, "--live-only", "--context", "llmops-llmops")
    assert code == 0, [c for c in data["checks"] if c["status"] == "fail"]
    assert data["mode"] == "cluster" and not any(c["component"] == "offline" for c in data["checks"])
    missing = llmops("verify", "--context", "llmops-nowhere", env=real_env, timeout=120)
    assert missing.returncode == 2 and "llmops-llmops" in missing.stderr  # the contexts it has are named


def test_status_and_kubectl_with_the_users_other_contexts(real_env: dict[str, str]) -> None:
    cfg = Path(real_env["KUBECONFIG"])
    assert cfg.stat().st_mode & 0o777 == 0o600
    assert not list(cfg.parent.glob("*.lock"))  # kubectl would refuse to write
    s = llmops("status", "-o", "json", env=real_env, timeout=120)
    assert s.returncode == 0, s.stdout
    assert json.loads(s.stdout)["data"]["healthy"] is True
    assert kubectl(real_env, "config", "current-context").stdout.strip() == "work"
    assert kubectl(real_env, "--context", "llmops-llmops", "get", "nodes").returncode == 0
    assert kubectl(real_env, "config", "use-context", "work").returncode == 0
    # The Argo CD UI hint is true: that Service exists and answers HTTP on port 80.
    svc = kubectl(
        real_env, "--context", "llmops-llmops", "-n", "argocd", "get", "svc", "argo-cd-argocd-server", "-o", "json"
    )
    ports = {p["name"]: p["port"] for p in json.loads(svc.stdout)["spec"]["ports"]}
    assert ports["http"] == 80
    # One owner: the bootstrap HelmChart is gone, Argo CD runs.
    chart = kubectl(real_env, "--context", "llmops-llmops", "-n", "kube-system", "get", "helmchart", "argo-cd")
    assert chart.returncode != 0 and "NotFound" in chart.stderr


@pytest.mark.skipif(not AIRGAP or not list(Path(AIRGAP or ".").glob("charts/*.tgz")), reason="no bundled charts")
def test_bundled_charts_are_read_from_the_local_repository(real_env: dict[str, str]) -> None:
    """With a bundle that carries chart archives, the Applications of those charts read them from the in-cluster
    Git server (a path source), none from a Helm repository, and each is Synced and Healthy."""
    from llmops_cli.cluster.up import inspect_airgap_bundle
    from llmops_cli.render.names import LOCAL_GIT_URL

    charts = inspect_airgap_bundle(AIRGAP or "").charts
    got = kubectl(real_env, "--context", "llmops-llmops", "-n", "argocd", "get", "applications", "-o", "json")
    apps = {a["metadata"]["name"]: a for a in json.loads(got.stdout)["items"]}
    local = [a for a in apps.values() if a["spec"]["source"].get("path", "").startswith("charts/")]
    assert {a["spec"]["source"]["path"] for a in local} <= {c.repo_path for c in charts.values()}
    for a in local:
        assert a["spec"]["source"]["repoURL"] == LOCAL_GIT_URL
        assert (a["status"]["sync"]["status"], a["status"]["health"]["status"]) == ("Synced", "Healthy")
    pulled = [a["spec"]["source"]["chart"] for a in apps.values() if a["spec"]["source"].get("chart")]
    assert not set(pulled) & set(charts), pulled


def test_second_up_changes_nothing_and_is_fast(real_env: dict[str, str]) -> None:
    t0 = time.monotonic()
    r = llmops("up", "--yes", "--gpu", GPU, "-o", "json", env=real_env, timeout=600)
    elapsed = time.monotonic() - t0
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout)["data"]["changed"] == 0
    assert elapsed < 60, f"a no-op up took {elapsed:.0f}s"


def test_a_config_change_restarts_k3s_with_it(real_env: dict[str, str]) -> None:
    project = Path(real_env["LLMOPS_E2E_PROJECT"])
    (project / "llmops.yaml").write_text(yaml.safe_dump({"cluster": {"node_labels": {"llmops.dev/e2e": "yes"}}}))
    try:
        r = llmops(*up_args(), env=real_env, timeout=TIMEOUT + 300)
        assert r.returncode == 0, r.stderr[-3000:]
        steps = {s["id"]: s["status"] for s in json.loads(r.stdout)["data"]["steps"]}
        assert steps["write_k3s_config"] == "changed" and steps["restart_k3s_on_config_change"] == "changed"
        labels = kubectl(real_env, "--context", "llmops-llmops", "get", "nodes", "-o", "json")
        assert any(n["metadata"]["labels"].get("llmops.dev/e2e") == "yes" for n in json.loads(labels.stdout)["items"])
    finally:
        (project / "llmops.yaml").unlink()
    assert llmops(*up_args(), env=real_env, timeout=TIMEOUT + 300).returncode == 0


def test_sync_is_a_no_op_when_nothing_changed(real_env: dict[str, str]) -> None:
    r = llmops("sync", "-o", "json", env=real_env, timeout=600)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["data"]["changed"] is False


def test_down_then_up(real_env: dict[str, str]) -> None:
    r = llmops("down", "--yes", "-o", "json", env=real_env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    left = json.loads(r.stdout)["data"]["left_on_host"]
    assert any(DROPIN in item for item in left)
    # `down` waited until they were gone: nothing is left Terminating for the next `up` to trip on.
    for ns in ("argocd", "llmops", "llmops-system", "monitoring"):
        got = subprocess.run(
            [*SUDO, "k3s", "kubectl", "get", "namespace", ns], capture_output=True, text=True, check=False
        )
        assert got.returncode != 0 and "NotFound" in got.stderr, (ns, got.stdout)
    again = llmops(*up_args(), env=real_env, timeout=TIMEOUT + 300)
    assert again.returncode == 0, again.stderr[-3000:]


def test_down_purge_leaves_the_host_clean(real_env: dict[str, str]) -> None:
    if os.environ.get("LLMOPS_E2E_KEEP") == "1":
        pytest.skip("LLMOPS_E2E_KEEP=1")
    r = llmops("down", "--yes", "--purge", "-o", "json", env=real_env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    data = json.loads(r.stdout)["data"]
    assert all("backup" in item for item in data["left_on_host"]), data["left_on_host"]
    assert not Path(DROPIN).exists() and shutil.which("k3s") is None and not Path("/usr/local/bin/k3s").exists()
    text = Path(real_env["KUBECONFIG"]).read_text()
    assert "llmops-llmops" not in text and "work" in text
    assert not list(Path(real_env["KUBECONFIG"]).parent.glob("*.lock"))
    assert kubectl(real_env, "config", "use-context", "work").returncode == 0
    state = Path(real_env["HOME"]) / ".local" / "state" / "llmops" / "clusters" / "llmops.json"
    assert not state.exists() or set(json.loads(state.read_text())["flags"]["host"]) == {"backups"}


@pytest.mark.skipif(bool(AIRGAP), reason="airgap run: no internet")
def test_an_existing_k3s_is_adopted_and_purge_leaves_it(real_env: dict[str, str], tmp_path: Path) -> None:
    if os.environ.get("LLMOPS_E2E_KEEP") == "1":
        pytest.skip("LLMOPS_E2E_KEEP=1")
    from llmops_cli.adapters import upstream
    from llmops_cli.config.model import Settings

    installer = tmp_path / "install.sh"
    with urllib.request.urlopen(upstream.K3S_INSTALLER_URL, timeout=60) as resp:
        installer.write_bytes(resp.read())
    assert hashlib.sha256(installer.read_bytes()).hexdigest() == upstream.K3S_INSTALLER_SHA256
    env = {**real_env, "INSTALL_K3S_VERSION": Settings().cluster.k3s_version}
    subprocess.run(
        [*SUDO, "env", f"INSTALL_K3S_VERSION={env['INSTALL_K3S_VERSION']}", "sh", str(installer)],
        check=True,
        timeout=900,
    )
    plan = llmops("up", "--dry-run", "--gpu", GPU, "-o", "json", env=real_env, timeout=300)
    steps = {s["id"]: s for s in json.loads(plan.stdout)["data"]["steps"]}
    assert steps["install_k3s"]["description"].startswith("adopt existing k3s")
    r = llmops(*up_args(), env=real_env, timeout=TIMEOUT + 300)
    assert r.returncode == 0, r.stderr[-3000:]
    purge = llmops("down", "--yes", "--purge", "-o", "json", env=real_env, timeout=900)
    assert purge.returncode == 0, purge.stderr[-3000:]
    assert Path("/usr/local/bin/k3s").exists() and not Path(DROPIN).exists()  # not ours to remove
    final = llmops("down", "--yes", "--uninstall-k3s", env=real_env, timeout=900)
    assert final.returncode == 0 and not Path("/usr/local/bin/k3s").exists()
