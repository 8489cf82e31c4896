"""Airgap bundles for tests: small but valid chart archives (what `helm package` writes: one folder named after
the chart, its Chart.yaml, templates, and dependencies vendored under charts/), written with tarfile; nothing is
downloaded."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

from llmops_cli import versions
from llmops_cli.cluster.airgap import CHARTS
from tests.cluster.conftest import INSTALLER_TEXT


def tgz(members: Mapping[str, bytes], *, links: Iterable[tuple[str, str]] = ()) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        for name, target in links:
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return raw.getvalue()


def chart_archive(
    name: str, version: str, *, dependencies: Iterable[str] = (), top: str | None = None, vendored: bool = True
) -> bytes:
    """A packaged chart: ``<name>/Chart.yaml`` with this name and version, a template, and each dependency
    vendored as ``<name>/charts/<dep>-1.0.0.tgz`` (as `helm package` leaves them after `helm dependency build`)."""
    top = top or name
    deps = list(dependencies)
    meta = {"apiVersion": "v2", "name": name, "version": version, "type": "application"}
    if deps:
        meta["dependencies"] = [
            {"name": d, "version": "1.0.0", "repository": "https://charts.example.com"} for d in deps
        ]
    members = {
        f"{top}/Chart.yaml": yaml.safe_dump(meta).encode(),
        f"{top}/values.yaml": b"replicas: 1\n",
        f"{top}/templates/configmap.yaml": b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
    }
    for d in deps if vendored else ():
        members[f"{top}/charts/{d}-1.0.0.tgz"] = tgz(
            {f"{d}/Chart.yaml": yaml.safe_dump({"apiVersion": "v2", "name": d, "version": "1.0.0"}).encode()}
        )
    return tgz(members)


def pinned_charts(names: Iterable[str] | None = None) -> dict[str, bytes]:
    """``<name>-<pinned version>.tgz`` -> archive, for every chart llmops deploys (or ``names``)."""
    return {
        f"{pin.name}-{pin.version}.tgz": chart_archive(pin.name, pin.version, dependencies=["sub"])
        for pin in CHARTS.values()
        if names is None or pin.name in names
    }


def write_bundle(root: Path, charts: Mapping[str, bytes], *, listed: Mapping[str, bytes] | None = None) -> Path:
    """A full bundle: the k3s release's files and their checksum file, ``charts/`` and a SHA256SUMS listing
    each archive with the hash of ``listed[name]`` (default: the archive itself)."""
    root.mkdir(parents=True, exist_ok=True)
    files = {
        "k3s": f"k3s binary {versions.K3S_VERSION}",
        "install.sh": INSTALLER_TEXT,
        "k3s-airgap-images-amd64.tar.zst": "images",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    (root / "sha256sum-amd64.txt").write_text(
        "".join(f"{hashlib.sha256(t.encode()).hexdigest()}  {n}\n" for n, t in files.items() if n != "install.sh")
    )
    if charts:
        (root / "charts").mkdir()
        lines = []
        for name, data in charts.items():
            (root / "charts" / name).write_bytes(data)
            lines.append(f"{hashlib.sha256((listed or {}).get(name, data)).hexdigest()}  charts/{name}\n")
        (root / "SHA256SUMS").write_text("".join(lines))
    return root
