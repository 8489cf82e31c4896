"""The llmops.yaml model. Every field has a default, so a user with no file gets a working laptop setup.

Rules for this module: models are frozen and forbid unknown keys; string fields that end up in Kubernetes
objects are constrained here (DNS labels, label values, URLs), so renderers never see a value that could
change the structure of what they emit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from llmops_cli import versions

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
# RFC 1123 subdomain, also accepts IPv4 literals.
HOSTNAME = r"^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$"
# Kubernetes quantity (e.g. 10Gi, 500m, 2).
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
# Hugging Face style model id: org/name, or a local path under the cache.
MODEL_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$"
K3S_VERSION = r"^v[0-9]+\.[0-9]+\.[0-9]+\+k3s[0-9]+$"
LABEL_KEY = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"
DURATION = r"^[0-9]+(ms|s|m|h|d|w|y)$"
# What Go's time.ParseDuration reads (Argo Rollouts' durations): no days.
GO_DURATION = r"^[0-9]+(ms|s|m|h)$"

DnsLabel = Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]
Hostname = Annotated[str, Field(pattern=HOSTNAME, min_length=1, max_length=253)]
Quantity = Annotated[str, Field(pattern=QUANTITY)]
Duration = Annotated[str, Field(pattern=DURATION)]
GoDuration = Annotated[str, Field(pattern=GO_DURATION)]
LabelValue = Annotated[str, Field(pattern=LABEL_VALUE, max_length=63)]

# What each pattern means, in words, for error messages.
PATTERN_HELP: dict[str, str] = {
    DNS_LABEL: "a DNS label: lowercase letters, digits and '-', starting and ending alphanumeric, <= 63 chars",
    HOSTNAME: "a hostname or IPv4 address",
    QUANTITY: "a Kubernetes quantity such as 10Gi, 512Mi or 2",
    MODEL_ID: "a model id such as org/name (letters, digits, '.', '_', '-')",
    K3S_VERSION: "a k3s release such as v1.33.5+k3s1",
    DURATION: "a duration such as 30s, 15m, 7d",
    GO_DURATION: "a duration in ms, s, m or h, such as 30s or 2m",
}
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
HTTP_URL = r"^https?://[^\s/?#]+(/[^\s?#]*)?$"
PINNED_IMAGE = r"^[^@\s]+:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}@sha256:[0-9a-f]{64}$"
PATTERN_HELP[PINNED_IMAGE] = "an image pinned by digest: repo:tag@sha256:<64 hex digits>"
PATTERN_HELP[ENV_NAME] = "an environment variable name such as OPENAI_API_KEY (the name, not the value)"
PATTERN_HELP[HTTP_URL] = "an http(s) URL such as http://127.0.0.1:8000/v1"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


def _check_labels(v: dict[str, str]) -> dict[str, str]:
    for key, value in v.items():
        if not re.fullmatch(LABEL_KEY, key) or len(key) > 253:
            raise ValueError(f"{key!r} is not a valid Kubernetes label key")
        if not re.fullmatch(LABEL_VALUE, value) or len(value) > 63:
            raise ValueError(f"{value!r} (label {key}) is not a valid Kubernetes label value")
    return v


# --------------------------------------------------------------------------------------------- cluster
K3sComponent = Literal["traefik", "servicelb", "local-storage", "metrics-server", "coredns"]


class ClusterSettings(_Model):
    """The k3s cluster llmops installs or adopts."""

    name: DnsLabel = Field("llmops", description="Cluster name; the kubeconfig context is llmops-<name>.")
    k3s_version: str = Field(
        versions.K3S_VERSION, pattern=K3S_VERSION, description="Pinned k3s release (INSTALL_K3S_VERSION)."
    )
    node_ip: str | None = Field(None, description="Address k3s advertises; auto-detected when empty.")
    tls_san: list[Hostname] = Field(default_factory=list, description="Extra names/IPs in the API cert.")
    disable: list[K3sComponent] = Field(
        default_factory=lambda: list[K3sComponent](["traefik"]), description="Packaged k3s components to disable."
    )
    node_labels: dict[str, str] = Field(default_factory=dict, description="Labels set on the node.")
    registry_mirror: str | None = Field(
        None, pattern=r"^https?://[^\s\"'{}]+$", description="Mirror for docker.io (registries.yaml)."
    )
    switch_context: bool = Field(False, description="Make llmops-<name> the current kubeconfig context.")

    @field_validator("node_ip")
    @classmethod
    def _ip(cls, v: str | None) -> str | None:
        if v is None:
            return v
        import ipaddress

        try:
            ipaddress.ip_address(v)
        except ValueError as e:
            raise ValueError(f"{v!r} is not an IP address") from e
        return v

    @field_validator("node_labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_labels(v)

    @property
    def context_name(self) -> str:
        return f"llmops-{self.name}"


# --------------------------------------------------------------------------------------------- gpu
class GpuSettings(_Model):
    """NVIDIA GPU support."""

    mode: Literal["auto", "on", "off"] = Field(
        "auto", description="auto: use a GPU when nvidia-smi finds one; on: require one; off: CPU only."
    )
    share: int = Field(1, ge=1, le=64, description="Time-slicing replicas per GPU (1 = no sharing).")
    dcgm_exporter: bool = Field(False, description="Deploy the DCGM exporter for GPU metrics.")

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml11_bool(cls, v: object) -> object:
        # YAML 1.1 reads `mode: off` as False and `on` as True; accept what the user meant.
        if v is True:
            return "on"
        if v is False:
            return "off"
        return v

    install_toolkit: bool = Field(
        False, description="Install the NVIDIA container toolkit when missing (else print the commands)."
    )


# --------------------------------------------------------------------------------------------- gitops
class GitOpsSettings(_Model):
    """Where Argo CD reads the rendered tree from."""

    repo_url: str | None = Field(
        None,
        pattern=r"^(https://[^\s\"'{}]+|ssh://[^\s\"'{}]+|git@[A-Za-z0-9.-]+:[^\s\"'{}]+)$",
        description="Remote Git repository; empty = local mode (an in-cluster Git server).",
    )
    branch: str = Field("main", pattern=r"^[A-Za-z0-9._/-]{1,200}$", description="Branch Argo CD tracks.")
    path: str = Field("manifests", pattern=r"^[A-Za-z0-9._/-]{1,200}$", description="Tree root in the repo.")
    token_env: str = Field(
        "LLMOPS_GIT_TOKEN", pattern=r"^[A-Z_][A-Z0-9_]*$", description="Env var holding an HTTPS token."
    )
    ssh_key_file: str | None = Field(None, description="Deploy key for an SSH repo URL.")

    @property
    def local(self) -> bool:
        return self.repo_url is None


# --------------------------------------------------------------------------------------------- environments
class HostSpec(_Model):
    """A remote machine reached over SSH."""

    address: Hostname = Field(description="Name or IP llmops connects to (an alias of the ssh config works too).")
    user: str = Field("root", pattern=r"^[a-z_][a-z0-9_-]{0,31}$", description="SSH user (root, or one with sudo).")
    port: int = Field(22, ge=1, le=65535)
    role: Literal["server", "agent"] = Field(
        "server", description="server: control plane (the first one starts the cluster); agent: a worker."
    )
    ssh_key: str | None = Field(None, description="Private key file; empty = ssh's own (config, agent).")
    gpu: bool | None = Field(None, description="Force GPU on/off for this host; None = detect.")


class EnvironmentSettings(_Model):
    """One deployment environment."""

    profile: Literal["dev", "prod"] = Field("dev", description="Sizing profile: laptop (dev) or cloud (prod).")
    hosts: list[HostSpec] = Field(default_factory=list, description="Remote hosts; empty = this machine.")
    domain: Hostname | None = Field(
        None, description="Base domain: ingress hostnames <service>.<domain> with TLS (rendered)."
    )
    tls_secret: str = Field(
        "llmops-tls",
        pattern=DNS_LABEL,
        description="Secret (type kubernetes.io/tls) holding the certificate for *.<domain>, in each namespace "
        "with an ingress.",
    )
    requires_evidence: bool = Field(False, description="Promotion needs a passing governance bundle.")
    branch: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9._/-]{1,200}$",
        description="Branch of the GitOps repository this environment's Argo CD tracks and `promote` commits "
        "to (its tree is <gitops.path>/<name> there); empty = gitops.branch.",
    )
    ssh_config: str | None = Field(None, description="An ssh_config file for these hosts instead of ~/.ssh/config.")
    images: list[Annotated[str, Field(pattern=PINNED_IMAGE)]] = Field(
        default_factory=list,
        description="Images pinned by digest (repo:tag@sha256:...): `promote` uses these as given, without asking "
        "their registry (offline, private registries); every other image's tag is resolved to its digest.",
    )

    @property
    def remote(self) -> bool:
        return bool(self.hosts)

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, v: list[HostSpec]) -> list[HostSpec]:
        if v and not any(h.role == "server" for h in v):
            raise ValueError("at least one host needs role: server (the first server starts the cluster)")
        seen: set[tuple[str, int]] = set()
        for h in v:
            if (h.address, h.port) in seen:
                raise ValueError(f"host {h.address}:{h.port} is listed twice")
            seen.add((h.address, h.port))
        return v


def _default_environments() -> dict[str, EnvironmentSettings]:
    return {
        "dev": EnvironmentSettings(profile="dev"),
        "prod": EnvironmentSettings(profile="prod", requires_evidence=True),
    }


# --------------------------------------------------------------------------------------------- stacks
class VllmSettings(_Model):
    enabled: bool = True
    model: str = Field("Qwen/Qwen2.5-0.5B-Instruct", pattern=MODEL_ID, description="Hugging Face model id to serve.")
    served_model_name: str | None = Field(
        None, pattern=DNS_LABEL, max_length=63, description="API model name; derived from model when empty."
    )
    backend: Literal["auto", "gpu", "cpu", "simulator"] = Field(
        "auto", description="auto: gpu when a GPU is present, else simulator."
    )
    max_model_len: int = Field(4096, ge=128, le=1_048_576)
    gpu_memory_utilization: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="Share of the GPU's memory vLLM takes; empty = 0.9 divided by gpu.share (time-slicing "
        "shares a GPU with no memory isolation).",
    )
    max_num_seqs: int = Field(64, ge=1, le=4096)
    hf_token_secret: str | None = Field(None, pattern=DNS_LABEL, description="Secret (key HF_TOKEN) for gated models.")
    cache_size: Quantity = Field("20Gi", description="PVC size for the model cache.")
    extra_args: list[str] = Field(default_factory=list, description="Extra vLLM CLI arguments.")

    @field_validator("extra_args")
    @classmethod
    def _args(cls, v: list[str]) -> list[str]:
        for a in v:
            if not re.fullmatch(r"--[a-z0-9][a-z0-9-]*(=[^\s\"']*)?|[^\s\"'-][^\s\"']*", a):
                raise ValueError(f"{a!r} is not a plain CLI argument (no spaces or quotes)")
        return v

    @property
    def name(self) -> str:
        """The served model name, derived once from the model id and reused everywhere."""
        if self.served_model_name:
            return self.served_model_name
        base = self.model.rsplit("/", 1)[-1].lower()
        slug = re.sub(r"[^a-z0-9]+", "-", base).strip("-")[:63].rstrip("-")
        return slug or "model"


@dataclass(frozen=True)
class KnownClassifier:
    """A prompt-injection classifier llmops knows: its attack labels (values of its config.json ``id2label``,
    the names TEI's ``/predict`` answers with) and whether Hugging Face gates its download."""

    labels: tuple[str, ...]
    gated: bool
    source: str  # where the labels were read


# Llama Prompt Guard 2: binary, BENIGN/MALICIOUS; both model cards print `model.config.id2label[...]` of an attack
# as `MALICIOUS` (meta-llama/PurpleLlama Llama-Prompt-Guard-2/{86M,22M}/MODEL_CARD.md), and Meta's LlamaFirewall
# scores the last class (LlamaFirewall/src/llamafirewall/scanners/promptguard_utils.py). Gated: Llama 4 Community
# License. ProtectAI's v2 model answers `INJECTION` for an attack (protectai/llm-guard
# llm_guard/input_scanners/prompt_injection.py, revision 89b085cd of the model); Apache 2.0, not gated.
KNOWN_INJECTION_CLASSIFIERS: dict[str, KnownClassifier] = {
    "meta-llama/Llama-Prompt-Guard-2-86M": KnownClassifier(
        ("MALICIOUS",), True, "meta-llama/PurpleLlama Llama-Prompt-Guard-2/86M/MODEL_CARD.md"
    ),
    "meta-llama/Llama-Prompt-Guard-2-22M": KnownClassifier(
        ("MALICIOUS",), True, "meta-llama/PurpleLlama Llama-Prompt-Guard-2/22M/MODEL_CARD.md"
    ),
    "protectai/deberta-v3-base-prompt-injection-v2": KnownClassifier(
        ("INJECTION",), False, "protectai/llm-guard llm_guard/input_scanners/prompt_injection.py"
    ),
}


class InjectionClassifierSettings(_Model):
    """A prompt-injection classifier served by Hugging Face Text Embeddings Inference beside the gateway, and
    the gateway policy's ``content.injection.classifier`` pointing at it."""

    enabled: bool = Field(False, description="Render the classifier and make the gateway call it.")
    model: str = Field(
        "meta-llama/Llama-Prompt-Guard-2-86M",
        pattern=MODEL_ID,
        description="Hugging Face id of a DeBERTa-v2/BERT-style sequence classifier with a tokenizer.json.",
    )
    revision: str | None = Field(
        None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$", description="Model commit or branch (TEI --revision)."
    )
    hf_token_secret: str | None = Field(
        None, pattern=DNS_LABEL, description="Secret (key HF_TOKEN) for gated models such as Llama Prompt Guard 2."
    )
    labels: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]] = Field(
        default_factory=list,
        description="Attack labels of the model's id2label; empty = those llmops knows for the model.",
    )
    action: Literal["deny", "flag"] = Field("deny", description="What an attack verdict does (content.injection).")
    threshold: float = Field(0.5, gt=0, lt=1, description="Attack score from which a text is an attack.")
    timeout_ms: int = Field(1000, ge=10, le=30_000, description="The whole classifier call, per request.")
    on_error: Literal["open", "closed"] = Field("closed", description="closed: 503 when there is no verdict.")
    max_chunks: int = Field(
        32, ge=1, le=512, description="Classifier inputs per request (TEI --max-client-batch-size)."
    )
    cache_size: Quantity = Field("5Gi", description="PVC size for the model download.")

    @model_validator(mode="after")
    def _known_or_labelled(self) -> InjectionClassifierSettings:
        if not self.enabled:
            return self
        known = KNOWN_INJECTION_CLASSIFIERS.get(self.model)
        if known is None and not self.labels:
            raise ValueError(
                f"llmops does not know the attack labels of {self.model!r}: list them in `labels` (the values of "
                f"its config.json id2label that mean an attack), or use one of {', '.join(KNOWN_INJECTION_CLASSIFIERS)}"
            )
        if known is not None and known.gated and self.hf_token_secret is None:
            raise ValueError(
                f"{self.model} is gated on Hugging Face: set `hf_token_secret` to a Secret (key HF_TOKEN) of an "
                "account that accepted its licence, or use protectai/deberta-v3-base-prompt-injection-v2"
            )
        return self

    @property
    def attack_labels(self) -> list[str]:
        if self.labels:
            return list(self.labels)
        return list(KNOWN_INJECTION_CLASSIFIERS[self.model].labels)


