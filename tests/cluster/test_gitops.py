"""Local GitOps mode: the seed ConfigMap + push Job, and the remote repository Secret."""

from __future__ import annotations

import base64
import io
import tarfile

import pytest

from llmops_cli.cluster.model import UpOptions
from llmops_cli.cluster.steps import gitops
from llmops_cli.config.model import Settings
from llmops_cli.errors import LlmopsError
from tests.cluster.conftest import LOCAL_URL, make_inputs


def test_tarball_is_deterministic_and_prefixed() -> None:
    tree = {"b/x.yaml": "b\n", "a.yaml": "a\n"}
    one = gitops.tree_tarball(tree, "manifests/dev")
    assert one == gitops.tree_tarball(dict(reversed(tree.items())), "manifests/dev")
    with tarfile.open(fileobj=io.BytesIO(one), mode="r:gz") as tar:
        assert tar.getnames() == ["manifests/dev/a.yaml", "manifests/dev/b/x.yaml"]
        member = tar.extractfile("manifests/dev/b/x.yaml")
        assert member is not None and member.read() == b"b\n"


def test_seed_objects() -> None:
    (cm,), job = gitops.seed_objects(Settings(), make_inputs())
    assert cm["metadata"]["namespace"] == job["metadata"]["namespace"] == "llmops-system"
    raw = base64.b64decode(cm["binaryData"][gitops.SEED_KEY])
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
        assert "manifests/dev/apps/application-argo-cd.yaml" in tar.getnames()
    pod = job["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    # The push goes over SSH (an anonymous push only works while the repository does not exist).
    assert env["REPO_URL"] == "ssh://llmops-git.llmops-system.svc:23231/llmops.git" and env["BRANCH"] == "main"
    assert env["SEED_HASH"] == cm["metadata"]["annotations"][gitops.SEED_HASH_ANNOTATION]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
    assert "$REPO_URL" in gitops.SEED_SCRIPT and LOCAL_URL not in gitops.SEED_SCRIPT  # nothing interpolated
    # A different tree is a different seed hash (so `up`/`sync` push again); the same tree is not.
    _, again = gitops.seed_objects(Settings(), make_inputs())
    assert again == job
    other = make_inputs()
    other = type(other)(**{**other.__dict__, "tree": {"apps/root.yaml": "changed\n"}})
    _, changed = gitops.seed_objects(Settings(), other)
    assert changed["metadata"]["annotations"] != job["metadata"]["annotations"]


def test_push_job_authenticates_with_the_mounted_key_and_a_pinned_host_key() -> None:
    _, job = gitops.seed_objects(Settings(), make_inputs())
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == make_inputs().git_client_image
    mount = next(m for m in container["volumeMounts"] if m["name"] == "ssh-keys")
    assert mount == {"name": "ssh-keys", "mountPath": "/keys", "readOnly": True}
    volume = next(v for v in pod["volumes"] if v["name"] == "ssh-keys")
    assert volume["secret"]["secretName"] == "llmops-git-ssh"
    # Only the push key and known_hosts; never the server's host key.
    assert {i["key"] for i in volume["secret"]["items"]} == {"admin_ed25519", "known_hosts"}
    assert volume["secret"]["defaultMode"] == 0o440 and pod["securityContext"]["fsGroup"] == 65534
    env = {e["name"]: e for e in container["env"]}
    ssh = env["GIT_SSH_COMMAND"]["value"]
    assert "-i /tmp/id" in ssh and "StrictHostKeyChecking=yes" in ssh
    assert "UserKnownHostsFile=/keys/known_hosts" in ssh and "IdentitiesOnly=yes" in ssh
    # No key material in the environment: values are plain strings, none of them a key; no secretKeyRef.
    assert all(set(e) == {"name", "value"} for e in env.values())
    assert not any("PRIVATE KEY" in e["value"] or "ssh-ed25519" in e["value"] for e in env.values())
    # ssh refuses a group-readable key: the script copies it to /tmp with mode 600 before any git call.
    script = gitops.SEED_SCRIPT
    assert "cp /keys/id_ed25519 /tmp/id" in script and "chmod 600 /tmp/id" in script
    assert script.index("chmod 600 /tmp/id") < script.index("git clone")
    assert 'git push -q "$REPO_URL"' in script


def test_seed_objects_need_the_ssh_key_secret() -> None:
    from dataclasses import replace

    with pytest.raises(LlmopsError, match="SSH key Secret"):
        gitops.seed_objects(Settings(), replace(make_inputs(), git_ssh=None))


def test_a_tree_too_large_for_one_configmap_is_split() -> None:
    import os

    big = make_inputs()
    big = type(big)(**{**big.__dict__, "tree": {"blob.yaml": base64.b64encode(os.urandom(1_200_000)).decode()}})
    configmaps, job = gitops.seed_objects(Settings(), big)
    assert [cm["metadata"]["name"] for cm in configmaps] == ["llmops-git-seed", "llmops-git-seed-1"]
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SEED_PARTS"] == "2"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "http://llmops-git.llmops-system.svc:80/llmops.git",
            ("llmops-git", "llmops-system", 80, "llmops.git"),
        ),
        ("http://git.ns.svc.cluster.local/r.git", ("git", "ns", 80, "r.git")),
    ],
)
def test_parse_local_url(url: str, expected: tuple) -> None:
    assert gitops.parse_local_url(url) == expected


def test_parse_local_url_rejects_others() -> None:
    with pytest.raises(LlmopsError):
        gitops.parse_local_url("https://github.com/a/b.git")


def test_repo_secret_https_and_ssh() -> None:
    https = make_inputs(remote="https://github.com/acme/p.git")
    s = gitops.repo_secret(Settings(), https, UpOptions(git_token="t0k"), "argocd")
    assert s is not None
    assert s["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "repository"
    assert s["stringData"] == {
        "type": "git",
        "url": "https://github.com/acme/p.git",
        "username": "x-access-token",
        "password": "t0k",
    }
    ssh = make_inputs(remote="git@github.com:acme/p.git")
    k = gitops.repo_secret(Settings(), ssh, UpOptions(ssh_key="KEY"), "argocd")
    assert k is not None and k["stringData"]["sshPrivateKey"] == "KEY"
    assert gitops.repo_secret(Settings(), https, UpOptions(), "argocd") is None
