"""A release pinned to image digests, against a real registry (Debian's docker-registry, distribution v2.8.2, on
loopback; tests/promote/registry.py): `promote` resolves each image the environment's render uses from its tag to
the digest the registry serves, renders ``repo:tag@sha256:…``, records the digests in release.yaml and the commit,
and the gate compares them with the images a governance bundle names. A missing tag, an unreachable registry or a
refused token stop it with one line naming the image and the registry, before anything is written."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from llmops_cli.adapters.registry import (
    BadImageReference,
    RegistryClient,
    RegistryError,
    parse_challenge,
    parse_image,
)
from llmops_cli.promote import images as promote_images
from llmops_cli.render.api import render_environment
from tests.helpers import run_cli
from tests.promote.project import git, settings_of
from tests.promote.registry import Registry, running_registry
from tests.promote.test_release_git import project, promote, template

__all__ = ["project", "template"]  # fixtures, imported for pytest
DOMAINS = ("docker.io", "ghcr.io", "quay.io", "nvcr.io")


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """One registry behind distribution's bearer-token auth for the module (a test token issuer beside it)."""
    with running_registry(tmp_path_factory.mktemp("registry-token"), token=True) as reg:
        yield reg


@pytest.fixture(scope="module")
def plain_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with running_registry(tmp_path_factory.mktemp("registry-plain")) as reg:
        yield reg


def rendered_refs(project: Path, gpus: tuple[bool, ...] = (False, True)) -> list[str]:
    """The image references prod's render uses (with and without a GPU; promote here renders without one)."""
    seen: set[str] = set()

    def record(refs: list[str]) -> dict[str, str]:
        seen.update(refs)
        return {}

    s = settings_of(project).settings
    for gpu in gpus:
        render_environment(s, "prod", gpu=gpu, project_dir=project, pin_images=record)
    return sorted(seen)


def push_all(reg: Registry, refs: list[str], *, seed: str = "", skip: str | None = None) -> dict[str, str]:
    """Each reference pushed (alternately an OCI index, an OCI manifest, a Docker v2 manifest); ref -> digest."""
    out = {}
    for i, text in enumerate(refs):
        if text == skip:
            continue
        ref = parse_image(text)
        if i % 3 == 0:
            out[text] = reg.push_index(ref.path, ref.tag, {"amd64": f"{seed}a{i}", "arm64": f"{seed}b{i}"})
        else:
            out[text] = reg.push_image(ref.path, ref.tag, seed=seed, docker=i % 3 == 2)
    return out


def use_registry(monkeypatch: pytest.MonkeyPatch, reg: Registry | str) -> None:
    """Every public registry's repositories answered by ``reg`` (a mirror holding the same paths)."""
    url = reg if isinstance(reg, str) else reg.url
    monkeypatch.setattr(
        promote_images, "registry_client", lambda: RegistryClient(endpoints=dict.fromkeys(DOMAINS, url))
    )


def serve_release(project: Path, reg: Registry, monkeypatch: pytest.MonkeyPatch, seed: str) -> dict[str, str]:
    """Every image prod renders pushed into ``reg``, and promote pointed at it; ref -> digest."""
    pushed = push_all(reg, rendered_refs(project), seed=seed)
    use_registry(monkeypatch, reg)
    return pushed


def release_yaml(project: Path, rev: str = "HEAD") -> dict[str, Any]:
    return yaml.safe_load(git(project, "show", f"{rev}:manifests/prod/release.yaml"))


def workload_images(project: Path, rev: str = "HEAD") -> set[str]:
    text = git(project, "grep", "-h", "-E", r"^\s+(image|imageName): ", rev, "--", "manifests/prod")
    return {yaml.safe_load(line.split(":", 1)[1]) for line in text.splitlines()}