class GatewaySettings(_Model):
    enabled: bool = True
    policies_file: str = Field("policies/gateway.yaml", description="Gateway policy file.")
    replicas: int | None = Field(None, ge=1, le=100, description="Replicas; profile default when empty.")
    provider: Literal["http", "litellm"] = Field("http", description="Upstream adapter (PAC_LLM_PROVIDER).")
    busy_poll_ms: float = Field(
        0,
        ge=0,
        le=1000,
        description="Milliseconds each gateway pod polls instead of sleeping after activity (PAC_BUSY_POLL_MS; "
        "less added latency on VMs); 0 = off. On: one whole CPU per pod, and no CPU autoscaler.",
    )
    shared_rate_limits: bool | None = Field(
        None,
        description="Keep the per-key rate-limit buckets in a Valkey (Redis) pod that all gateway pods share, "
        "so a key gets its policy's limit in all rather than per pod; empty = on when the environment runs "
        "more than one gateway pod (the prod autoscaler, or replicas > 1).",
    )
    release_file: str | None = Field(
        None,
        description="Release record (`llmops govern release`) the gateway serves under: rendered into its pods, "
        "exported as llmops_model_* gauges (risk, fairness, evidence age and signature).",
    )
    injection_classifier: InjectionClassifierSettings = Field(default_factory=InjectionClassifierSettings)


