"""Plain HTTP for `llmops verify`: one httpx client per run, every request with a timeout, every transport failure
turned into :class:`EndpointUnreachable` (a one-line message naming the URL), never an httpx exception.

Credentials in a URL (``http://user:password@host``) become Basic auth and are stripped from every message.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from llmops_cli.errors import LlmopsError


class EndpointUnreachable(LlmopsError):
    code = "unreachable"


def safe_url(url: str) -> str:
    """``url`` without its user and password, for messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def join(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/")


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON; None when it is not JSON."""
        import json

        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Web:
    """A small client: ``get``, ``post`` and ``stream`` return :class:`Reply` for any HTTP status."""

    timeout: float = 10.0
    _client: Any = field(default=None, repr=False)

    def _http(self) -> Any:
        if self._client is None:
            import httpx

            # No proxies from the environment: verify talks to port-forwards on loopback and to the URLs given.
            self._client = httpx.Client(timeout=self.timeout, trust_env=False, follow_redirects=False)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> Web:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _split_auth(url: str) -> tuple[str, tuple[str, str] | None]:
        from urllib.parse import unquote

        parts = urlsplit(url)
        if parts.username is None:
            return url, None
        auth = (unquote(parts.username), unquote(parts.password or ""))
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1])), auth

    def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Reply:
        import httpx

        plain, auth = self._split_auth(url)
        try:
            r = self._http().request(
                method,
                plain,
                json=json,
                headers=dict(headers or {}),
                params=dict(params or {}),
                auth=auth,
                timeout=timeout if timeout is not None else self.timeout,
            )
        except httpx.HTTPError as e:
            raise EndpointUnreachable(_describe(e, method, plain)) from e
        return Reply(r.status_code, dict(r.headers), r.content)

    def get(self, url: str, **kw: Any) -> Reply:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> Reply:
        return self.request("POST", url, **kw)

    @contextmanager
    def stream(
        self,
        url: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Iterator[tuple[int, Mapping[str, str], Iterator[str]]]:
        """POST and yield (status, headers, lines of the body as they arrive)."""
        import httpx

        plain, auth = self._split_auth(url)
        try:
            with self._http().stream(
                "POST",
                plain,
                json=json,
                headers=dict(headers or {}),
                auth=auth,
                timeout=timeout if timeout is not None else self.timeout,
            ) as r:

                def lines() -> Iterator[str]:
                    try:
                        yield from r.iter_lines()
                    except httpx.HTTPError as e:
                        raise EndpointUnreachable(_describe(e, "POST", plain)) from e

                yield r.status_code, dict(r.headers), lines()
        except httpx.HTTPError as e:
            raise EndpointUnreachable(_describe(e, "POST", plain)) from e


def _describe(e: Exception, method: str, url: str) -> str:
    import httpx

    if isinstance(e, httpx.TimeoutException):
        what = "timed out"
    elif isinstance(e, httpx.ConnectError):
        what = "could not connect"
    elif isinstance(e, httpx.RemoteProtocolError):
        what = "the server closed the connection or broke the protocol"
    else:
        what = type(e).__name__
    return f"{method} {safe_url(url)}: {what}"
