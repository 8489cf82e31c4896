"""Local GitOps mode: the seed ConfigMap + push Job, and the remote repository Secret."""

from __future__ import annotations

import base64
import io
import tarfile

import pytest

from llmops_cli.cluster.plan import UpOptions
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
    cm, job = gitops.seed_objects(Settings(), make_inputs())
    assert cm["metadata"]["namespace"] == job["metadata"]["namespace"] == "llmops-system"
    raw = base64.b64decode(cm["binaryData"][gitops.SEED_KEY])
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
        assert "manifests/dev/apps/root.yaml" in tar.getnames()
    pod = job["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["REPO_URL"] == LOCAL_URL and env["BRANCH"] == "main"
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


def test_tree_too_large_for_a_configmap() -> None:
    import os

    big = make_inputs()
    big = type(big)(
        **{**big.__dict__, "tree": {"blob.yaml": base64.b64encode(os.urandom(1_200_000)).decode()}}
    )
    with pytest.raises(LlmopsError, match="over the local Git server's limit"):
        gitops.seed_objects(Settings(), big)


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