# An S3 (or S3-compatible) bucket and an optional prefix: s3://bucket/path (bucket naming as S3's: 3-63 lowercase
# letters, digits, '.' and '-').
S3_URL = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9._~!$&()*+,;=:@%/-]*)?$"
# The retention barman-cloud applies (plugin-barman-cloud v0.14.0 api/v1/objectstore_types.go RetentionPolicy).
RETENTION = r"^[1-9][0-9]*[dwm]$"
PATTERN_HELP[S3_URL] = "an S3 URL such as s3://my-bucket/llmops (bucket, then an optional path)"
PATTERN_HELP[RETENTION] = "a retention such as 30d, 4w or 6m (days, weeks, months; a positive number)"

# CNPG's ScheduledBackup schedule, as the operator parses it (cloudnative-pg v1.30.0
# internal/webhook/v1/scheduledbackup_webhook.go: robfig/cron v1.2.0 cron.Parse, with a warning unless six
# fields): seconds minutes hours day-of-month month day-of-week. Bounds and names from robfig/cron v1.2.0 spec.go.
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("seconds", 0, 59, {}),
    ("minutes", 0, 59, {}),
    ("hours", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: n for n, m in enumerate(_MONTHS, start=1)}),
    ("day of week", 0, 6, {d: n for n, d in enumerate(_WEEKDAYS)}),
)


