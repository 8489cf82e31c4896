"""A release's images pinned to digests: what Argo CD runs in an environment is what the release recorded and
the gate approved, not whatever a tag points to on the day a pod is scheduled (a re-pushed tag would change it
silently).

Each image the environment's render uses is pinned once per promotion, in this order: a reference that already
carries a digest (a pin in versions.py) is kept; one that ``environments.<env>.images`` pins (``repo:tag@sha256:…``,
the offline path) is used as given; every other tag is resolved through its registry's API
(:mod:`llmops_cli.adapters.registry`). The tree is rendered with ``repo:tag@sha256:…`` (the tag for people, the
digest for the runtime) and release.yaml records each digest and where it came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from llmops_cli.errors import UsageError

if TYPE_CHECKING:
    from llmops_cli.adapters.registry import ImageRef, RegistryClient
    from llmops_cli.config.model import Settings

FROM_CONFIG = "llmops.yaml"
FROM_RENDER = "versions.py"


@dataclass(frozen=True)
class PinnedImage:
    ref: str  # as the render writes it (repo:tag)
    digest: str
    source: str  # the registry host asked, llmops.yaml, or versions.py

    @property
    def pinned(self) -> str:
        return f"{self.ref.split('@', 1)[0]}@{self.digest}"


def registry_client() -> RegistryClient:
    """The client that asks registries (one per promotion; tests point it at a local registry)."""
    from llmops_cli.adapters.registry import RegistryClient

    return RegistryClient()


def config_pins(settings: Settings, env: str) -> dict[tuple[str, str], tuple[ImageRef, str]]:
    """``environments.<env>.images`` by (normalised name, tag) -> (the reference, its field path)."""
    from llmops_cli.adapters.registry import parse_image

    out: dict[tuple[str, str], tuple[ImageRef, str]] = {}
    for i, text in enumerate(settings.environments[env].images):
        where = f"environments.{env}.images[{i}]"
        ref = parse_image(text, where=where)
        key = (ref.name, ref.tag)
        if key in out and out[key][0].digest != ref.digest:
            raise UsageError(
                f"{where}: {ref.tagged} is pinned twice with different digests ({out[key][1]})",
                hint="keep one digest per image",
            )
        out[key] = (ref, where)
    return out


@dataclass
class ImagePinner:
    """Maps each image reference of a render to ``repo:tag@digest`` (``render_environment(pin_images=…)``) and
    keeps what it decided (:attr:`pinned`), for the release record."""

    settings: Settings
    env: str
    client: RegistryClient | None = None
    pinned: dict[str, PinnedImage] = field(default_factory=dict)
    last: list[str] = field(default_factory=list)  # the references of the latest render

    def __call__(self, refs: list[str]) -> Mapping[str, str]:
        from llmops_cli.adapters.registry import parse_image

        self.last = list(refs)
        pins = config_pins(self.settings, self.env)
        names = {name: (tag, where) for (name, tag), (_, where) in pins.items()}
        ask: list[ImageRef] = []
        for text in refs:
            if text in self.pinned:
                continue
            ref = parse_image(text, where="a rendered image")
            if ref.digest:
                self.pinned[text] = PinnedImage(text, ref.digest, FROM_RENDER)
            elif (ref.name, ref.tag) in pins:
                given = pins[(ref.name, ref.tag)][0]
                assert given.digest is not None  # the config's pattern requires one
                self.pinned[text] = PinnedImage(text, given.digest, FROM_CONFIG)
            elif ref.name in names:
                tag, where = names[ref.name]
                raise UsageError(
                    f"{where} pins {ref.name} at tag {tag}, but the release runs {ref.tagged}",
                    hint=f"pin {ref.tagged}@sha256:… instead (or remove the entry to resolve it online)",
                )
            else:
                ask.append(ref)
        if ask:
            client = self.client or registry_client()
            try:
                digests = client.resolve_all(ask)
            finally:
                if self.client is None:
                    client.close()
            for ref in ask:
                host = client.base(ref).split("://", 1)[-1]
                self.pinned[ref.text] = PinnedImage(ref.text, digests[ref.text], host)
        return {text: self.pinned[text].pinned for text in refs}

    def record(self) -> dict[str, dict[str, str]]:
        """``{repo:tag: {digest, source}}`` of the latest render, sorted: release.yaml's ``image_digests``."""
        used = [self.pinned[r] for r in sorted(set(self.last))]
        return {p.ref.split("@", 1)[0]: {"digest": p.digest, "source": p.source} for p in used}
