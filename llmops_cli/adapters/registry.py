"""Image tags to manifest digests, through a registry's HTTP API, anonymously.

What `llmops promote` pins a release to. Facts, each read at its source:

- The request: ``HEAD /v2/<name>/manifests/<tag>`` answers the manifest's digest in ``Docker-Content-Digest``
  (distribution/distribution v2.8.2 registry/handlers/manifests.go ``GetManifest``, which serves HEAD too). The
  ``Accept`` header must list every manifest type: without the OCI types that registry answers 404 for an OCI
  manifest or index ("accept header does not support OCI ..."), and without the Docker manifest-list type it
  answers a tag that names a list with *one platform's* manifest, i.e. another digest (same file). A missing
  manifest is ``404 Not Found`` (opencontainers/distribution-spec v1.1.1 spec.md "Pulling manifests"; the name
  and tag grammars below are from there too).
- The header is used, not verified against the body (the spec lets a client ignore it; a HEAD has no body): the
  digest is what the cluster then pulls *by digest*, and containerd checks the content it fetches against it,
  so a registry that lied makes the pull fail, never run other bytes.
- Anonymous bearer tokens: a 401 carries ``WWW-Authenticate: Bearer realm="…",service="…",scope="…"``
  (distribution v2.8.2 registry/auth/token/accesscontroller.go ``challengeParams``); the client GETs
  ``realm?service=…&scope=…`` and reads ``token`` or its OAuth 2 alias ``access_token`` from the JSON
  (docs/spec/auth/token.md "Token Response Fields"), then repeats the request with ``Authorization: Bearer``.
- References: ``name [":" tag] ["@" digest]`` (distribution v2.8.2 reference/reference.go), so
  ``repo:tag@sha256:…`` is one valid reference: the tag for people, the digest for the runtime.
- Names: a first path component without ``.`` or ``:`` (and not ``localhost``) is a Docker Hub name; Docker Hub's
  one-component names live under ``library/`` (distribution v2.8.2 reference/normalize.go ``splitDockerDomain``);
  its API host is ``registry-1.docker.io`` (docs/configuration.md, the proxy's ``remoteurl``).
- Plain HTTP only for loopback registries, as Docker does (moby/moby registry/config.go: 127.0.0.0/8 is an
  insecure registry by default); every other registry is HTTPS with certificate checks.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from threading import Lock
from typing import Any

from llmops_cli.errors import LlmopsError, UsageError

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "https://registry-1.docker.io"
_NAME = re.compile(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*")
_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")
_DOMAIN = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)(:[0-9]{1,5})?")
_AUTH_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?')


class RegistryError(LlmopsError):
    """A registry could not be reached, refused, or has no such image: exit 1."""

    code = "registry"


class BadImageReference(UsageError):
    code = "image"


def is_digest(text: str) -> bool:
    return bool(_DIGEST.fullmatch(text))


@dataclass(frozen=True)
class ImageRef:
    """An image reference as written (``text``), split as Docker splits it."""

    text: str
    domain: str  # docker.io, ghcr.io, 127.0.0.1:5000
    path: str  # the repository inside the registry: library/redis, vllm/vllm-openai
    tag: str
    digest: str | None

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}"

    @property
    def tagged(self) -> str:
        """The reference without its digest, as written (the key a release records digests under)."""
        return self.text.split("@", 1)[0]

    def pinned(self, digest: str) -> str:
        """``repo:tag@digest``: the tag kept for people, the digest for the runtime."""
        return f"{self.tagged}@{digest}"


def parse_image(text: str, *, where: str = "image") -> ImageRef:
    """Split ``[domain/]path[:tag][@digest]``; a bad reference is bad input (exit 2) naming ``where``."""

    def bad(why: str) -> BadImageReference:
        return BadImageReference(f"{where}: {text!r} is not an image reference ({why})", hint="write repo:tag")

    rest, _, digest = text.partition("@")
    if digest and not is_digest(digest):
        raise bad("a digest is sha256: and 64 lowercase hex digits")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    tag = ""
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise bad(f"tag {tag!r}")
    first, sep, remainder = rest.partition("/")
    if sep and (any(c in first for c in ".:") or first == "localhost"):
        domain, path = first, remainder
        if not _DOMAIN.fullmatch(domain):
            raise bad(f"registry {domain!r}")
    else:
        domain, path = DOCKER_HUB, rest
    if domain == "index.docker.io":
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not _NAME.fullmatch(path):
        raise bad(f"repository {path!r}")
    if not tag and not digest:
        tag = "latest"
    return ImageRef(text, domain, path, tag, digest or None)


def _loopback(domain: str) -> bool:
    host = domain.rsplit(":", 1)[0] if not domain.startswith("[") else domain[1 : domain.index("]")]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_base(domain: str) -> str:
    if domain == DOCKER_HUB:
        return DOCKER_HUB_API
    return ("http://" if _loopback(domain) else "https://") + domain


def parse_challenge(header: str) -> tuple[str, dict[str, str]] | None:
    """``Bearer realm="…",service="…"`` -> ("bearer", {realm, service, ...}); None when it is not one."""
    scheme, _, params = header.strip().partition(" ")
    if not scheme:
        return None
    out: dict[str, str] = {}
    for m in _AUTH_PARAM.finditer(params):
        value = m.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out[m.group(1).lower()] = value
    return scheme.lower(), out


@dataclass
class RegistryClient:
    """Resolves tags to digests; one per run (its tokens are cached per realm, service and scope).

    ``endpoints`` maps a registry domain to the base URL to ask instead (a mirror that serves the same
    repositories); ``transport`` is an httpx transport (tests)."""

    timeout: float = 15.0
    endpoints: Mapping[str, str] = field(default_factory=dict)
    transport: Any = None
    _tokens: dict[tuple[str, str, str], str] = field(default_factory=dict, repr=False)
    _lock: Lock = field(default_factory=Lock, repr=False)
    _client: Any = field(default=None, repr=False)

    def _http(self) -> Any:
        import httpx

        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    timeout=self.timeout, transport=self.transport, headers={"User-Agent": "llmops"}
                )
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def base(self, ref: ImageRef) -> str:
        return self.endpoints.get(ref.domain, api_base(ref.domain)).rstrip("/")

    def resolve(self, ref: ImageRef) -> str:
        """The digest the registry serves for ``ref``'s tag; RegistryError (one line, naming the image and the
        registry) when it cannot tell."""
        import httpx

        base = self.base(ref)
        url = f"{base}/v2/{ref.path}/manifests/{ref.tag}"
        where = f"{ref.tagged} (registry {base.split('://', 1)[-1]})"
        headers = {"Accept": ", ".join(MANIFEST_TYPES)}
        try:
            r = self._http().head(url, headers=headers)
            if r.status_code == 401:
                token = self._token(r.headers.get("WWW-Authenticate", ""), ref, where)
                r = self._http().head(url, headers={**headers, "Authorization": f"Bearer {token}"})
            if r.status_code == 200 and not r.headers.get("Docker-Content-Digest"):
                # The header is a SHOULD: without it the digest is that of the manifest's bytes as served.
                import hashlib

                auth = {k: v for k, v in r.request.headers.items() if k.lower() == "authorization"}
                body = self._http().get(url, headers={**headers, **auth})
                if body.status_code == 200:
                    return "sha256:" + hashlib.sha256(body.content).hexdigest()
                r = body
        except httpx.HTTPError as e:
            raise RegistryError(
                f"cannot reach the registry for {where}: {_why(e)}",
                hint=f"check the network, or pin {ref.tagged}@sha256:… under environments.<env>.images in llmops.yaml",
            ) from None
        if r.status_code == 404:
            raise RegistryError(
                f"{where} has no manifest for tag {ref.tag} (404)",
                hint="check the tag, or pin the image by digest under environments.<env>.images in llmops.yaml",
            )
        if r.status_code in (401, 403):
            raise RegistryError(
                f"{where} refused an anonymous pull ({r.status_code})",
                hint="promote resolves public images anonymously; pin a private image by digest in llmops.yaml "
                "under environments.<env>.images",
            )
        if r.status_code != 200:
            raise RegistryError(f"{where} answered {r.status_code} {r.reason_phrase}", hint="try again later")
        digest = r.headers.get("Docker-Content-Digest", "")
        if not is_digest(digest):
            raise RegistryError(
                f"{where} answered a malformed digest {digest[:80]!r}", hint="report it to the registry"
            )
        return digest

    def _token(self, header: str, ref: ImageRef, where: str) -> str:
        challenge = parse_challenge(header)
        if challenge is None or challenge[0] != "bearer" or not challenge[1].get("realm"):
            raise RegistryError(
                f"{where} asks for credentials ({header[:60] or 'no challenge'}), not an anonymous token",
                hint="pin the image by digest under environments.<env>.images in llmops.yaml",
            )
        params = challenge[1]
        realm = params["realm"]
        service = params.get("service", "")
        scope = params.get("scope") or f"repository:{ref.path}:pull"
        key = (realm, service, scope)
        with self._lock:
            if key in self._tokens:
                return self._tokens[key]
        query = {k: v for k, v in (("service", service), ("scope", scope)) if v}
        r = self._http().get(realm, params=query, follow_redirects=True)
        if r.status_code != 200:
            raise RegistryError(
                f"{where}: the token service {realm} refused an anonymous token ({r.status_code})",
                hint="pin the image by digest under environments.<env>.images in llmops.yaml",
            )
        try:
            data = r.json()
            token = str(data.get("token") or data.get("access_token") or "")
        except (ValueError, AttributeError):
            token = ""
        if not token:
            raise RegistryError(f"{where}: the token service {realm} answered no token", hint="try again later")
        with self._lock:
            self._tokens[key] = token
        return token

    def resolve_all(self, refs: Iterable[ImageRef], *, workers: int = 8) -> dict[str, str]:
        """``{ref.text: digest}`` for every reference, asked in parallel; the first failure (in the order given)
        is raised."""
        todo = list(dict.fromkeys(refs))
        if not todo:
            return {}
        with ThreadPoolExecutor(max_workers=min(workers, len(todo))) as pool:
            futures = [(ref, pool.submit(self.resolve, ref)) for ref in todo]
            return {ref.text: f.result() for ref, f in futures}


def _why(e: Exception) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:160]


Resolver = Callable[[list[ImageRef]], Mapping[str, str]]