def _cron_number(text: str, names: dict[str, int], field: str) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit() or not text.isascii():
        raise ValueError(f"{field}: {text!r} is not a number")
    return int(text)


def _cron_range(expr: str, field: str, low: int, high: int, names: dict[str, int]) -> None:
    """One range of a field, as robfig/cron v1.2.0 parser.go getRange reads it."""
    rng, slash, step = expr.partition("/")
    if slash and ("/" in step or not step.isdigit() or not step.isascii() or int(step) == 0):
        raise ValueError(f"{field}: {expr!r} needs a positive step after '/'")
    if rng in ("*", "?"):
        return
    start_s, dash, end_s = rng.partition("-")
    start = _cron_number(start_s, names, field)
    end = _cron_number(end_s, names, field) if dash else (high if slash else start)
    if "-" in end_s:
        raise ValueError(f"{field}: {expr!r} has too many '-'")
    if start < low or end > high or start > end:
        raise ValueError(f"{field}: {expr!r} is outside {low}-{high}")


def check_cnpg_schedule(v: str) -> str:
    fields = v.split()
    if len(fields) != len(_CRON_FIELDS):
        raise ValueError(
            f"{v!r} has {len(fields)} fields; CloudNativePG's schedule has six, seconds first: "
            "'SEC MIN HOUR DAY MONTH WEEKDAY', e.g. '0 0 2 * * *' for 02:00 every day"
        )
    for text, (field, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for expr in text.split(","):
            if not expr:
                raise ValueError(f"{field}: {text!r} has an empty item")
            _cron_range(expr, field, low, high, names)
    return " ".join(fields)


# A point in time with its zone, as CNPG's recoveryTarget.targetTime takes it (RFC 3339; cloudnative-pg v1.30.0
# docs/src/recovery.md "Recovery targets").
RFC3339 = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$"
PATTERN_HELP[RFC3339] = "a time with its zone, such as 2026-12-07T09:59:00Z or 2026-12-07 10:59:00+01:00"


class PgvectorRecoverySettings(_Model):
    """Bootstrap the prod database from the object store instead of an empty one (a new cluster only: an existing
    Cluster ignores its bootstrap)."""

    server: DnsLabel = Field(
        "pgvector", description="The backed-up cluster's folder under destination (its server name)."
    )
    target_time: str | None = Field(
        None, pattern=RFC3339, description="Recover up to this time (RFC 3339); default: the end of the archive."
    )

    @field_validator("target_time")
    @classmethod
    def _real_time(cls, v: str | None) -> str | None:
        if v is not None:
            from datetime import datetime

            try:
                datetime.fromisoformat(v)
            except ValueError as e:
                raise ValueError(f"{v!r} is not a real date and time") from e
        return v


class PgvectorBackupSettings(_Model):
    """Backups of the prod profile's CloudNativePG cluster to an S3-compatible object store (Barman Cloud plugin):
    WAL archiving, scheduled base backups, retention. Environments without the operator (dev) are not backed up."""

    enabled: bool = False
    destination: str | None = Field(
        None, pattern=S3_URL, description="Where backups and WAL go: s3://bucket/path (one folder per cluster)."
    )
    endpoint_url: str | None = Field(
        None, pattern=HTTP_URL, description="The S3 API endpoint for MinIO and other S3-compatible stores."
    )
    credentials_secret: str | None = Field(
        None,
        pattern=DNS_LABEL,
        description="Secret in the apps namespace (created by you) with keys ACCESS_KEY_ID and ACCESS_SECRET_KEY.",
    )
    endpoint_ca_secret: str | None = Field(
        None,
        pattern=DNS_LABEL,
        description="Secret in the apps namespace with key ca.crt: the CA of an endpoint with a private certificate.",
    )
    schedule: str = Field("0 0 2 * * *", description="Base backups: CNPG's six-field cron, seconds first.")
    retention: str = Field("30d", pattern=RETENTION, description="How long backups and WAL are kept: 30d, 4w, 6m.")
    server_name: DnsLabel = Field(
        "pgvector", description="This cluster's folder under destination; a new one after a recovery."
    )
    recovery: PgvectorRecoverySettings | None = None

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        return check_cnpg_schedule(v)

    @model_validator(mode="after")
    def _complete(self) -> PgvectorBackupSettings:
        if self.enabled:
            missing = [k for k in ("destination", "credentials_secret") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"backups are enabled but {' and '.join(missing)} is not set")
        if self.recovery is not None:
            if not self.enabled:
                raise ValueError("recovery reads the object store: it needs enabled: true, destination and the Secret")
            if self.recovery.server == self.server_name:
                raise ValueError(
                    f"the recovered cluster would archive into the folder it recovers from ({self.server_name}): "
                    f"set server_name to a new one, e.g. {self.server_name}-2"
                )
        return self


class PgvectorSettings(_Model):
    enabled: bool = True
    database: str = Field("llmops", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    schema_name: str = Field("rag", alias="schema", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    storage: Quantity = "10Gi"
    backup: PgvectorBackupSettings = Field(default_factory=PgvectorBackupSettings)

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True, populate_by_name=True)


class SloSettings(_Model):
    ttft_p95_seconds: float = Field(2.0, gt=0)
    e2e_p95_seconds: float = Field(30.0, gt=0)
    gateway_5xx_ratio: float = Field(0.05, gt=0, le=1)


HTTP_URL = r"^https?://[^\s/]+(/\S*)?$"
EMAIL = r"^[^@\s]+@[^@\s]+$"
SECRET_KEY = r"^[-._a-zA-Z0-9]{1,253}$"  # noqa: S105 - the pattern of a Secret key name


class WebhookReceiver(_Model):
    url: str = Field(pattern=HTTP_URL, description="Where Alertmanager POSTs its webhook payload.")
    bearer_token_key: str | None = Field(
        None, pattern=SECRET_KEY, description="Key of alerting.secret holding a bearer token for the URL."
    )


class JiraReceiver(_Model):
    api_url: str = Field(pattern=HTTP_URL, description="Jira base URL, e.g. https://example.atlassian.net.")
    project: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,49}$", description="Project key issues are opened in.")
    issue_type: str = Field("Bug", min_length=1, max_length=64)
    username: str = Field(min_length=1, max_length=254, description="Jira user (Cloud: an e-mail address).")
    api_token_key: str = Field("jira-api-token", pattern=SECRET_KEY, description="Key of alerting.secret: API token.")
    priority: str | None = Field(None, max_length=64)
    labels: list[str] = Field(default_factory=lambda: ["llmops", "ai-incident"])


class EmailReceiver(_Model):
    to: str = Field(pattern=EMAIL)
    sender: str = Field(pattern=EMAIL, alias="from")
    smarthost: str = Field(pattern=r"^[A-Za-z0-9.-]+:[0-9]{1,5}$", description="SMTP host:port.")
    username: str | None = None
    password_key: str | None = Field(None, pattern=SECRET_KEY, description="Key of alerting.secret: SMTP password.")
    require_tls: bool = True

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True, populate_by_name=True)


