"""Media URLs that a chat asks the upstream to fetch (``content.media`` in the policy).

vLLM downloads the ``http(s)`` URLs of a multimodal request's ``image_url``, ``video_url`` and ``audio_url``
parts itself, from inside the cluster: a client that names an internal address (the cloud metadata service,
the Kubernetes API, pgvector's exporter) makes the model server request it for them (server-side request
forgery). ``data:`` URLs carry the media inline and always pass. Under ``remote_urls: deny`` an ``http(s)`` URL
passes only when its host and port match ``allowed_hosts``: a pattern without a port (``images.example.com``)
admits the scheme's own port only (80 for http, 443 for https, written or not), so an allowed host's other
services (``images.example.com:6379``) stay out of reach; ``host:port`` admits that port (``*`` any). A URL a
parser could read two ways (a backslash, user info before the host, whitespace or control characters) never
matches, since the upstream's URL parser might find another host in it than this one. Other schemes
(``file:``, …) never pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlsplit

_URL_PARTS = ("image_url", "video_url", "audio_url")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def media_urls(messages: Any) -> Iterator[str]:
    """The URL of every media part of a chat's messages (``{"image_url": {"url": …}}``, or vLLM's shorthand
    ``{"image_url": "…"}``)."""
    for msg in messages if isinstance(messages, list) else ():
        content = msg.get("content") if isinstance(msg, dict) else None
        if not isinstance(content, list):
            continue
        for part in content:
            if not isinstance(part, dict):
                continue
            for key in _URL_PARTS:
                value = part.get(key)
                url = value.get("url") if isinstance(value, dict) else value
                if isinstance(url, str):
                    yield url


def refused_media(url: str, allow_remote: bool, hosts: tuple[str, ...]) -> str | None:
    """None when the upstream may fetch ``url``; otherwise what the refusal names (a host, never the whole URL:
    its path or query may hold a token)."""
    if url[:5].lower() == "data:":
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # an invalid port or IPv6 literal
        return "an invalid URL"
    if parts.scheme not in ("http", "https") or not host:
        return f"a {parts.scheme}: URL" if parts.scheme else "a URL without a scheme"
    if allow_remote:
        return None
    if "\\" in url or "@" in parts.netloc or not url.isprintable() or any(c.isspace() for c in url):
        return "an ambiguous URL"
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError:  # a port out of range
        return "an invalid URL"
    if any(_host_matches(host, port, parts.scheme, pattern) for pattern in hosts):
        return None
    return host if port == _DEFAULT_PORTS[parts.scheme] else f"{host}:{port}"


def _host_matches(host: str, port: int, scheme: str, pattern: str) -> bool:
    """``pattern`` is ``host`` (the scheme's own port) or ``host:port`` (``*`` for any port); hosts fnmatch,
    an IPv6 pattern in brackets (``[::1]:8080``)."""
    if pattern.startswith("["):
        name, _, rest = pattern[1:].partition("]")
        want = rest[1:] if rest.startswith(":") else ""
    elif pattern.count(":") == 1:
        name, _, want = pattern.partition(":")
    else:
        name, want = pattern, ""  # a host, or an IPv6 address without brackets
    if not fnmatchcase(host, name):
        return False
    if not want:
        return port == _DEFAULT_PORTS[scheme]
    return want == "*" or (want.isdigit() and int(want) == port)
