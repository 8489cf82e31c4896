"""A governed project in a real Git repository: the example model, a signing key llmops.yaml trusts, evidence
from a real `govern check`, environments, and a bare repository as its origin (what Argo CD would read)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from llmops_cli.govern.signing import generate_key, load_signer
from tests.govern.conftest import copy_example
from tests.govern.test_evidence import check

REPO_URL = "https://git.example.test/platform/llmops.git"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada Lovelace",
    "GIT_AUTHOR_EMAIL": "ada@example.test",
    "GIT_COMMITTER_NAME": "Ada Lovelace",
    "GIT_COMMITTER_EMAIL": "ada@example.test",
}


def git(repo: Path, *args: str, input: str | None = None) -> str:
    r = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, input=input)
    return r.stdout


def make_project(
    root: Path, *, environments: dict[str, Any] | None = None, fria: bool = True, sign: bool = True, **top: Any
) -> Path:
    project = copy_example(root, fria=fria)
    origin = root / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    config = yaml.safe_load((project / "llmops.yaml").read_text())
    if sign:
        generate_key(project / "keys" / "signing.key", project / "keys" / "signing.key.pub")
        config["governance"]["signing"] = {"public_keys": ["keys/signing.key.pub"]}
    # What Argo CD reads; this clone's origin is the bare repository beside it.
    config["gitops"] = {"repo_url": REPO_URL}
    config["environments"] = environments or {
        "dev": {"profile": "dev"},
        "prod": {"profile": "prod", "requires_evidence": True},
    }
    config.update(top)
    (project / "llmops.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (project / ".gitignore").write_text("keys/signing.key\n")
    git_init(project, origin)
    govern(project, sign=sign)
    return project


def git_init(project: Path, origin: Path) -> None:
    git(project, "init", "-q", "-b", "main")
    for k, v in (("user.name", GIT_ENV["GIT_AUTHOR_NAME"]), ("user.email", GIT_ENV["GIT_AUTHOR_EMAIL"])):
        git(project, "config", k, v)
    git(project, "remote", "add", "origin", f"file://{origin}")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "the project")
    git(project, "push", "-q", "origin", "main")


def govern(project: Path, *, sign: bool = True) -> Path:
    """A `govern check` run (signed with the project's key), committed as evidence is."""
    signer = load_signer(project / "keys" / "signing.key", {}) if sign else None
    bundle = check(project, signer=signer).bundle
    git(project, "add", "-A", "evidence")
    git(project, "commit", "-q", "-m", "evidence")
    return Path(bundle)


def set_model_version(project: Path, version: str) -> None:
    meta = project / "model.yaml"
    text = meta.read_text()
    old = yaml.safe_load(text)["version"]
    meta.write_text(text.replace(f"version: {old}", f"version: {version}", 1))
    git(project, "commit", "-q", "-am", f"model {version}")


def settings_of(project: Path):  # type: ignore[no-untyped-def]
    from llmops_cli.config.load import load_settings

    return load_settings(project / "llmops.yaml", environ={})


def copy_bundle_elsewhere(bundle: Path, dest: Path) -> Path:
    shutil.copytree(bundle, dest)
    return dest
