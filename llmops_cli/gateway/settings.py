"""Server settings of the gateway process, from ``PAC_*`` environment variables (CLI flags override them).

The upstream URL is server configuration only: nothing in a request can change it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmops_cli.errors import ConfigError

ENV = {
    "provider": "PAC_LLM_PROVIDER",
    "upstream_url": "PAC_UPSTREAM_URL",
    "upstream_api_key": "PAC_UPSTREAM_API_KEY",
    "upstream_timeout": "PAC_UPSTREAM_TIMEOUT",
    "policy_file": "PAC_POLICY_FILE",
    "audit_log": "PAC_AUDIT_LOG",
    "host": "PAC_HOST",
    "port": "PAC_PORT",
    "workers": "PAC_WORKERS",
    "reload_interval": "PAC_RELOAD_INTERVAL",
    "max_connections": "PAC_UPSTREAM_MAX_CONNECTIONS",
    "busy_poll_ms": "PAC_BUSY_POLL_MS",
}


class GatewayServerSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: Literal["http", "litellm"] = "http"
    upstream_url: str = Field("http://127.0.0.1:8000", pattern=r"^https?://[^\s/]+(/\S*)?$")
    upstream_api_key: str | None = None
    upstream_timeout: float = Field(60.0, gt=0)
    policy_file: str = "policies/gateway.yaml"
    audit_log: str = "-"
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)
    reload_interval: float = Field(
        2.0, ge=0, description="Seconds between policy-file change checks; 0 = off."
    )
    max_connections: int = Field(512, ge=1)
    busy_poll_ms: float = Field(
        0.0,
        ge=0,
        le=1000,
        description="Poll without sleeping for this long after each request or streamed read; 0 = off.",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> GatewayServerSettings:
        env = os.environ if environ is None else environ
        data: dict[str, object] = {f: env[v] for f, v in ENV.items() if env.get(v)}
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            err = e.errors(include_url=False)[0]
            field = str(err["loc"][0]) if err["loc"] else ""
            src = ENV.get(field, field)
            raise ConfigError(
                f"{err['msg']}, got {err.get('input')!r}",
                path=src,
                hint="fix the flag or environment variable",
            ) from e


def resolve_policy_file(flag: str | None, environ: Mapping[str, str], configured: str | None) -> str:
    """Policy path: ``--policies`` > ``PAC_POLICY_FILE`` > llmops.yaml ``stacks.gateway.policies_file`` if it
    exists > the policy shipped with llmops."""
    if flag:
        return flag
    if environ.get(ENV["policy_file"]):
        return environ[ENV["policy_file"]]
    if configured and Path(configured).exists():
        return configured
    from llmops_cli.resources import policies_dir

    return str(policies_dir() / "gateway.yaml")
