"""Property-based API tests from the gateway's own OpenAPI document: no generated input may cause a 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from llmops_cli.gateway.app import create_app  # noqa: E402
from llmops_cli.gateway.openapi import SCHEMA  # noqa: E402
from llmops_cli.gateway.testing.fake_upstream import FakeUpstream, serve_in_thread  # noqa: E402
from llmops_cli.gateway.upstream.http import HttpAdapter  # noqa: E402

from .conftest import KEY, compiled  # noqa: E402

schema = schemathesis.openapi.from_dict(SCHEMA)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    fake = FakeUpstream(record=False)
    with serve_in_thread(fake) as up:
        text = None
        app = create_app(compiled(text), HttpAdapter(up, timeout=5))
        with serve_in_thread(app) as url:
            yield url


@pytest.mark.timeout(120)
@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case, base_url: str) -> None:
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {KEY}"}
    response = case.call(base_url=base_url)
    case.validate_response(response, checks=(not_a_server_error,))
