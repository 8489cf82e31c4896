"""A real container registry on loopback for the digest tests: Debian's ``docker-registry`` (distribution v2.8.2),
started with its own config and a temp storage folder, stopped by PID; images pushed into it with the plain
HTTP API (blob uploads, manifest and index PUTs), as a client such as `docker push` does.

``token=True`` starts it behind distribution's own bearer-token auth (``auth.token``: realm, service, issuer,
rootcertbundle; distribution v2.8.2 registry/auth/token/accesscontroller.go), with a small token issuer beside it
that answers anonymous requests as Docker Hub's does: a JWT (ES256, the signing certificate in ``x5c``, claims
iss/aud/exp/nbf/access as registry/auth/token/token.go ``Verify`` checks them) granting the scope asked for. The
registry verifies every token itself, so a client that asks for the wrong scope or service is refused there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
import yaml

from tests.realparts import free_port, stop
from tests.render.tools import IN_CI

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
SERVICE = "llmops-test-registry"
ISSUER = "llmops-test-issuer"


def registry_binary() -> str:
    import shutil

    path = shutil.which("docker-registry")
    if path:
        return path
    msg = "docker-registry is not installed: apt-get install -y docker-registry (.ci/system-deps.sh)"
    if IN_CI:
        pytest.fail(msg + " (CI is set: this proof must run)")
    pytest.skip(msg)


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenIssuer:
    """Anonymous bearer tokens for the registry, and a record of what was asked."""

    root: Path
    asked: list[dict[str, list[str]]] = field(default_factory=list)
    refuse: bool = False
    url: str = ""

    def __post_init__(self) -> None:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.bundle = self.root / "token-root.pem"
        self.bundle.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()

    def token(self, scopes: list[str], service: str) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "x5c": [self.x5c]}
        claims = {"iss": ISSUER, "sub": "", "aud": service, "exp": now + 300, "nbf": now - 10, "iat": now}
        claims |= {"jti": hashlib.sha256(f"{now}{scopes}".encode()).hexdigest()[:16], "access": access}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        # JOSE ES256: the raw 32-byte r and s, not DER (libtrust's ecPublicKey.Verify).
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    @contextmanager
    def serve(self) -> Iterator[TokenIssuer]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                issuer.asked.append(query)
                if issuer.refuse:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps(
                    {"token": issuer.token(query.get("scope", []), query.get("service", [""])[0]), "expires_in": 300}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}/token"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()


@dataclass
class Registry:
    url: str
    issuer: TokenIssuer | None = None

    @property
    def host(self) -> str:
        return self.url.removeprefix("http://")

    def _auth(self, repo: str) -> dict[str, str]:
        if self.issuer is None:
            return {}
        return {"Authorization": "Bearer " + self.issuer.token([f"repository:{repo}:pull,push"], SERVICE)}

    def put_blob(self, repo: str, data: bytes) -> dict[str, Any]:
        auth = self._auth(repo)
        with httpx.Client(timeout=10, headers=auth) as c:
            r = c.post(f"{self.url}/v2/{repo}/blobs/uploads/")
            assert r.status_code == 202, (r.status_code, r.text)
            location = urljoin(self.url + "/", r.headers["Location"])
            sep = "&" if "?" in location else "?"
            r = c.put(
                f"{location}{sep}digest={sha(data)}",
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            )
            assert r.status_code == 201, (r.status_code, r.text)
        return {"digest": sha(data), "size": len(data)}

    def put_manifest(self, repo: str, reference: str, manifest: dict[str, Any], media_type: str) -> str:
        body = json.dumps(manifest, indent=2).encode()
        with httpx.Client(timeout=10, headers=self._auth(repo)) as c:
            r = c.put(f"{self.url}/v2/{repo}/manifests/{reference}", content=body, headers={"Content-Type": media_type})
        assert r.status_code == 201, (r.status_code, r.text)
        assert r.headers["Docker-Content-Digest"] == sha(body)
        return sha(body)

    def delete_manifest(self, repo: str, digest: str) -> None:
        """DELETE by digest: the registry untags every tag that named it (v2.8.2 handlers/manifests.go)."""
        with httpx.Client(timeout=10, headers=self._auth(repo)) as c:
            r = c.delete(f"{self.url}/v2/{repo}/manifests/{digest}")
        assert r.status_code == 202, (r.status_code, r.text)

    def push_image(self, repo: str, tag: str, *, seed: str = "", docker: bool = False) -> str:
        """A one-layer image (an OCI or a Docker v2 manifest); returns its manifest digest."""
        config = json.dumps(
            {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}, "seed": seed}
        ).encode()
        layer = hashlib.sha256(f"{repo}:{tag}:{seed}".encode()).digest() * 8
        cfg, lay = self.put_blob(repo, config), self.put_blob(repo, layer)
        manifest = {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG if docker else OCI_CONFIG, **cfg},
            "layers": [{"mediaType": DOCKER_LAYER if docker else OCI_LAYER, **lay}],
        }
        return self.put_manifest(repo, tag, manifest, DOCKER_MANIFEST if docker else OCI_MANIFEST)

    def push_index(self, repo: str, tag: str, platforms: dict[str, str]) -> str:
        """An OCI index over one image per architecture (each pushed first, by digest); returns its digest."""
        entries = []
        for arch, seed in platforms.items():
            digest = self.push_image(repo, f"build-{arch}-{seed}", seed=seed)
            with httpx.Client(timeout=10, headers=self._auth(repo)) as c:
                size = len(c.get(f"{self.url}/v2/{repo}/manifests/{digest}", headers={"Accept": OCI_MANIFEST}).content)
            entries.append(
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": digest,
                    "size": size,
                    "platform": {"architecture": arch, "os": "linux"},
                }
            )
        return self.put_manifest(
            repo, tag, {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}, OCI_INDEX
        )


@contextmanager
def running_registry(root: Path, *, token: bool = False) -> Iterator[Registry]:
    """``docker-registry serve`` on a free loopback port (retried if another process takes the port first)."""
    exe = registry_binary()
    root.mkdir(parents=True, exist_ok=True)
    with TokenIssuer(root).serve() if token else _none() as issuer:
        for _attempt in range(3):
            port = free_port()
            config: dict[str, Any] = {
                "version": 0.1,
                "log": {"level": "warn", "accesslog": {"disabled": True}},
                "storage": {"filesystem": {"rootdirectory": str(root / "data")}, "delete": {"enabled": True}},
                "http": {"addr": f"127.0.0.1:{port}", "secret": hashlib.sha256(str(root).encode()).hexdigest()},
            }
            if issuer is not None:
                config["auth"] = {
                    "token": {
                        "realm": issuer.url,
                        "service": SERVICE,
                        "issuer": ISSUER,
                        "rootcertbundle": str(issuer.bundle),
                    }
                }
            cfg = root / "config.yml"
            cfg.write_text(yaml.safe_dump(config))
            log = open(root / "registry.log", "ab")
            proc = subprocess.Popen([exe, "serve", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 15
            up = False
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    up = httpx.get(f"{url}/v2/", timeout=1).status_code in (200, 401)
                except httpx.HTTPError:
                    up = False
                if up:
                    break
                time.sleep(0.05)
            if up:
                try:
                    yield Registry(url, issuer)
                finally:
                    stop(proc)
                    log.close()
                return
            stop(proc)
            log.close()
        raise AssertionError(f"docker-registry did not start: {(root / 'registry.log').read_text()[-2000:]}")


@contextmanager
def _none() -> Iterator[None]:
    yield None
