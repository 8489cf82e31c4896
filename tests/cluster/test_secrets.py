"""The local Git server's SSH keys: generated once at `up`, valid OpenSSH ed25519, never rotated or shown."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from llmops_cli.cluster.model import UpOptions
from llmops_cli.cluster.plan import build_plan
from llmops_cli.cluster.state import State
from llmops_cli.cluster.steps import secrets
from llmops_cli.cluster.up import local_git_ssh
from llmops_cli.config.model import Settings
from llmops_cli.render import names
from tests.cluster.conftest import GIT_SSH, Cluster, make_facts, make_inputs
from tests.cluster.kubesim import decode_secret
from tests.cluster.test_apply import up_once

SECRET_KEY = ("v1", "Secret", "llmops-system", "llmops-git-ssh")
STEP = "create_ssh_keys_llmops-system_llmops-git-ssh"


def _private(text: str) -> Ed25519PrivateKey:
    assert text.startswith("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    key = serialization.load_ssh_private_key(text.encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def _openssh_public(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def test_ssh_keys_are_openssh_ed25519_and_known_hosts_pins_the_host_key() -> None:
    keys = secrets.ssh_keys(GIT_SSH)
    assert set(keys) == {
        "ssh_host_ed25519_key",
        "ssh_host_ed25519_key.pub",
        "admin_ed25519",
        "admin_ed25519.pub",
        "known_hosts",
    }
    host = _private(keys["ssh_host_ed25519_key"])
    admin = _private(keys["admin_ed25519"])
    # known_hosts: "[<svc>.<ns>.svc]:23231 ssh-ed25519 AAAA..." with the host key's public half.
    hostname, keytype, blob = keys["known_hosts"].strip().split(" ")
    assert hostname == "[llmops-git.llmops-system.svc]:23231" and keytype == "ssh-ed25519"
    assert f"{keytype} {blob}" == _openssh_public(host) == keys["ssh_host_ed25519_key.pub"].strip()
    assert isinstance(serialization.load_ssh_public_key(f"{keytype} {blob}".encode()), Ed25519PublicKey)
    # The admin public key (Soft Serve's initial admin key) is the push key's public half.
    assert keys["admin_ed25519.pub"].startswith(_openssh_public(admin) + " ")
    # Two distinct keys, and fresh ones on every call.
    assert _openssh_public(host) != _openssh_public(admin)
    assert secrets.ssh_keys(GIT_SSH)["admin_ed25519"] != keys["admin_ed25519"]


def test_spec_matches_the_rendered_names() -> None:
    spec = local_git_ssh(Settings())
    assert spec == GIT_SSH
    assert spec is not None and spec.host == names.git_ssh_host()
    assert local_git_ssh(Settings.model_validate({"gitops": {"repo_url": "https://g.example/a.git"}})) is None


def test_keypair_step_only_in_local_mode_and_before_the_bootstrap_apply() -> None:
    plan = build_plan(Settings(), make_facts(), make_inputs())
    ids = plan.ids()
    assert ids.index(STEP) < ids.index("apply_argocd_install") < ids.index("seed_local_git")
    assert plan.step(STEP).phase == "secrets"
    remote = Settings.model_validate({"gitops": {"repo_url": "https://github.com/acme/p.git"}})
    plan = build_plan(remote, make_facts(), make_inputs(remote="https://github.com/acme/p.git"), UpOptions())
    assert STEP not in plan.ids()


def test_up_creates_the_keys_once_and_never_shows_them(settings: Settings, tmp_path: Path) -> None:
    cluster = Cluster()
    state = State(tmp_path / "state.json")
    report, _ = up_once(cluster, settings, state, UpOptions(show_password=True, timeout=60))
    data = decode_secret(cluster.kube.objects[SECRET_KEY])
    _private(data["ssh_host_ed25519_key"])
    _private(data["admin_ed25519"])
    # Neither in the state file nor in the report (not even with --show-password).
    shown = json.dumps(report.to_dict(show_secrets=True))
    for value in data.values():
        body = value.strip().splitlines()[1] if "PRIVATE KEY" in value else value.split()[-1]
        assert body not in (tmp_path / "state.json").read_text() and body not in shown
    # A second `up` keeps the Secret as it is.
    before = dict(data)
    cluster.kube.calls.clear()
    up_once(cluster, settings, state)
    assert decode_secret(cluster.kube.objects[SECRET_KEY]) == before
    assert not [c for c in cluster.kube.mutations() if "llmops-git-ssh" in c]


def test_an_existing_key_secret_is_kept(settings: Settings) -> None:
    cluster = Cluster(k3s_installed=True)
    old = {"known_hosts": base64.b64encode(b"[h]:23231 ssh-ed25519 AAAA\n").decode()}
    cluster.sim.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "llmops-system"}})
    cluster.kube.put(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "llmops-git-ssh", "namespace": "llmops-system"},
            "data": old,
        }
    )
    up_once(cluster, settings, State.memory())
    assert cluster.kube.objects[SECRET_KEY]["data"] == old
    assert "stringData" not in cluster.kube.objects[SECRET_KEY]
