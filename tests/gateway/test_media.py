"""`content.media`: media URLs the model server would fetch itself (server-side request forgery)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmops_cli.errors import ConfigError
from llmops_cli.gateway.policy import parse_policy

from .conftest import app_of, chat, compiled, policy_text, policy_with

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

PNG = "data:image/png;base64,iVBORw0KGgo="


def _media(*urls: Any, key: str = "image_url") -> dict[str, Any]:
    parts = [{"type": "text", "text": "what is this?"}]
    parts += [{"type": key, key: {"url": u}} for u in urls]
    return {**chat("x"), "messages": [{"role": "user", "content": parts}]}


def _policy(remote: str = "deny", hosts: tuple[str, ...] = (), *, validate: bool = True) -> str:
    changes = {"content.media.remote_urls": remote, "content.media.allowed_hosts": list(hosts)}
    return policy_with(changes, validate=validate)


REFUSED_BY_DEFAULT = [
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
    ("https://kubernetes.default.svc/api", "kubernetes.default.svc"),
    ("HTTPS://Images.Example.COM/cat.png", "images.example.com"),
    ("file:///etc/passwd", "a file: URL"),
    ("ftp://example.com/x.png", "a ftp: URL"),
    ("//example.com/x.png", "a URL without a scheme"),
    ("/var/data/x.png", "a URL without a scheme"),
    ("http://[::1", "an invalid URL"),
]


@pytest.mark.parametrize(("url", "named"), REFUSED_BY_DEFAULT)
def test_the_shipped_policy_refuses_urls_the_upstream_would_fetch(url: str, named: str) -> None:
    from llmops_cli.gateway.policy.engine import Denied

    with pytest.raises(Denied) as e:
        compiled().check_request("chat", _media(PNG, url), None)
    assert (e.value.status, e.value.code) == (400, "media_url_not_allowed")
    assert named in e.value.message and "data: URL" in e.value.message
    assert [(d.rule, d.action, d.detail) for d in e.value.decisions] == [("media_url", "deny", named)]
    if "meta-data" in url:
        assert "meta-data" not in e.value.message  # the host only: a URL's path or query may hold a token


def test_inline_media_and_text_only_chats_pass() -> None:
    body = _media(PNG, "DATA:audio/wav;base64,UklGRg==")
    assert compiled().check_request("chat", body, None) == []
    assert compiled().check_request("chat", chat("no media here"), None) == []


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://images.example.com/cat.png", True),
        ("http://IMAGES.example.com:80/cat.png?sig=1", True),
        ("http://IMAGES.example.com:8443/cat.png?sig=1", False),  # the host's other services are not media
        ("https://images.example.com:6379/", False),
        ("https://a.cdn.example.com/x.png", True),
        ("https://cdn.example.com/x.png", False),  # `*.cdn…` needs a label before it
        ("https://images.example.com.evil.net/x.png", False),
        ("https://images.example.com@169.254.169.254/", False),  # user info: the host is the address
        ("https://169.254.169.254\\@images.example.com/", False),  # parsers disagree on backslashes
        ("https://images.example.com/a b.png", False),
        ("https://images.example.com/\u200bx.png", False),
        ("file://images.example.com/etc/passwd", False),
    ],
)
def test_allowed_hosts(url: str, ok: bool) -> None:
    from llmops_cli.gateway.policy.engine import Denied

    p = compiled(_policy(hosts=("images.example.com", "*.cdn.example.com")))
    if ok:
        assert p.check_request("chat", _media(url), None) == []
    else:
        with pytest.raises(Denied, match="media"):
            p.check_request("chat", _media(url), None)


@settings(max_examples=300, deadline=None)
@given(
    scheme=st.sampled_from(["http", "https"]),
    host=st.sampled_from(["images.example.com", "a.cdn.example.com", "10.0.0.7", "[fd00::7]"]),
    port=st.one_of(st.none(), st.integers(1, 65535)),
    pattern_port=st.one_of(st.none(), st.just("*"), st.integers(1, 65535)),
)
def test_allowed_hosts_honour_the_port(scheme: str, host: str, port: int | None, pattern_port: Any) -> None:
    """A pattern without a port admits the scheme's own port only; ``host:port`` that port; ``host:*`` any."""
    from llmops_cli.gateway.policy.engine import Denied

    default = {"http": 80, "https": 443}[scheme]
    name = "*.cdn.example.com" if host.endswith("cdn.example.com") else host
    pattern = name if pattern_port is None else f"{name}:{pattern_port}"
    p = compiled(_policy(hosts=(pattern,)))
    url = f"{scheme}://{host}{'' if port is None else f':{port}'}/m.png"
    effective = default if port is None else port
    want = effective == (default if pattern_port is None else pattern_port) or pattern_port == "*"
    if want:
        assert p.check_request("chat", _media(url), None) == []
    else:
        with pytest.raises(Denied) as e:
            p.check_request("chat", _media(url), None)
        assert e.value.code == "media_url_not_allowed"


def test_remote_urls_allow_lets_http_through_but_no_other_scheme() -> None:
    from llmops_cli.gateway.policy.engine import Denied

    p = compiled(_policy(remote="allow"))
    assert p.check_request("chat", _media("http://10.0.0.5/x.png"), None) == []
    with pytest.raises(Denied, match="a file: URL"):
        p.check_request("chat", _media("file:///etc/passwd"), None)


@pytest.mark.parametrize("key", ["image_url", "video_url", "audio_url"])
async def test_every_media_part_and_vllm_shorthand_through_the_app(make_client: Any, fake: Any, key: str) -> None:
    c = make_client(policy_text())
    for part in ({"type": key, key: {"url": "http://10.0.0.5/m"}}, {"type": key, key: "http://10.0.0.5/m"}):
        body = {**chat("x"), "messages": [{"role": "user", "content": [part]}]}
        r = await c.post("/v1/chat/completions", json=body)
        assert r.status_code == 400 and r.json()["error"]["code"] == "media_url_not_allowed", r.text
        r = await c.post("/v1/embeddings", json={"model": "fake-model", "messages": body["messages"]})
        assert r.status_code == 400 and r.json()["error"]["code"] == "media_url_not_allowed", r.text
    assert not fake.received  # nothing reached the upstream
    ok = {**chat("x"), "messages": [{"role": "user", "content": [{"type": key, key: {"url": PNG}}]}]}
    r = await c.post("/v1/chat/completions", json=ok)
    assert r.status_code == 200, r.text
    assert json.loads(fake.received[-1][1])["messages"] == ok["messages"]


def test_a_bad_host_pattern_is_a_file_line_error() -> None:
    with pytest.raises(ConfigError) as e:
        parse_policy(_policy(hosts=("https://images.example.com/",), validate=False), "gateway.yaml")
    assert "gateway.yaml:" in str(e.value) and "content.media.allowed_hosts" in str(e.value)


async def test_a_refusal_is_counted(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/chat/completions", json=_media("http://10.0.0.5/x.png"))
    assert r.status_code == 400
    m = app_of(client).metrics.render().decode()
    assert 'llmops_gateway_policy_decisions_total{action="deny",rule="media_url"} 1.0' in m
