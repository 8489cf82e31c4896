"""render_environment(pin_images=…): every image a workload or a CloudNativePG Cluster runs goes through the
mapping once, and nothing else in the tree changes (`promote` pins tags to digests this way)."""

from __future__ import annotations

import hashlib

import pytest
import yaml

from llmops_cli.render.api import render_environment
from llmops_cli.render.images import images_of

from .conftest import settings


@pytest.mark.parametrize(("env", "gpu"), [("dev", False), ("prod", True), ("prod", False)])
def test_pin_images_replaces_every_image_and_nothing_else(env: str, gpu: bool) -> None:
    s = settings()
    plain = render_environment(s, env, gpu=gpu)
    asked: list[list[str]] = []

    def pin(refs: list[str]) -> dict[str, str]:
        asked.append(refs)
        return {r: f"{r}@sha256:{hashlib.sha256(r.encode()).hexdigest()}" for r in refs}

    pinned = render_environment(s, env, gpu=gpu, pin_images=pin)
    assert len(asked) == 1 and asked[0] == sorted(set(asked[0]))
    assert set(plain) == set(pinned)
    seen: set[str] = set()
    for path, text in plain.items():
        if not path.endswith(".yaml") or path.startswith("k3s/"):
            assert pinned[path] == text
            continue
        before = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
        after = [d for d in yaml.safe_load_all(pinned[path]) if isinstance(d, dict)]
        for b, a in zip(before, after, strict=True):
            imgs = images_of(b)
            seen.update(imgs.values())
            assert images_of(a) == {k: pin([v])[v] for k, v in imgs.items()}
            if not imgs:
                assert a == b
    assert seen == set(asked[0])
    if env == "prod":  # the CloudNativePG operand image is pinned too
        assert any(
            k.startswith("Cluster/")
            for t in pinned.values()
            for d in yaml.safe_load_all(t)
            if isinstance(d, dict)
            for k in images_of(d)
        )
