"""`llmops bundle DIR`, on a connected machine: put the pinned chart archives into an airgap bundle for
`up --airgap-bundle` and write its SHA256SUMS.

Each chart comes from its Helm repository as Helm itself finds it: the repository's ``index.yaml``, the entry of
the pinned version, its first URL resolved against the repository URL taken as a folder (helm/helm
pkg/repo/chartrepo.go ``FindChartInAuthAndTLSAndPassRepoURL`` / ``ResolveReferenceURL``), its ``digest`` (the
sha256 of the archive, pkg/repo/index.go ``ChartVersion.Digest``) checked before the file is kept. The archive
must then pass the check `up` makes (:func:`llmops_cli.cluster.airgap.check_chart`). A file already there with
the right hash is kept, so a second run fetches nothing. SHA256SUMS lists every file under ``images/`` and
``charts/``; the k3s release files and the image tarballs are added by hand (docs/laptop.md, Airgap).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from llmops_cli.cluster.airgap import CHARTS, ChartPin, check_chart
from llmops_cli.errors import InputError, LlmopsError

MAX_INDEX_BYTES = 256 << 20  # the biggest public indexes are tens of MiB
MAX_ARCHIVE_BYTES = 32 << 20


class Fetcher(Protocol):
    def get_bytes(self, url: str, *, max_bytes: int) -> bytes: ...

    def get_file(self, url: str, dest: Path, *, max_bytes: int, sha256: str | None = None) -> str: ...


def resolve_url(repo: str, ref: str) -> str:
    """A chart URL from an index entry: absolute as it is, else relative to the repository URL as a folder
    (the repository's query string kept), as Helm resolves it."""
    from urllib.parse import urljoin

    if urlsplit(ref).scheme:
        return ref
    base = urlsplit(repo)
    folder = urlunsplit(base._replace(path=base.path.rstrip("/") + "/", query=""))
    joined = urlsplit(urljoin(folder, ref))
    return urlunsplit(joined._replace(query=base.query))


def _index(fetcher: Fetcher, repo: str) -> Mapping[str, Any]:
    import yaml

    url = resolve_url(repo, "index.yaml")
    raw = fetcher.get_bytes(url, max_bytes=MAX_INDEX_BYTES)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(raw, Loader=loader)  # noqa: S506 - a safe loader (the C one when built)
    except yaml.YAMLError as e:
        raise LlmopsError(f"{url}: not a Helm repository index ({type(e).__name__})", code="bad_index") from e
    if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
        raise LlmopsError(f"{url}: not a Helm repository index (no entries)", code="bad_index")
    return data


def _entry(index: Mapping[str, Any], pin: ChartPin) -> tuple[str, str]:
    """(archive URL, sha256) of the pinned version."""
    for entry in index["entries"].get(pin.name) or []:
        if isinstance(entry, dict) and str(entry.get("version")) == pin.version:
            urls, digest = entry.get("urls") or [], str(entry.get("digest") or "")
            if not urls or len(digest) != 64:
                raise LlmopsError(
                    f"{pin.repo}: {pin.name} {pin.version} has no download URL or sha256 digest in its index",
                    hint="fetch the archive by hand and list it in SHA256SUMS",
                    code="bad_index",
                )
            return resolve_url(pin.repo, str(urls[0])), digest.lower()
    raise LlmopsError(
        f"{pin.repo}: {pin.name} {pin.version} (the pinned version) is not in its index",
        hint="the repository may have moved or dropped it: see `llmops version --all --check`",
        code="bad_index",
    )


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_sha256sums(root: Path) -> list[str]:
    """SHA256SUMS over ``images/*.tar*`` and ``charts/*.tgz`` (what `up` reads), written atomically."""
    from llmops_cli.fsutil import atomic_write

    files = sorted(p for p in (root / "images").glob("*.tar*") if p.is_file())
    files += sorted(p for p in (root / "charts").glob("*.tgz") if p.is_file())
    lines = [f"{sha256_of(p)}  {p.relative_to(root).as_posix()}" for p in files]
    atomic_write(root / "SHA256SUMS", "".join(f"{line}\n" for line in lines))
    return [p.relative_to(root).as_posix() for p in files]


def build_bundle(root: Path, *, fetcher: Fetcher, charts: Iterable[str] | None = None) -> dict[str, Any]:
    """Fetch the pinned archive of each chart (every chart llmops deploys, or ``charts``) into
    ``root/charts/``, then write ``root/SHA256SUMS``."""
    names = list(dict.fromkeys(charts)) if charts else list(CHARTS)
    unknown = [n for n in names if n not in CHARTS]
    if unknown:
        raise InputError(f"--chart {unknown[0]}: not a chart llmops deploys", hint=f"one of: {', '.join(CHARTS)}")
    if root.exists() and not root.is_dir():
        raise InputError(f"{root}: not a directory", hint="name a folder for the bundle")
    indexes: dict[str, Mapping[str, Any]] = {}
    done = []
    for name in names:
        pin = CHARTS[name]
        if pin.repo not in indexes:
            indexes[pin.repo] = _index(fetcher, pin.repo)
        url, digest = _entry(indexes[pin.repo], pin)
        dest = root / "charts" / f"{pin.name}-{pin.version}.tgz"
        if dest.is_file() and sha256_of(dest) == digest:
            status = "kept"
        else:
            fetcher.get_file(url, dest, max_bytes=MAX_ARCHIVE_BYTES, sha256=digest)
            status = "fetched"
        try:
            check_chart(dest)
        except InputError:
            dest.unlink(missing_ok=True)
            raise
        done.append({"chart": pin.name, "version": pin.version, "sha256": digest, "url": url, "status": status})
    listed = write_sha256sums(root)
    return {"bundle": str(root), "charts": done, "sha256sums": listed}
