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


# --- a tag list that does not hold the pin's own tag cannot judge it (stale, or another repository's list)
TRACKED = [p for p in RELEASES if p.tags is not None]


@given(pin=st.sampled_from(TRACKED), older=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 9)), max_size=5))
def test_a_list_without_the_pins_own_tag_cannot_tell(pin, older):
    """Valkey 9.1.2 against a list whose newest tag is 8.0.1 is not "current": that list is stale or another
    repository's. Whatever the list holds, if the pinned tag is not in it the answer is unknown."""
    tags = [f"{a}.{b}.1" for a, b in older] + [f"v{a}.{b}.1" for a, b in older] + ["8.0.1", "v0.0.1"]
    tags = [t for t in tags if t != pin.tag]
    c = check_pin(pin, _Tags({pin.repo: tags}))
    assert c.status == "unknown", (pin.name, c)
    assert pin.tag in c.note and "cannot tell" in c.note


def test_valkey_against_a_stale_list_is_unknown_and_with_its_own_tag_is_current():
    valkey = next(p for p in RELEASES if p.name == "rate-limit store image")
    assert check_pin(valkey, _Tags({valkey.repo: ["7.2.5", "8.0.1"]})).status == "unknown"
    assert check_pin(valkey, _Tags({valkey.repo: ["8.0.1", valkey.tag]})).status == "current"


# --- app versions with a repository of their own are tracked there, as Argo CD's is
APP_REPOS = {
    "argo-cd": "argoproj/argo-cd",
    "argo-rollouts": "argoproj/argo-rollouts",
    "cloudnative-pg": "cloudnative-pg/cloudnative-pg",
    "barman-cloud plugin": "cloudnative-pg/plugin-barman-cloud",
    "alertmanager": "prometheus/alertmanager",
}


def _next_patch(tag: str) -> str:
    head, patch = tag.rsplit(".", 1)
    return f"{head}.{int(patch) + 1}"


def test_app_versions_are_tracked_in_their_own_repository():
    pins = {p.name: p for p in RELEASES}
    for name, repo in APP_REPOS.items():
        pin = pins[name]
        assert (pin.repo, pin.tag.lstrip("v")) == (repo, pin.value.lstrip("v")), pin
        assert check_pin(pin, _Tags({repo: [pin.tag]})).status == "current", pin
        newer = check_pin(pin, _Tags({repo: [pin.tag, _next_patch(pin.tag)]}))
        assert (newer.status, newer.newest) == ("behind", _next_patch(pin.tag)), pin


def test_app_versions_keep_the_output_shape(tmp_path):
    pin = next(p for p in RELEASES if p.name == "argo-rollouts")
    (tmp_path / repo_file_name(pin.repo)).write_text(f"{pin.tag}\n{_next_patch(pin.tag)}\n")
    r = run_cli("version", "--all", "--check", "--releases", str(tmp_path), "-o", "json")
    row = next(c for c in json.loads(r.stdout)["data"]["check"] if c["name"] == pin.name)
    assert set(row) == {"name", "value", "source", "status", "newest", "note"}
    assert row["source"] == f"{pin.repo}@{pin.tag}" and row["status"] == "behind"
    text = run_cli("version", "--all", "--check", "--releases", str(tmp_path))
    line = next(ln for ln in text.stdout.splitlines() if ln.split("  ")[0] == pin.name)
    assert f"{pin.repo}@{pin.tag}  [behind] {pin.repo} has {_next_patch(pin.tag)}" in line


# --- dcgm-exporter's tags are <DCGM>-<exporter>: a release that moves either half is newer
DCGM = next(p for p in RELEASES if p.name == "dcgm-exporter chart")
_V = st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2))  # small: halves often tie


def _dotted(v: tuple[int, int, int]) -> str:
    return ".".join(map(str, v))


@given(st.lists(st.tuples(_V, _V), min_size=1, max_size=12, unique=True))
def test_dcgm_exporter_tags_order_by_exporter_then_dcgm(pairs):
    tags = [f"{_dotted(d)}-{_dotted(e)}" for d, e in pairs]
    d, e = max(pairs, key=lambda p: (p[1], p[0]))
    assert newest_tag(DCGM.tags or "", tags) == f"{_dotted(d)}-{_dotted(e)}"


def test_a_dcgm_only_release_of_dcgm_exporter_is_newer():
    dcgm, exporter = DCGM.tag.split("-")
    newer = f"{_next_patch(dcgm)}-{exporter}"
    c = check_pin(DCGM, _Tags({DCGM.repo: [DCGM.tag, newer]}))
    assert (c.status, c.newest) == ("behind", newer)
    older = f"{dcgm}-{exporter}"
    assert check_pin(DCGM, _Tags({DCGM.repo: [older, f"0.0.1-{exporter}"]})).status == "current"
