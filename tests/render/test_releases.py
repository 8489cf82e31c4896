"""`llmops version --all --check`: which pins are behind, from release metadata; offline it cannot tell."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from llmops_cli import versions
from llmops_cli.errors import CommandFailed
from llmops_cli.render.releases import (
    DirectoryTags,
    GitRemoteTags,
    NoTags,
    check_pin,
    check_pins,
    newest_tag,
    parse_tag_list,
    repo_file_name,
)
from llmops_cli.versions import RELEASES, Pin
from tests.helpers import run_cli

K3S = next(p for p in RELEASES if p.name == "k3s")
SIM = next(p for p in RELEASES if p.name == "inference simulator image")


def test_ls_remote_output_and_plain_lists_read_the_same():
    ls_remote = "a1\trefs/tags/v0.10.2\nb2\trefs/tags/v0.10.2^{}\nc3\trefs/tags/v0.11.0-rc1\n"
    assert parse_tag_list(ls_remote) == ["v0.10.2", "v0.11.0-rc1"]
    assert parse_tag_list("# tags\nv0.10.2\n\nv0.11.0-rc1\n") == ["v0.10.2", "v0.11.0-rc1"]


@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(0, 40)), min_size=1, max_size=20))
def test_the_newest_stable_tag_wins_whatever_the_order_and_prereleases(versions_):
    tags = [f"v{a}.{b}.{c}" for a, b, c in versions_] + [f"v{a}.{b}.{c + 1}-rc1" for a, b, c in versions_]
    best = max(versions_)
    assert newest_tag(r"^v(?P<v>\d+\.\d+\.\d+)$", tags) == f"v{best[0]}.{best[1]}.{best[2]}"


def test_k3s_is_held_to_its_kubernetes_minor_and_compares_revisions():
    minor = versions.KUBERNETES_MINOR
    src = _Tags({"k3s-io/k3s": [versions.K3S_VERSION, f"v{minor}.99+k3s2", f"v{minor}.99+k3s10", "v9.99.0+k3s1"]})
    c = check_pin(K3S, src)
    assert (c.status, c.newest) == ("behind", f"v{minor}.99+k3s10")
    assert f"Kubernetes {minor}" in c.note


def test_a_pin_at_the_newest_tag_is_current_and_an_unknown_repo_cannot_tell():
    assert check_pin(SIM, _Tags({SIM.repo: ["v0.1.0", SIM.tag]})).status == "current"
    assert check_pin(SIM, _Tags({})).status == "unknown"
    assert {c.status for c in check_pins(NoTags())} == {"unknown", "untracked"}


def test_a_failing_git_ls_remote_means_cannot_tell():
    def offline(argv, **_):
        raise CommandFailed(argv, 128, "", "fatal: unable to access 'https://github.com/': Could not resolve host")

    assert GitRemoteTags(run=offline).tags("llm-d/llm-d-inference-sim") is None


def test_version_check_reads_a_release_metadata_directory(tmp_path):
    (tmp_path / repo_file_name(SIM.repo)).write_text(f"{SIM.tag}\nv99.0.0\nv100.0.0-rc1\n")
    r = run_cli("version", "--all", "--check", "--releases", str(tmp_path), "-o", "json")
    assert r.exit_code == 0, r.output
    checks = {c["name"]: c for c in json.loads(r.stdout)["data"]["check"]}
    assert checks[SIM.name]["status"] == "behind" and checks[SIM.name]["newest"] == "v99.0.0"
    assert checks["k3s"]["status"] == "unknown"
    assert DirectoryTags(tmp_path).tags("nobody/nothing") is None


def test_version_check_offline_says_it_cannot_tell_and_exits_0():
    r = run_cli("version", "--all", "--check", "--offline")
    assert r.exit_code == 0, r.output
    assert "cannot tell" in r.stderr
    for p in RELEASES:
        assert f"{p.repo}@{p.tag}" in r.stdout


def test_check_without_all_is_a_usage_error():
    r = run_cli("version", "--check")
    assert r.exit_code == 2 and "--all" in r.stderr


class _Tags:
    def __init__(self, tags: dict[str, list[str]]) -> None:
        self._tags = tags

    def tags(self, repo: str) -> list[str] | None:
        return self._tags.get(repo)


def test_every_pin_names_its_source_and_tracks_a_tag_it_matches():
    for p in RELEASES:
        assert isinstance(p, Pin) and "/" in p.repo and p.tag
        if p.tags is not None:
            import re

            assert re.match(p.tags, p.tag), p