# ------------------------------------------------------------------------------------------------ promote
def test_promote_pins_every_image_to_the_digest_a_token_auth_registry_serves(
    project: Path, token_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    pushed = serve_release(project, token_registry, monkeypatch, "one")
    asked_before = len(token_registry.issuer.asked)  # type: ignore[union-attr]
    promote(project)
    rel = release_yaml(project)
    used = {k for k in rel["image_digests"]}
    assert used and used == set(rendered_refs(project, (False,))) and used <= set(pushed)
    for ref in used:
        assert rel["image_digests"][ref] == {"digest": pushed[ref], "source": token_registry.host}
    # Every workload runs repo:tag@digest, and exactly the recorded digests.
    running = workload_images(project)
    assert running == {f"{ref}@{pushed[ref]}" for ref in used}
    assert set(rel["images"].values()) == running
    # The record in Git names each one.
    body = git(project, "log", "-1", "--format=%B")
    assert sorted(re.findall(r"^Llmops-Image: (.+)$", body, re.M)) == sorted(running)
    # Anonymous tokens were asked for each repository's pull scope, as the challenge named it.
    asked = token_registry.issuer.asked[asked_before:]  # type: ignore[union-attr]
    assert {q["scope"][0] for q in asked} == {f"repository:{parse_image(r).path}:pull" for r in used}
    # `render --check` agrees with the promoted tree (it keeps the recorded digests).
    r = run_cli("-c", str(project / "llmops.yaml"), "render", "--env", "prod", "--check")
    assert r.exit_code == 0, r.output


def test_a_repushed_tag_yields_a_new_digest_and_a_changed_release(
    project: Path, plain_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_release(project, plain_registry, monkeypatch, "first")
    promote(project)
    first = git(project, "rev-parse", "HEAD").strip()
    victim = sorted(release_yaml(project)["image_digests"])[0]
    # Promoting again with nothing moved commits nothing.
    report = promote(project)
    assert report.commit is None and git(project, "rev-parse", "HEAD").strip() == first
    ref = parse_image(victim)
    new = plain_registry.push_image(ref.path, ref.tag, seed="second")
    old = release_yaml(project)["image_digests"][victim]["digest"]
    assert new != old
    report = promote(project)
    assert report.commit is not None
    rel = release_yaml(project)
    assert rel["image_digests"][victim]["digest"] == new
    assert f"{victim}@{new}" in workload_images(project)
    diff = git(project, "diff", first, "HEAD", "--", "manifests/prod")
    assert re.search(rf"^-.*{re.escape(victim)}@{old}", diff, re.M) and re.search(
        rf"^\+.*{re.escape(victim)}@{new}", diff, re.M
    )
    assert f"Llmops-Image: {victim}@{new}" in git(project, "log", "-1", "--format=%B")


def test_a_missing_tag_stops_promote_with_one_line_naming_the_image_and_registry(
    project: Path, plain_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    pushed = serve_release(project, plain_registry, monkeypatch, "missing")
    missing = rendered_refs(project, (False,))[-1]
    plain_registry.delete_manifest(parse_image(missing).path, pushed[missing])  # the tag is gone upstream
    head = git(project, "rev-parse", "HEAD")
    r = run_cli("-c", str(project / "llmops.yaml"), "promote", "prod", "--yes")
    assert r.exit_code == 1, r.output
    line = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(line) == 1 and "Traceback" not in r.stderr, r.stderr
    assert missing in line[0] and plain_registry.host in line[0] and "404" in line[0]
    # Nothing written: no commit, no release files in the working tree.
    assert git(project, "rev-parse", "HEAD") == head
    assert not (project / "manifests" / "prod" / "release.yaml").exists()
    assert git(project, "status", "--porcelain", "--", "manifests") == ""


def test_an_unreachable_registry_stops_promote_naming_the_image_and_registry(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.realparts import free_port

    port = free_port()  # nothing listens there
    use_registry(monkeypatch, f"http://127.0.0.1:{port}")
    r = run_cli("-c", str(project / "llmops.yaml"), "promote", "prod", "--dry-run")
    assert r.exit_code == 1, r.output
    assert f"127.0.0.1:{port}" in r.stderr and "cannot reach the registry" in r.stderr
    assert any(ref in r.stderr for ref in rendered_refs(project))


def test_dry_run_shows_the_resolved_digests_and_changes_nothing(
    project: Path, plain_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    pushed = serve_release(project, plain_registry, monkeypatch, "dry")
    head = git(project, "rev-parse", "HEAD")
    r = run_cli("-c", str(project / "llmops.yaml"), "promote", "prod", "--dry-run")
    assert r.exit_code == 0, r.output
    shown = set(re.findall(r"Llmops-Image: (\S+)", r.stdout))
    assert shown and all(s.split("@")[1] == pushed[s.split("@")[0]] for s in shown)
    added = [ln for ln in r.stdout.splitlines() if ln.startswith("+") and "image" in ln]
    assert {s for s in shown if any(s in ln for ln in added)} == shown
    r = run_cli("-c", str(project / "llmops.yaml"), "promote", "prod", "--dry-run", "-o", "json")
    data = json.loads(r.stdout)["data"]
    assert {k: v["digest"] for k, v in data["release"]["release"]["image_digests"].items()} == {
        s.split("@")[0]: s.split("@")[1] for s in shown
    }
    assert git(project, "rev-parse", "HEAD") == head


def test_images_pinned_in_llmops_yaml_are_used_without_asking_a_registry(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refs = rendered_refs(project)
    pins = {ref: "sha256:" + f"{i:x}" * 64 for i, ref in enumerate(refs, 1)}
    pins = {ref: d[:71] for ref, d in pins.items()}

    def no_lookups() -> RegistryClient:
        raise AssertionError("a registry was asked although every image is pinned")

    monkeypatch.setattr(promote_images, "registry_client", no_lookups)
    cfg = yaml.safe_load((project / "llmops.yaml").read_text())
    cfg["environments"]["prod"]["images"] = [f"{ref}@{d}" for ref, d in pins.items()]
    (project / "llmops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    git(project, "commit", "-qam", "pin images")
    promote(project)
    rel = release_yaml(project)
    assert rel["image_digests"] and all(
        v == {"digest": pins[k], "source": "llmops.yaml"} for k, v in rel["image_digests"].items()
    )
    # A pin for the same repository at another tag is stale: bad input naming the field, exit 2.
    running = sorted(rel["image_digests"])[0]
    first = parse_image(running)
    cfg["environments"]["prod"]["images"] = [f"{first.name}:not-{first.tag}@{pins[running]}"]
    (project / "llmops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    r = run_cli("-c", str(project / "llmops.yaml"), "promote", "prod", "--dry-run")
    assert r.exit_code == 2, r.output
    assert "environments.prod.images[0]" in r.stderr and f"the release runs {running}" in r.stderr
    # A pin that is not repo:tag@sha256:… is refused when llmops.yaml is read (exit 2).
    cfg["environments"]["prod"]["images"] = ["docker.io/valkey/valkey:8@sha256:123"]
    (project / "llmops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    r = run_cli("-c", str(project / "llmops.yaml"), "promote", "prod", "--dry-run")
    assert r.exit_code == 2 and "environments.prod.images" in r.stderr, r.output


# ------------------------------------------------------------------------------------------------ the gate
def bundle_naming(project: Path, images: dict[str, str]) -> Path:
    """The project's evidence re-filed with ``images`` in its signed manifest (a new run, signed by the key
    llmops.yaml trusts)."""
    from llmops_cli.govern.evidence import MANIFEST, write_run
    from llmops_cli.govern.signing import load_signer

    bundle = next((project / "evidence" / "credit-approval" / "1.2.0").iterdir())
    manifest = json.loads((bundle / MANIFEST).read_text())
    artefacts = {name: (bundle / name).read_bytes() for name in manifest["artefacts"]}
    manifest["images"] = images
    signer = load_signer(project / "keys" / "signing.key", {})
    return write_run(project / "evidence", manifest["model"], artefacts, manifest, signer).path


def test_the_gate_compares_the_release_digests_with_the_images_the_bundle_names(
    project: Path, plain_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    pushed = serve_release(project, plain_registry, monkeypatch, "gate")
    used = sorted(promote(project, dry_run=True).change.release.image_digests)
    named = used[0]
    # The bundle names the image at the digest the registry serves: the gate passes.
    ok = bundle_naming(project, {named: pushed[named]})
    report = promote(project, evidence=ok)
    assert report.commit and report.prepared.gate.ok and report.prepared.gate.images == {named: pushed[named]}
    # The tag moved since the evidence was made: the release would run other bytes. Exit 4, nothing committed.
    ref = parse_image(named)
    moved = plain_registry.push_image(ref.path, ref.tag, seed="moved")
    head = git(project, "rev-parse", "HEAD")
    r = run_cli("-c", str(project / "llmops.yaml"), "promote", "prod", "--yes", "--evidence", str(ok))
    assert r.exit_code == 4, r.output
    assert f"image {named}: the release runs {moved}, the evidence names {pushed[named]}" in r.stderr
    assert git(project, "rev-parse", "HEAD") == head
    # An image the release does not run at all: exit 4 naming it.
    other = bundle_naming(project, {"docker.io/library/not-in-the-release:1": pushed[named]})
    r = run_cli("-c", str(project / "llmops.yaml"), "promote", "prod", "--dry-run", "--evidence", str(other))
    assert r.exit_code == 4 and "not-in-the-release:1" in r.stderr and "does not run" in r.stderr, r.output


# ------------------------------------------------------------------------------------------------ the client
def test_a_tag_naming_an_index_resolves_to_the_index_digest_not_a_platforms(plain_registry: Registry) -> None:
    index = plain_registry.push_index("library/busybox", "1.37", {"amd64": "x", "arm64": "y"})
    docker = plain_registry.push_image("acme/app", "2", seed="d", docker=True)
    client = RegistryClient(endpoints={"docker.io": plain_registry.url})
    # docker.io's one-component names are library/ names; a loopback registry by its own address is plain HTTP.
    assert client.resolve(parse_image("busybox:1.37")) == index
    assert client.resolve(parse_image(f"{plain_registry.host}/library/busybox:1.37")) == index
    assert client.resolve(parse_image("acme/app:2")) == docker
    with pytest.raises(RegistryError, match=r"acme/app:3 \(registry 127\.0\.0\.1:\d+\) has no manifest for tag 3"):
        client.resolve(parse_image("acme/app:3"))


def test_a_refused_token_is_one_error_naming_the_image_and_the_token_service(token_registry: Registry) -> None:
    token_registry.push_image("acme/private", "1", seed="p")
    issuer = token_registry.issuer
    assert issuer is not None
    issuer.refuse = True
    try:
        client = RegistryClient(endpoints={"docker.io": token_registry.url})
        with pytest.raises(
            RegistryError, match=r"acme/private:1 .*token service .* refused an anonymous token \(401\)"
        ):
            client.resolve(parse_image("acme/private:1"))
    finally:
        issuer.refuse = False


_COMPONENT = st.from_regex(r"[a-z0-9]{1,6}([._-][a-z0-9]{1,4})?", fullmatch=True)
_TAGS = st.from_regex(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}", fullmatch=True)
_DOMAINS = st.sampled_from(["ghcr.io", "quay.io", "127.0.0.1:5000", "localhost:5000", "registry.example.com", ""])


@settings(max_examples=200, deadline=None)
@given(domain=_DOMAINS, parts=st.lists(_COMPONENT, min_size=1, max_size=3), tag=_TAGS)
def test_image_references_split_as_docker_splits_them(domain: str, parts: list[str], tag: str) -> None:
    path = "/".join(parts)
    text = f"{domain}/{path}:{tag}" if domain else f"{path}:{tag}"
    ref = parse_image(text)
    assert ref.tag == tag and ref.digest is None and ref.tagged == text
    if domain:
        assert (ref.domain, ref.path) == (domain, path)
    elif len(parts) > 1 and "." in parts[0]:  # a first component with a dot names a registry, as in Docker
        assert (ref.domain, ref.path) == (parts[0], "/".join(parts[1:]))
    else:
        assert ref.domain == "docker.io" and ref.path == (path if len(parts) > 1 else f"library/{path}")
    digest = "sha256:" + "ab" * 32
    pinned = parse_image(ref.pinned(digest))
    assert (pinned.name, pinned.tag, pinned.digest) == (ref.name, tag, digest)


@pytest.mark.parametrize(
    "bad", ["Upper/case:1", "repo:ta g", "repo:1@sha256:short", "repo:-x", "a//b:1", "repo:1@md5:" + "0" * 32]
)
def test_bad_image_references_are_bad_input(bad: str) -> None:
    with pytest.raises(BadImageReference, match="environments.prod.images"):
        parse_image(bad, where="environments.prod.images[0]")


@given(realm=st.from_regex(r"https?://[a-z.]{1,12}/[a-z]{0,8}", fullmatch=True), scope=_COMPONENT)
def test_a_bearer_challenge_is_read_with_its_quoted_parameters(realm: str, scope: str) -> None:
    header = f'Bearer realm="{realm}",service="svc \\"x\\"",scope="repository:{scope}:pull,push",error="invalid_token"'
    assert parse_challenge(header) == (
        "bearer",
        {"realm": realm, "service": 'svc "x"', "scope": f"repository:{scope}:pull,push", "error": "invalid_token"},
    )


def test_the_registry_binary_is_distribution() -> None:
    import subprocess

    from tests.promote.registry import registry_binary

    out = subprocess.run([registry_binary(), "--version"], capture_output=True, text=True, check=True).stdout
    assert "distribution" in out and shutil.which("docker-registry")


def test_check_images_matches_by_repository_and_lets_the_digest_decide() -> None:
    from llmops_cli.promote.gate import GateResult, check_images

    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64

    def problems(named: dict[str, str], digests: dict[str, str]) -> list[str]:
        gate = GateResult("prod", True, None, images=named)
        check_images(gate, {ref: {"digest": d, "source": "x"} for ref, d in digests.items()})
        return gate.problems

    assert problems({}, {"redis:7": a}) == []
    # Another tag spelling of the same repository at the same digest: the digest decides.
    assert problems({"docker.io/library/redis:7.2": a}, {"redis:7": a}) == []
    assert problems({"redis:7": a}, {"docker.io/library/redis:7": b}) == [
        f"image docker.io/library/redis:7: the release runs {b}, the evidence names {a}"
    ]
    assert "does not run" in problems({"ghcr.io/acme/x:1": a}, {"redis:7": a})[0]
    # A release recorded before digests were pinned (a rollback target) cannot satisfy named images.
    assert "records none" in problems({"redis:7": a}, {})[0]


@settings(max_examples=60, deadline=None)
@given(
    refs=st.lists(
        st.tuples(_COMPONENT, _TAGS, st.sampled_from(["render", "config", "registry"])),
        min_size=1,
        max_size=6,
        unique_by=lambda t: t[0],
    )
)
def test_each_image_is_pinned_once_from_the_render_the_config_or_its_registry(
    refs: list[tuple[str, str, str]],
) -> None:
    """Routing, for any mix: a digest already in the render is kept, llmops.yaml's pin is used as given, and only
    the rest are asked of a registry (an in-memory client recording what it is asked)."""
    from llmops_cli.config.model import Settings
    from llmops_cli.promote.images import ImagePinner

    def digest(name: str, how: str) -> str:
        import hashlib

        return "sha256:" + hashlib.sha256(f"{how}:{name}".encode()).hexdigest()

    class Recording:
        def __init__(self) -> None:
            self.asked: list[str] = []

        def resolve_all(self, todo: list[Any]) -> dict[str, str]:
            self.asked += [r.text for r in todo]
            return {r.text: digest(r.path, "registry") for r in todo}

        def base(self, ref: Any) -> str:
            return "https://registry.example"

    rendered = []
    pins = []
    for name, tag, how in refs:
        text = f"ghcr.io/acme/{name}:{tag}"
        if how == "render":
            text += "@" + digest(f"acme/{name}", "render")
        elif how == "config":
            pins.append(f"ghcr.io/acme/{name}:{tag}@{digest(f'acme/{name}', 'config')}")
        rendered.append(text)
    s = Settings.model_validate({"environments": {"prod": {"images": pins}}})
    client = Recording()
    pinner = ImagePinner(s, "prod", client=client)  # type: ignore[arg-type]
    out = pinner(sorted(rendered))
    for (name, tag, how), text in zip(refs, rendered, strict=True):
        assert out[text] == f"ghcr.io/acme/{name}:{tag}@{digest(f'acme/{name}', how)}"
        assert (
            pinner.record()[f"ghcr.io/acme/{name}:{tag}"]["source"]
            == {
                "render": "versions.py",
                "config": "llmops.yaml",
                "registry": "registry.example",
            }[how]
        )
    assert sorted(client.asked) == sorted(t for t, (_, _, how) in zip(rendered, refs, strict=True) if how == "registry")
