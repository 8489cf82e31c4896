"""Server settings of the gateway process.

One precedence rule for every setting (:data:`PRECEDENCE`): a flag of ``llmops gateway serve``, else its
``PAC_*`` environment variable, else ``llmops.yaml`` (``stacks.gateway.*``, where the setting has a key there,
set in the file or through ``LLMOPS_STACKS__GATEWAY__*``), else the default. :func:`resolve` applies it and
says where each value came from (``llmops config show --sources`` prints that).

The upstream URL is server configuration only: nothing in a request can change it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
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
    "metrics_port": "PAC_METRICS_PORT",
    "workers": "PAC_WORKERS",
    "reload_interval": "PAC_RELOAD_INTERVAL",
    "max_connections": "PAC_UPSTREAM_MAX_CONNECTIONS",
    "busy_poll_ms": "PAC_BUSY_POLL_MS",
    "redis_url": "PAC_REDIS_URL",
    "redis_timeout": "PAC_REDIS_TIMEOUT",
    "header_timeout": "PAC_HEADER_TIMEOUT",
    "body_timeout": "PAC_BODY_TIMEOUT",
    "release_file": "PAC_RELEASE_FILE",
    "incidents_file": "PAC_INCIDENTS_FILE",
    "governance_refresh": "PAC_GOVERNANCE_REFRESH",
}
# The flag of `gateway serve` that sets each setting (the others have a variable only).
FLAGS = {
    "policy_file": "--policies",
    "upstream_url": "--upstream",
    "provider": "--provider",
    "host": "--host",
    "port": "--port",
    "metrics_port": "--metrics-port",
    "workers": "--workers",
    "audit_log": "--audit-log",
    "busy_poll_ms": "--busy-poll",
    "redis_url": "--redis-url",
    "release_file": "--release",
    "incidents_file": "--incidents",
}
# The llmops.yaml key (under stacks.gateway) of each setting that has one.
CONFIG_KEYS = {"policy_file": "policies_file", "provider": "provider", "busy_poll_ms": "busy_poll_ms"}
PRECEDENCE = "flag > PAC_* environment variable > llmops.yaml (stacks.gateway.*) > default"
UPSTREAM_URL = r"^https?://[^\s/]+(/\S*)?$"
# What each pattern means, for error messages (never the regular expression itself).
PATTERN_HELP = {UPSTREAM_URL: "an http:// or https:// URL such as http://127.0.0.1:8000/v1"}
# Read where the store is opened, not settings: workers inherit them, nothing prints them. The _FILE form (a
# mounted Secret) wins over the plain variable, which wins over a password in the URL.
REDIS_PASSWORD_ENV = "PAC_REDIS_PASSWORD"  # noqa: S105 (the variable's name, not a password)
REDIS_PASSWORD_FILE_ENV = "PAC_REDIS_PASSWORD_FILE"  # noqa: S105
SECRET_FIELDS = frozenset({"redis_url", "upstream_api_key"})  # never echoed: errors, `config show`


class GatewayServerSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: Literal["http", "litellm"] = "http"
    upstream_url: str = Field("http://127.0.0.1:8000", pattern=UPSTREAM_URL)
    upstream_api_key: str | None = None
    upstream_timeout: float = Field(60.0, gt=0)
    policy_file: str = "policies/gateway.yaml"
    audit_log: str = "-"
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Port for /metrics (on the same host); unset = metrics not served."
    )
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
    release_file: str | None = Field(
        None, description="Release record (`llmops govern release`) exported as llmops_model_* gauges."
    )
    incidents_file: str | None = Field(
        None, description="Incident index exported as llmops_incidents* gauges, re-read when it changes."
    )
    governance_refresh: float = Field(
        15.0, gt=0, le=3600, description="Seconds between incident-index re-reads and overdue recounts."
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
        """Settings from ``PAC_*`` variables and ``overrides`` (flags) alone: what a worker process reads."""
        settings, _ = resolve(overrides, os.environ if environ is None else environ)
        return settings


@dataclass(frozen=True)
class Configured:
    """What llmops.yaml says for the gateway: ``values`` and ``sources`` of the settings it sets (in the file or
    through ``LLMOPS_*``; defaults left out), and the project's own policy file (``stacks.gateway.policies_file``
    resolved against llmops.yaml's directory, default included), the default policy where it exists."""

    values: dict[str, object] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    project_policy: str | None = None


def resolve(
    flags: Mapping[str, object], environ: Mapping[str, str], configured: Configured | None = None
) -> tuple[GatewayServerSettings, dict[str, str]]:
    """The settings by :data:`PRECEDENCE`, and each one's source (``--flag``, ``env PAC_X``, ``llmops.yaml:3``,
    ``default``). ConfigError naming the source of a value that is invalid, or of a configured policy file that
    does not exist."""
    data, sources = _layered(flags, environ, configured or Configured(), ENV)
    try:
        return GatewayServerSettings.model_validate(data), sources
    except ValidationError as e:
        from llmops_cli.config.load import describe_error

        err = e.errors(include_url=False)[0]
        name = str(err["loc"][0]) if err["loc"] else ""
        if name in SECRET_FIELDS:
            err = {**err, "input": None}  # never echo a credential
        where = sources.get(name, name)
        if where.startswith("env "):  # the variable's name alone, as the user would write it
            raise ConfigError(
                describe_error(err, (name,), PATTERN_HELP),
                path=where[4:],
                hint="fix the environment variable, or give the flag",
            ) from e
        raise ConfigError(describe_error(err, (name,), PATTERN_HELP), path=where, hint=f"fix {where}") from e


def _layered(
    flags: Mapping[str, object], environ: Mapping[str, str], configured: Configured, names: Mapping[str, str]
) -> tuple[dict[str, object], dict[str, str]]:
    data: dict[str, object] = {}
    sources: dict[str, str] = {}
    for name in names:
        var = ENV[name]
        if flags.get(name) is not None:
            data[name], sources[name] = flags[name], FLAGS.get(name, name)
        elif environ.get(var):
            data[name], sources[name] = environ[var], f"env {var}"
        elif name in configured.values:
            data[name], sources[name] = configured.values[name], configured.sources[name]
        else:
            sources[name] = "default"
    if "policy_file" not in names:
        return data, sources
    if sources["policy_file"] == "default":
        project = configured.project_policy
        if project and Path(project).exists():
            data["policy_file"], sources["policy_file"] = project, "default (the project's policies/gateway.yaml)"
        else:
            from llmops_cli.resources import policies_dir

            data["policy_file"] = str(policies_dir() / "gateway.yaml")
            sources["policy_file"] = "default (the policy shipped with llmops)"
    elif (
        sources["policy_file"] == configured.sources.get("policy_file") and not Path(str(data["policy_file"])).exists()
    ):
        raise ConfigError(
            f"{data['policy_file']}: policy file not found",
            path="stacks.gateway.policies_file",
            hint=f"set in {sources['policy_file']}; create it or point the key at an existing file",
        )
    return data, sources


def resolve_policy_file(flag: str | None, environ: Mapping[str, str], configured: Configured | None = None) -> str:
    """The policy file by :data:`PRECEDENCE` (see :func:`resolve`)."""
    data, _ = _layered({"policy_file": flag}, environ, configured or Configured(), {"policy_file": ""})
    return str(data["policy_file"])


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
