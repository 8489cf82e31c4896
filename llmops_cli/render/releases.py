"""Which pins are behind: each pin's tag against the newest stable tag of its upstream repository.

Release metadata comes from a ``TagSource``: a directory of tag lists (one file per repository, for offline
and CI use) or ``git ls-remote`` on a machine with network. A repository the source knows nothing about
makes its pins "unknown", never an error: with no metadata at all the check says it cannot tell.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from llmops_cli.versions import RELEASES, Pin

Status = Literal["current", "behind", "unknown", "untracked"]


class TagSource(Protocol):
    def tags(self, repo: str) -> list[str] | None:
        """Every tag of ``repo`` (``owner/name``), or None when this source cannot tell."""
        ...


@dataclass(frozen=True)
class PinCheck:
    pin: Pin
    status: Status
    newest: str | None  # the newest stable tag matching the pin's pattern, when known
    note: str

    def to_dict(self) -> dict[str, str | None]:
        return {
            "name": self.pin.name,
            "value": self.pin.value,
            "source": f"{self.pin.repo}@{self.pin.tag}",
            "status": self.status,
            "newest": self.newest,
            "note": self.note,
        }


def repo_file_name(repo: str) -> str:
    """The file that holds ``repo``'s tags in a release-metadata directory: ``owner+name.tags``."""
    return repo.replace("/", "+") + ".tags"


def parse_tag_list(text: str) -> list[str]:
    """Tags from a plain list (one a line) or from ``git ls-remote --tags`` output (``sha<TAB>refs/tags/x``);
    peeled ``^{}`` entries and blank or ``#`` lines are skipped."""
    tags: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        ref = line.split()[-1]
        ref = ref.removeprefix("refs/tags/")
        if ref.endswith("^{}"):
            continue
        tags.append(ref)
    return tags


class DirectoryTags:
    """Tag lists in ``DIR/owner+name.tags`` (what `git ls-remote --tags URL > DIR/owner+name.tags` writes)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def tags(self, repo: str) -> list[str] | None:
        path = self.root / repo_file_name(repo)
        if not path.is_file():
            return None
        return parse_tag_list(path.read_text(encoding="utf-8"))


class NoTags:
    """Offline: nothing is known."""

    def tags(self, repo: str) -> list[str] | None:
        return None


class GitRemoteTags:
    """``git ls-remote --tags`` against github.com, through the one subprocess wrapper; any failure (no git, no
    network, a timeout) means "cannot tell" for that repository."""

    def __init__(self, timeout: float = 20.0, run: Callable[..., object] | None = None) -> None:
        self.timeout = timeout
        self._run = run
        self._cache: dict[str, list[str] | None] = {}

    def tags(self, repo: str) -> list[str] | None:
        if repo in self._cache:
            return self._cache[repo]
        from llmops_cli.adapters import procs
        from llmops_cli.errors import LlmopsError

        run = self._run or procs.run
        found: list[str] | None
        try:
            res = run(
                ["git", "ls-remote", "--tags", "--refs", f"https://github.com/{repo}"],
                check=False,
                env={"GIT_TERMINAL_PROMPT": "0"},
                timeout=self.timeout,
            )
            ok = bool(getattr(res, "ok", False))
            found = parse_tag_list(str(getattr(res, "stdout", ""))) if ok else None
        except LlmopsError:
            found = None
        self._cache[repo] = found
        return found


def version_key(match: re.Match[str]) -> tuple[int, ...]:
    """Numeric sort key of a tag that matched a pin's pattern: group ``v``, then an optional ``r`` (k3s's
    ``+k3sN`` revision, or the DCGM half of dcgm-exporter's ``<DCGM>-<exporter>``), each dotted or plain."""
    key = tuple(int(x) for x in match.group("v").split("."))
    rev = match.groupdict().get("r")
    return key + (tuple(int(x) for x in rev.split(".")) if rev else ())


def newest_tag(pattern: str, tags: Iterable[str]) -> str | None:
    rx = re.compile(pattern)
    best: tuple[tuple[int, ...], str] | None = None
    for tag in tags:
        m = rx.match(tag)
        if m and (best is None or version_key(m) > best[0]):
            best = (version_key(m), tag)
    return best[1] if best else None


def check_pin(pin: Pin, source: TagSource) -> PinCheck:
    if pin.tags is None:
        return PinCheck(pin, "untracked", None, "follows another pin, or tagged on a registry only")
    tags = source.tags(pin.repo)
    if tags is None:
        return PinCheck(pin, "unknown", None, f"cannot tell: no release metadata for {pin.repo}")
    newest = newest_tag(pin.tags, tags)
    if pin.tag not in tags:
        # Comparing with a list that lacks the pinned release would call a pin "current" against a stale list or
        # another repository's (Valkey 9.1.2 against one whose newest tag is 8.0.1).
        return PinCheck(
            pin, "unknown", newest, f"cannot tell: the tags of {pin.repo} do not include {pin.tag} (stale list?)"
        )
    current = re.match(pin.tags, pin.tag)
    if newest is None or current is None:
        return PinCheck(pin, "unknown", newest, f"cannot tell: no stable tag of {pin.repo} matches the pin")
    best = re.match(pin.tags, newest)
    assert best is not None  # newest matched the same pattern
    held = f" (held to {pin.held})" if pin.held else ""
    if version_key(best) > version_key(current):
        return PinCheck(pin, "behind", newest, f"{pin.repo} has {newest}{held}")
    return PinCheck(pin, "current", newest, f"newest stable release{held}")


def check_pins(source: TagSource, pins: Iterable[Pin] = RELEASES) -> list[PinCheck]:
    """Every pin's status against ``source`` (pure apart from what the source reads)."""
    return [check_pin(p, source) for p in pins]