class AlertingSettings(_Model):
    """Where Alertmanager (deployed by kube-prometheus-stack) sends llmops alerts: incidents (risk alerts, rollout
    aborts, overdue reviews) to every receiver given, platform warnings to the webhook and e-mail."""

    group_wait: Duration = "30s"
    group_interval: Duration = "5m"
    repeat_interval: Duration = "4h"
    secret: str = Field(
        "llmops-alertmanager",
        pattern=DNS_LABEL,
        description="Secret in the monitoring namespace holding receiver credentials (created by you; mounted "
        "into Alertmanager, never rendered).",
    )
    webhook: WebhookReceiver | None = Field(None, description="Incident automation (e.g. `govern incident open`).")
    github: WebhookReceiver | None = Field(None, description="A webhook bridge that opens GitHub issues.")
    jira: JiraReceiver | None = Field(None, description="Alertmanager's native Jira integration (>= 0.28).")
    email: EmailReceiver | None = None


class ObservabilitySettings(_Model):
    enabled: bool = True
    grafana: bool = True
    loki: bool = True
    retention: Duration | None = Field(
        None, description="How long Prometheus and Loki keep data; empty = the profile's (dev 7d, prod 30d)."
    )
    slo: SloSettings = Field(default_factory=SloSettings)
    alerting: AlertingSettings = Field(default_factory=AlertingSettings)


