"""`llmops bundle`: the pinned chart archives fetched from Helm repositories (a real HTTP server on loopback
serving index.yaml and archives, as a chart repository does), checked by the index's digest and by the check
`up` makes, then listed in SHA256SUMS; the result is a bundle `up --airgap-bundle` accepts."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from llmops_cli.adapters.download import Downloader, DownloadFailed
from llmops_cli.cluster import airgap
from llmops_cli.cluster.airgap import CHARTS, ChartPin
from llmops_cli.cluster.bundle import build_bundle, resolve_url
from llmops_cli.cluster.up import inspect_airgap_bundle
from llmops_cli.errors import InputError, LlmopsError
from tests.cluster.bundles import chart_archive, write_bundle
from tests.helpers import run_cli

LOKI, ALLOY = CHARTS["loki"].version, CHARTS["alloy"].version


class Repo:
    """Two chart repositories on one loopback server: /community (a relative URL in its index) and /grafana (an
    absolute URL that redirects to where the archive lies, as GitHub release assets do)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hits: list[str] = []
        repo = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                repo.hits.append(self.path)
                if self.path.startswith("/redirect/"):
                    self.send_response(302)
                    self.send_header("Location", "/files/" + self.path.removeprefix("/redirect/"))
                    self.end_headers()
                    return
                body = repo.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.loki = chart_archive("loki", LOKI, dependencies=["sub"])
        self.alloy = chart_archive("alloy", ALLOY)
        self.files["/community/loki-" + LOKI + ".tgz"] = self.loki
        self.files["/files/alloy-" + ALLOY + ".tgz"] = self.alloy
        self.index("/community", "loki", LOKI, f"loki-{LOKI}.tgz", self.loki)
        self.index("/grafana", "alloy", ALLOY, f"{self.url}/redirect/alloy-{ALLOY}.tgz", self.alloy)

    def index(self, repo: str, name: str, version: str, url: str, data: bytes) -> None:
        entries = {name: [{"version": "0.0.1", "urls": ["old.tgz"], "digest": "0" * 64}]}
        entries[name].append({"version": version, "urls": [url], "digest": hashlib.sha256(data).hexdigest()})
        self.files[f"{repo}/index.yaml"] = yaml.safe_dump({"apiVersion": "v1", "entries": entries}).encode()


@pytest.fixture
def repo(monkeypatch: pytest.MonkeyPatch) -> Iterator[Repo]:
    r = Repo()
    thread = threading.Thread(target=r.server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setitem(airgap.CHARTS, "loki", ChartPin("loki", f"{r.url}/community", LOKI))
    monkeypatch.setitem(airgap.CHARTS, "alloy", ChartPin("alloy", f"{r.url}/grafana/", ALLOY))
    yield r
    r.server.shutdown()
    r.server.server_close()


def test_bundle_fetches_the_pinned_archives_and_up_accepts_the_result(repo: Repo, tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", {})  # the k3s release files, as the user adds them
    with Downloader(timeout=10) as d:
        data = build_bundle(root, fetcher=d, charts=["loki", "alloy"])
    assert [(c["chart"], c["status"]) for c in data["charts"]] == [("loki", "fetched"), ("alloy", "fetched")]
    assert (root / "charts" / f"loki-{LOKI}.tgz").read_bytes() == repo.loki
    assert (root / "charts" / f"alloy-{ALLOY}.tgz").read_bytes() == repo.alloy
    bundle = inspect_airgap_bundle(root)
    assert {n: c.version for n, c in bundle.charts.items()} == {"loki": LOKI, "alloy": ALLOY}
    # A second run keeps what is there (its hash is the index's): only the indexes are read again.
    repo.hits.clear()
    with Downloader(timeout=10) as d:
        again = build_bundle(root, fetcher=d, charts=["loki", "alloy"])
    assert [c["status"] for c in again["charts"]] == ["kept", "kept"]
    assert sorted(repo.hits) == ["/community/index.yaml", "/grafana/index.yaml"]


def test_an_archive_that_is_not_the_indexed_one_is_refused_and_not_kept(repo: Repo, tmp_path: Path) -> None:
    repo.files[f"/community/loki-{LOKI}.tgz"] = chart_archive("loki", LOKI, dependencies=["evil"])
    with Downloader(timeout=10) as d, pytest.raises(DownloadFailed, match="not .* as its index says") as e:
        build_bundle(tmp_path / "b", fetcher=d, charts=["loki"])
    assert "\n" not in e.value.message
    assert list((tmp_path / "b" / "charts").iterdir()) == []  # neither the file nor a .part


def test_a_pinned_version_missing_from_the_index_is_named(repo: Repo, tmp_path: Path) -> None:
    repo.index("/community", "loki", "1.0.0", "loki-1.0.0.tgz", b"x")
    with Downloader(timeout=10) as d, pytest.raises(LlmopsError, match=f"loki {LOKI} \\(the pinned version\\) is not"):
        build_bundle(tmp_path / "b", fetcher=d, charts=["loki"])


def test_an_indexed_archive_that_is_not_the_pinned_chart_is_removed(repo: Repo, tmp_path: Path) -> None:
    wrong = chart_archive("loki", "1.0.0")
    repo.files[f"/community/loki-{LOKI}.tgz"] = wrong
    repo.index("/community", "loki", LOKI, f"loki-{LOKI}.tgz", wrong)
    with Downloader(timeout=10) as d, pytest.raises(InputError, match="not the pinned"):
        build_bundle(tmp_path / "b", fetcher=d, charts=["loki"])
    assert not (tmp_path / "b" / "charts" / f"loki-{LOKI}.tgz").exists()


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://charts.example.com/x.tgz", True),
        ("http://127.0.0.1:1/x", True),
        ("http://charts.example.com/x", False),
    ],
)
def test_plain_http_only_to_this_machine(url: str, ok: bool) -> None:
    from llmops_cli.adapters.download import _check_url

    if ok:
        _check_url(url)
    else:
        with pytest.raises(DownloadFailed, match="only https://"):
            _check_url(url)


@pytest.mark.parametrize(
    ("repo_url", "ref", "expected"),
    [
        ("https://a.io/charts", "x-1.tgz", "https://a.io/charts/x-1.tgz"),
        ("https://a.io/charts/", "x-1.tgz", "https://a.io/charts/x-1.tgz"),
        ("https://a.io/charts?t=1", "x-1.tgz", "https://a.io/charts/x-1.tgz?t=1"),
        ("https://a.io/charts", "https://b.io/r/x-1.tgz", "https://b.io/r/x-1.tgz"),
        ("https://a.io/charts", "../other/x-1.tgz", "https://a.io/other/x-1.tgz"),
    ],
)
def test_chart_urls_resolve_as_helm_resolves_them(repo_url: str, ref: str, expected: str) -> None:
    assert resolve_url(repo_url, ref) == expected


def test_cli_bundle_wiring(repo: Repo, tmp_path: Path) -> None:
    r = run_cli("bundle", str(tmp_path / "b"), "--chart", "loki", "-o", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)["data"]
    assert data["charts"][0]["chart"] == "loki" and data["sha256sums"] == [f"charts/loki-{LOKI}.tgz"]
    bad = run_cli("bundle", str(tmp_path / "b"), "--chart", "nope")
    assert bad.exit_code == 2 and "--chart nope: not a chart llmops deploys" in bad.stderr
