"""Server settings of the gateway process, from ``PAC_*`` environment variables (CLI flags override them).

The upstream URL is server configuration only: nothing in a request can change it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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
    "redis_url": "PAC_REDIS_URL",
    "redis_timeout": "PAC_REDIS_TIMEOUT",
    "header_timeout": "PAC_HEADER_TIMEOUT",
    "body_timeout": "PAC_BODY_TIMEOUT",
}
# Read where the store is opened, not settings: workers inherit them, nothing prints them. The _FILE form (a
# mounted Secret) wins over the plain variable, which wins over a password in the URL.
REDIS_PASSWORD_ENV = "PAC_REDIS_PASSWORD"  # noqa: S105 (the variable's name, not a password)
REDIS_PASSWORD_FILE_ENV = "PAC_REDIS_PASSWORD_FILE"  # noqa: S105
_SECRET_FIELDS = {"redis_url", "upstream_api_key"}  # validation errors do not echo these values


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
    reload_interval: float = Field(2.0, ge=0, description="Seconds between policy-file change checks; 0 = off.")
    max_connections: int = Field(512, ge=1)
    busy_poll_ms: float = Field(
        0.0,
        ge=0,
        le=1000,
        description="Poll without sleeping for this long after each request or streamed read; 0 = off.",
    )
    redis_url: str | None = Field(
        None, description="Redis for rate-limit buckets shared by all workers and replicas; unset = per worker."
    )
    redis_timeout: float = Field(
        0.1, gt=0, le=10, description="Seconds a rate-limit check waits for Redis before using local buckets."
    )
    header_timeout: float = Field(
        10.0, gt=0, le=300, description="Seconds a connection may take to send a request's headers (then 408)."
    )
    body_timeout: float = Field(
        30.0, gt=0, le=3600, description="Seconds a request's body may take to arrive (then 408)."
    )

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str | None) -> str | None:
        if v:
            from llmops_cli.gateway.redis_client import RedisURL

            RedisURL.parse(v)  # ValueError: "must start with redis:// or rediss://", ...
        return v or None

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
            shown = "" if field in _SECRET_FIELDS else f", got {err.get('input')!r}"
            raise ConfigError(
                f"{err['msg']}{shown}",
                path=src,
                hint="fix the flag or environment variable",
            ) from e


def redis_password(environ: Mapping[str, str] | None = None) -> str | None:
    """The rate-limit store's password from ``PAC_REDIS_PASSWORD_FILE`` or ``PAC_REDIS_PASSWORD``; ConfigError
    naming the file when it cannot be read."""
    env = os.environ if environ is None else environ
    path = env.get(REDIS_PASSWORD_FILE_ENV)
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip("\r\n") or None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(
                f"cannot read the Redis password file {path}: {getattr(e, 'strerror', None) or e}",
                path=REDIS_PASSWORD_FILE_ENV,
                hint="mount the Secret there, or unset the variable",
            ) from e
    return env.get(REDIS_PASSWORD_ENV) or None


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
