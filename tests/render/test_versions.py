"""Every upstream version the tree uses comes from llmops_cli/versions.py (one place, `version --all`)."""

from __future__ import annotations

from llmops_cli.render.api import gpu_smoke_job
from llmops_cli.versions import PINS

from .conftest import all_variants, objects, settings


def _images(x):
    if isinstance(x, dict):
        for k, v in x.items():
            if k == "image" and isinstance(v, str):
                yield v
            else:
                yield from _images(v)
    elif isinstance(x, list):
        for v in x:
            yield from _images(v)


def test_every_image_and_chart_is_a_pin():
    pinned = set(PINS.values())
    for variant, tree in all_variants():
        for path, obj in objects(tree).items():
            for image in _images(obj):
                assert image in pinned, (variant, path, image)
                assert not image.endswith(":latest")
            if obj["kind"] == "Application" and "chart" in obj["spec"]["source"]:
                assert obj["spec"]["source"]["targetRevision"] in pinned, (variant, path)
            if obj["kind"] == "HelmChart":
                assert obj["spec"]["version"] in pinned
    assert next(_images(gpu_smoke_job(settings()))) in pinned


def test_version_all_prints_every_pin():
    from tests.helpers import run_cli

    r = run_cli("version", "--all")
    assert r.exit_code == 0, r.output
    for name, ver in PINS.items():
        assert name in r.stdout and ver in r.stdout
