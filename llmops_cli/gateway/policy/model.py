"""The gateway policy (``policies/gateway.yaml``) as a frozen pydantic model.

The schema is documented in ``policies/gateway.schema.md``; keep the two in step.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator


def _off(v: Any) -> Any:
    # YAML 1.1 reads a bare `off` as false; accept it as the action it was meant to be.
    return "off" if v is False else v


Action = Annotated[Literal["redact", "deny", "log", "off"], BeforeValidator(_off)]
DETECTORS = ("email", "phone", "credit_card", "iban", "us_ssn", "ip_address", "secret")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ApiKey(_Model):
    """One API key: only its SHA-256 hash is stored (keys are 256-bit random, so a fast hash is safe)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{2,40}$")
    name: str = Field(min_length=1, max_length=100)
    hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    models: list[str] = Field(default_factory=lambda: ["*"])
    created: str | None = None
    revoked: bool = False
    requests_per_minute: int | None = Field(None, ge=1)
    tokens_per_minute: int | None = Field(None, ge=1)
    max_concurrency: int | None = Field(None, ge=1)  # overrides limits.max_concurrency_per_key


class AuthPolicy(_Model):
    required: bool = True
    keys: list[ApiKey] = Field(default_factory=list)

    @field_validator("keys")
    @classmethod
    def _unique_ids(cls, keys: list[ApiKey]) -> list[ApiKey]:
        seen: set[str] = set()
        for k in keys:
            if k.id in seen:
                raise ValueError(f"duplicate key id {k.id!r}")
            seen.add(k.id)
        return keys


class MaxTokensPolicy(_Model):
    cap: int | None = Field(4096, ge=1)
    action: Literal["clamp", "reject"] = "clamp"
    # Forwarded as `max_tokens` (and reserved from the tokens-per-minute bucket) when a request gives none; at
    # most `cap`.
    default: int = Field(1024, ge=1)


class LimitsPolicy(_Model):
    requests_per_minute: int | None = Field(600, ge=1)
    tokens_per_minute: int | None = Field(200_000, ge=1)
    max_body_bytes: int = Field(1_048_576, ge=256)
    max_messages: int = Field(256, ge=1)
    max_tokens: MaxTokensPolicy = Field(default_factory=MaxTokensPolicy)
    models: list[str] = Field(default_factory=lambda: ["*"], description="Model allowlist (fnmatch).")
    max_concurrency: int = Field(512, ge=1, description="In-flight requests per worker before 503.")
    max_concurrency_per_key: int = Field(
        128, ge=1, description="Requests of one key being read or in flight, per worker, before 429."
    )


class PiiActions(_Model):
    email: Action = "redact"
    phone: Action = "redact"
    credit_card: Action = "redact"
    iban: Action = "redact"
    us_ssn: Action = "redact"
    ip_address: Action = "redact"
    secret: Action = "redact"  # noqa: S105 - a detector name, not a credential


class PiiPolicy(_Model):
    input: PiiActions = Field(default_factory=PiiActions)
    output: PiiActions = Field(default_factory=PiiActions)


class BlockedPattern(_Model):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    pattern: str = Field(min_length=1)
    regex: bool = False


class InjectionClassifierPolicy(_Model):
    """A prompt-injection classifier served by Hugging Face Text Embeddings Inference (``POST /predict``), e.g.
    Llama Prompt Guard 2 (rendered by ``stacks.gateway.injection_classifier`` in ``llmops.yaml``)."""

    url: str = Field(pattern=r"^https?://[A-Za-z0-9.:\[\]-]+(?:/[A-Za-z0-9._~/-]*)?$")
    api: Literal["tei"] = "tei"
    # Labels whose score is the probability of an attack: Llama Prompt Guard 2's MALICIOUS, ProtectAI's v2 INJECTION
    # (their sources: llmops_cli/config/model.py KNOWN_INJECTION_CLASSIFIERS).
    labels: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=lambda: ["MALICIOUS", "INJECTION"], min_length=1
    )
    threshold: float = Field(0.5, gt=0, lt=1)
    timeout_ms: int = Field(500, ge=10, le=30_000)
    on_error: Literal["open", "closed"] = "closed"
    chunk_chars: int = Field(1500, ge=100, le=20_000)  # text per classifier input (the model reads 512 tokens)
    max_chunks: int = Field(32, ge=1, le=512)  # TEI's --max-client-batch-size default; more text: not sent


class InjectionPolicy(_Model):
    action: Annotated[Literal["flag", "deny", "off"], BeforeValidator(_off)] = "flag"
    # Heuristic hits needed before a `flag` decision is recorded (the heuristics only ever report).
    threshold: int = Field(1, ge=1)
    classifier: InjectionClassifierPolicy | None = None

    @model_validator(mode="after")
    def _deny_needs_a_classifier(self) -> InjectionPolicy:
        if self.action == "deny" and self.classifier is None:
            raise ValueError(
                "`action: deny` needs `classifier:` (the heuristics only report: they refuse benign look-alikes "
                "and miss obfuscated attacks); set `action: flag` or configure a classifier"
            )
        return self


class MediaPolicy(_Model):
    """Media URLs in a chat's content parts (``image_url``, ``video_url``, ``audio_url``): the upstream fetches
    them itself, from inside the cluster. ``data:`` URLs (inline media) always pass."""

    remote_urls: Literal["deny", "allow"] = "deny"
    # Hosts (fnmatch, e.g. "images.example.com", "*.cdn.example.com") whose http(s) URLs pass under `deny`.
    allowed_hosts: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9*?.:\[\]-]{1,253}$")]] = Field(default_factory=list)


class ContentPolicy(_Model):
    pii: PiiPolicy = Field(default_factory=PiiPolicy)
    blocked_patterns: list[BlockedPattern] = Field(default_factory=list)
    injection: InjectionPolicy = Field(default_factory=InjectionPolicy)
    media: MediaPolicy = Field(default_factory=MediaPolicy)
    # Prompts given as token ids (completions `prompt`, embeddings `input`) or as `prompt_embeds`: the gateway
    # cannot read them without the model's tokenizer, so no content policy can apply.
    token_prompts: Literal["deny", "allow"] = "deny"  # noqa: S105 - a policy setting, not a credential


class StreamPolicy(_Model):
    holdback_chars: int = Field(64, ge=8, le=4096)


class AuditPolicy(_Model):
    store_text: bool = Field(False, description="Store prompts/completions (redacted) instead of hashes.")
    # While the audit log cannot be written: refuse requests (503, not ready) or serve them unrecorded.
    on_failure: Literal["refuse", "serve"] = "refuse"


class Policy(_Model):
    version: Literal[1] = 1
    auth: AuthPolicy = Field(default_factory=AuthPolicy)
    limits: LimitsPolicy = Field(default_factory=LimitsPolicy)
    content: ContentPolicy = Field(default_factory=ContentPolicy)
    streams: StreamPolicy = Field(default_factory=StreamPolicy)
    audit: AuditPolicy = Field(default_factory=AuditPolicy)