class RolloutsSettings(_Model):
    """Canary releases of vLLM and the Policy Gateway with Argo Rollouts, judged on the risk KPIs: a failing
    analysis aborts the rollout and the last compliant release keeps serving."""

    enabled: bool = True
    canary_weight: int = Field(50, ge=1, le=100, description="Share of gateway pods the canary gets first.")
    pause: GoDuration = Field("2m", description="Time the canary serves before it is judged (fills the window).")
    window: Duration = Field("5m", description="PromQL range the risk KPIs are rated over.")
    interval: GoDuration = Field("1m", description="Time between measurements.")
    count: int = Field(5, ge=1, le=100, description="Measurements per metric.")
    failure_limit: int = Field(0, ge=0, description="Failed measurements tolerated before the analysis fails.")
    min_requests: int = Field(
        20, ge=0, description="Requests the canary must have served in the window for its ratios to count."
    )


class StacksSettings(_Model):
    vllm: VllmSettings = Field(default_factory=VllmSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    pgvector: PgvectorSettings = Field(default_factory=PgvectorSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    rollouts: RolloutsSettings = Field(default_factory=RolloutsSettings)


# --------------------------------------------------------------------------------------------- governance
def _label_value(v: object) -> object:
    """A label or group value as text: YAML and env vars read `1`, `1.0` and `true` as numbers/booleans, but the
    field names a value as it appears in the data, so scalars are accepted and kept as text."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return v


LabelValueText = Annotated[str, BeforeValidator(_label_value)]


class GovernanceInputs(_Model):
    data: str | None = Field(None, description="Dataset (CSV, Parquet or JSONL).")
    label: str | None = None
    prediction: str | None = None
    score: str | None = None
    sensitive: list[str] = Field(default_factory=list)
    privileged: dict[str, LabelValueText] = Field(default_factory=dict, description="attribute -> privileged value")
    positive: LabelValueText | None = Field(None, description="Positive label value when labels are not 0/1.")
    label_map: dict[LabelValueText, LabelValueText] = Field(
        default_factory=dict,
        description="Raw label/prediction value -> the class it counts as (with `positive`), for data holding "
        "more than two values; values left unmapped beyond two are refused.",
    )
    model: str | None = Field(None, description="Model metadata YAML.")
    risk_register: str | None = None
    ai_act: str | None = Field(None, description="EU AI Act classification answers YAML.")
    data_card: str | None = Field(None, description="Dataset provenance YAML for the data card.")
    attributions: str | None = Field(None, description="Per-row SHAP/LIME attributions (CSV or Parquet).")
    model_file: str | None = Field(
        None, description="Trained model to explain: scikit-learn .pkl/.joblib (trusted files only) or .onnx."
    )
    features: list[str] = Field(default_factory=list, description="The model's input columns (default: all).")


class GovernanceWaiver(_Model):
    """An attribute, or one of its groups, left out of the bias gate on purpose (reported in the evidence)."""

    attribute: str = Field(min_length=1, description="Sensitive attribute (or pair, `a__b`).")
    group: str | None = Field(None, description="One group of it; none = the whole attribute.")
    reason: str = Field(min_length=1, description="Why it cannot be measured or need not be gated.")


class SigningSettings(_Model):
    """How `govern check` signs its evidence and whom `govern verify` trusts."""

    mode: Literal["auto", "key", "sigstore", "none"] = Field(
        "auto", description="auto: the key when one is set, else Sigstore where CI has an OIDC token, else unsigned."
    )
    key: str | None = Field(None, description="PEM private key (Ed25519 or ECDSA P-256) that signs bundles.")
    public_keys: list[str] = Field(default_factory=list, description="PEM public keys `govern verify` trusts.")
    identity: str | None = Field(None, description="Sigstore certificate identity `govern verify` trusts.")
    issuer: str | None = Field(None, description="Sigstore OIDC issuer of that identity.")


class LlmJudgeSettings(_Model):
    """Another model that decides what the rule judges cannot (recorded as such in the evidence)."""

    endpoint: str | None = Field(None, pattern=HTTP_URL, description="OpenAI-compatible base URL of the judge.")
    model: str | None = Field(None, description="The judge's model name.")
    kind: Literal["chat", "classify"] = Field("chat", description="chat: a rubric prompt; classify: vLLM /classify.")
    api_key_env: str | None = Field(None, pattern=ENV_NAME, description="Env var holding the judge's API key.")
    refusal_labels: list[str] = Field(
        default_factory=lambda: ["refusal"], description="classify: the labels that mean the answer refuses."
    )


class LlmGroundingSettings(_Model):
    dsn_env: str | None = Field(
        None, pattern=ENV_NAME, description="Env var holding a PostgreSQL URI with pgvector; grounding runs when set."
    )
    top_k: int = Field(2, ge=1, le=20, description="Passages retrieved per question.")


class LlmEvalSettings(_Model):
    """`govern llm-eval` and the llm_eval stage of `govern check`: the served model, probed."""

    endpoint: str | None = Field(
        None, pattern=HTTP_URL, description="OpenAI-compatible base URL (…/v1); the llm_eval stage runs when set."
    )
    model: str | None = Field(None, description="Model name sent with every request.")
    api_key_env: str | None = Field(None, pattern=ENV_NAME, description="Env var holding the endpoint's API key.")
    suites: list[str] = Field(default_factory=list, description="Suite YAML files; empty: llmops' default suite.")
    concurrency: int = Field(4, ge=1, le=256, description="Requests in flight at once.")
    timeout_s: float = Field(120.0, gt=0, le=3600, description="Seconds one request may take.")
    max_retries: int = Field(4, ge=0, le=20, description="Retries on 429/5xx and dropped connections.")
    max_tokens: int | None = Field(None, ge=1, le=32768, description="Overrides the suites' max_tokens.")
    judge: LlmJudgeSettings = Field(default_factory=LlmJudgeSettings)
    grounding: LlmGroundingSettings = Field(default_factory=LlmGroundingSettings)


class RiskThresholds(_Model):
    """Run-time risk KPIs a model release must stay within (alerts fire, canaries abort beyond them)."""

    max_redaction_ratio: float = Field(0.05, ge=0, description="PII redactions per request.")
    max_blocked_ratio: float = Field(0.02, ge=0, description="Blocked-pattern hits per request.")
    max_injection_ratio: float = Field(0.02, ge=0, description="Prompt-injection flags per request.")
    max_refusal_ratio: float = Field(0.05, ge=0, le=1, description="Requests refused by a content policy.")
    latency_slo_target: float = Field(
        0.95, gt=0, lt=1, description="Share of requests within slo.e2e_p95_seconds; the rest is the error budget."
    )
    max_burn_rate: float = Field(14.4, gt=0, description="Error-budget burn rate that pages (14.4: 2% in an hour).")
    max_evidence_age: Duration = Field("90d", description="Evidence older than this is stale.")
    max_risk_level: Literal["low", "medium", "high", "critical"] = Field(
        "high", description="Highest residual risk level a release may carry."
    )
    require_signed_evidence: bool = True


Severity = Literal["critical", "warning", "info"]


def _review_within() -> dict[Severity, str]:
    return {"critical": "2d", "warning": "10d", "info": "30d"}


class RuntimeGovernanceSettings(_Model):
    risk: RiskThresholds = Field(default_factory=RiskThresholds)
    review_within: dict[Severity, Duration] = Field(
        default_factory=lambda: _review_within(),
        description="Time to file an incident's post-incident review, by severity.",
    )
    incidents_dir: str = Field("incidents", description="Incident records (`llmops govern incident`).")
    releases_dir: str = Field("releases", description="Release records and promotion history (`govern release`).")


class GovernanceSettings(_Model):
    policies_dir: str = "policies"
    policy_file: str | None = Field(None, description="A policy file; overrides policies_dir/governance.yaml.")
    evidence_dir: str = "evidence"
    docs_dir: str = Field("governance", description="Human-authored lifecycle documents (`llmops govern init`).")
    min_group_size: int = Field(30, ge=1)
    inputs: GovernanceInputs = Field(default_factory=GovernanceInputs)
    waivers: list[GovernanceWaiver] = Field(
        default_factory=list, description="Bias attributes or groups that may stay unmeasured, each with a reason."
    )
    bootstrap: int = Field(
        0, ge=0, le=100_000, description="Deprecated, ignored: bias intervals are score intervals, always given."
    )
    seed: int = Field(0, ge=0, description="Deprecated, ignored (was the bootstrap's seed).")
    fail_on: Literal["error", "warning"] = Field("error", description="Lowest rule severity that fails a check.")
    signing: SigningSettings = Field(default_factory=SigningSettings)
    llm_eval: LlmEvalSettings = Field(default_factory=LlmEvalSettings)
    runtime: RuntimeGovernanceSettings = Field(default_factory=RuntimeGovernanceSettings)


# --------------------------------------------------------------------------------------------- root
class Settings(_Model):
    """llmops.yaml."""

    version: Literal[1] = Field(1, description="Schema version of this file.")
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    gpu: GpuSettings = Field(default_factory=GpuSettings)
    gitops: GitOpsSettings = Field(default_factory=GitOpsSettings)
    environments: dict[str, EnvironmentSettings] = Field(default_factory=_default_environments)
    stacks: StacksSettings = Field(default_factory=StacksSettings)
    governance: GovernanceSettings = Field(default_factory=GovernanceSettings)

    @field_validator("environments")
    @classmethod
    def _env_names(cls, v: dict[str, EnvironmentSettings]) -> dict[str, EnvironmentSettings]:
        if not v:
            raise ValueError("at least one environment is needed")
        for name in v:
            if not re.fullmatch(DNS_LABEL, name):
                raise ValueError(f"environment name {name!r} must be a DNS label (a-z, 0-9, '-')")
        return v

    @model_validator(mode="after")
    def _gpu_backend(self) -> Settings:
        if self.gpu.mode == "off" and self.stacks.vllm.backend == "gpu":
            raise ValueError("stacks.vllm.backend is 'gpu' but gpu.mode is 'off'; choose one")
        util, share = self.stacks.vllm.gpu_memory_utilization, self.gpu.share
        if util is not None and share > 1 and util * share > 1:
            # Time-slicing gives each of `share` pods the whole GPU with no memory isolation, and vLLM refuses to
            # start when less than its share is free (vllm v0.34.0 vllm/v1/worker/utils.py).
            raise ValueError(
                f"stacks.vllm.gpu_memory_utilization {util:g} leaves no room for the other {share - 1} pod(s) "
                f"that gpu.share: {share} lets onto the GPU: set it to at most {1 / share:.2f}, "
                "leave it empty, or set gpu.share: 1"
            )
        return self
