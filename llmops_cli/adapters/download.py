"""Downloads for `llmops bundle` on a connected machine: HTTPS only (plain HTTP to loopback, for a local mirror),
redirects followed (release assets redirect to a CDN), the environment's proxies honoured, a size cap, every
file streamed to a temporary file beside its target, its sha256 checked, then renamed into place; every
transport failure is a one-line :class:`DownloadFailed` naming the URL."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import urlsplit

from llmops_cli.adapters.web import safe_url
from llmops_cli.errors import LlmopsError

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class DownloadFailed(LlmopsError):
    code = "download_failed"


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK):
        return
    raise DownloadFailed(
        f"{safe_url(url)}: only https:// downloads (http:// to this machine) are allowed",
        hint="use the repository's https URL",
    )


class Downloader:
    """One HTTP client per run (``with Downloader() as d``)."""

    def __init__(self, *, timeout: float = 60.0) -> None:
        import httpx

        # trust_env: a connected machine may reach the internet only through its proxy (HTTPS_PROXY, NO_PROXY).
        self._client = httpx.Client(timeout=timeout, follow_redirects=True, trust_env=True, max_redirects=10)

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def _stream(self, url: str, sink: object, max_bytes: int) -> str:
        import httpx

        _check_url(url)
        h = hashlib.sha256()
        size = 0
        try:
            with self._client.stream("GET", url) as r:
                if r.status_code != 200:
                    raise DownloadFailed(f"GET {safe_url(url)}: HTTP {r.status_code}", hint="check the URL and retry")
                _check_url(str(r.url))  # a redirect may not leave https
                for chunk in r.iter_bytes(1 << 20):
                    size += len(chunk)
                    if size > max_bytes:
                        raise DownloadFailed(
                            f"GET {safe_url(url)}: more than {max_bytes >> 20} MiB, refusing it",
                            hint="the file is far larger than expected: check the URL",
                        )
                    h.update(chunk)
                    sink.write(chunk)  # type: ignore[attr-defined]
        except httpx.HTTPError as e:
            raise DownloadFailed(
                f"GET {safe_url(url)}: {type(e).__name__}: {e}", hint="check the network and retry"
            ) from e
        return h.hexdigest()

    def get_bytes(self, url: str, *, max_bytes: int) -> bytes:
        import io

        buf = io.BytesIO()
        self._stream(url, buf, max_bytes)
        return buf.getvalue()

    def get_file(self, url: str, dest: Path, *, max_bytes: int, sha256: str | None = None) -> str:
        """Download ``url`` to ``dest`` atomically; with ``sha256`` a mismatch leaves ``dest`` as it was."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
        try:
            with tmp.open("wb") as fh:
                got = self._stream(url, fh, max_bytes)
            if sha256 is not None and got != sha256.lower():
                raise DownloadFailed(
                    f"GET {safe_url(url)}: sha256 {got}, not {sha256.lower()} as its index says: refusing it",
                    hint="the download or the mirror is corrupt; retry, or fetch it from the project's own repository",
                )
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return got
