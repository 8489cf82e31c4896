"""The shape of a fact table."""

from __future__ import annotations

from dataclasses import dataclass, field

Path = tuple[str, ...]


@dataclass(frozen=True)
class Fact:
    """Names of one kind (``flags``, ``env``, ``metrics``...) read from one file of a release."""

    kind: str
    names: frozenset[str]
    file: str  # path in the repository at the release's tag, plus what in it (a function, a struct)

    @classmethod
    def of(cls, kind: str, file: str, *names: str) -> Fact:
        return cls(kind, frozenset(names), file)


@dataclass(frozen=True)
class Values:
    """Helm values paths a chart consumes, as key tuples. ``*`` matches any one key; a path ending in ``**``
    admits any subtree below it (free-form maps such as resources or a config map's entries)."""

    paths: tuple[Path, ...]
    file: str

    def admits(self, path: Path) -> bool:
        return any(_match(pattern, path) for pattern in self.paths)


def _match(pattern: Path, path: Path) -> bool:
    if pattern and pattern[-1] == "**":
        head = pattern[:-1]
        return len(path) > len(head) and all(p in ("*", k) for p, k in zip(head, path, strict=False))
    return len(pattern) == len(path) and all(p in ("*", k) for p, k in zip(pattern, path, strict=True))


@dataclass(frozen=True)
class Release:
    """One upstream release: where its facts come from and what they are."""

    component: str
    version: str  # exactly as pinned in llmops_cli/versions.py
    repo: str
    tag: str
    facts: tuple[Fact, ...] = ()
    values: Values | None = None
    scalars: dict[str, str] = field(default_factory=dict)  # single facts such as a chart's appVersion
    scalar_files: dict[str, str] = field(default_factory=dict)

    def names(self, kind: str) -> frozenset[str]:
        found = [f.names for f in self.facts if f.kind == kind]
        if not found:
            raise KeyError(f"{self.component} {self.version}: no {kind!r} facts recorded")
        return frozenset().union(*found)
