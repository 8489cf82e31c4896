"""Shared by every stack: sync waves, checkov skips, sizing profiles, the render context, file helpers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops_cli.config.model import Settings
from llmops_cli.errors import UsageError
from llmops_cli.render import names
from llmops_cli.render.engine import render_objects
from llmops_cli.render.runtime import RuntimeDocs, load_runtime

STACKS: tuple[str, ...] = (
    "k3s", "gpu", "argocd", "rollouts", "vllm", "gateway", "injection-classifier", "pgvector", "observability",
    "ingress",
)  # fmt: skip

WAVE_CRDS = -2
WAVE_OPERATORS = -1
WAVE_DATA = 0
WAVE_APPS = 1

# checkov skips written on the object, each with its reason (`nox -s scan` must pass without others).
COMMON_SKIPS = {
    "checkov.io/skip1": "CKV_K8S_43=images are pinned by tag in llmops_cli/versions.py (one place to bump)",
    "checkov.io/skip2": "CKV_K8S_15=pinned tags never move; IfNotPresent lets a laptop restart pods offline",
}


# ------------------------------------------------------------------------------------------ profiles
@dataclass(frozen=True)
class Res:
    cpu: str
    memory: str
    limit_cpu: str
    limit_memory: str
    extra_limits: dict[str, Any] = field(default_factory=dict)

    @property
    def limits(self) -> dict[str, Any]:
        return {"cpu": self.limit_cpu, "memory": self.limit_memory, **self.extra_limits}


@dataclass(frozen=True)
class Profile:
    name: str
    gateway_replicas: int
    gateway: Res
    gateway_hpa: dict[str, int] | None
    pdb: bool
    vllm: dict[str, Res]  # per backend
    shm: str
    pgvector: Res
    exporter: Res
    git: Res
    prometheus_storage: str
    prometheus: Res
    loki_storage: str
    loki: Res
    argocd_replicas: int
    retention: str  # Prometheus and Loki, unless stacks.observability.retention says otherwise
    prometheus_retention_size: str | None  # Prometheus deletes the oldest blocks past this (below its volume)
    pg_operator: bool  # PostgreSQL through CloudNativePG instead of one StatefulSet
    pg_operator_res: Res
    vllm_replicas: int  # simulator/CPU replicas; on GPUs one per GPU host the environment declares


PROFILES: dict[str, Profile] = {
    "dev": Profile(
        name="dev",
        gateway_replicas=1,
        gateway=Res("100m", "128Mi", "500m", "256Mi"),
        gateway_hpa=None,
        pdb=False,
        vllm={
            "simulator": Res("50m", "64Mi", "500m", "256Mi"),
            "cpu": Res("2", "8Gi", "4", "12Gi"),
            "gpu": Res("2", "12Gi", "8", "24Gi", {"nvidia.com/gpu": 1}),
        },
        shm="1Gi",
        pgvector=Res("100m", "256Mi", "1", "1Gi"),
        exporter=Res("20m", "32Mi", "200m", "128Mi"),
        git=Res("20m", "32Mi", "500m", "256Mi"),
        prometheus_storage="5Gi",
        prometheus=Res("200m", "512Mi", "1", "2Gi"),
        loki_storage="5Gi",
        loki=Res("100m", "256Mi", "1", "1Gi"),
        argocd_replicas=1,
        retention="7d",
        prometheus_retention_size=None,
        pg_operator=False,
        pg_operator_res=Res("50m", "128Mi", "500m", "256Mi"),
        vllm_replicas=1,
    ),
    "prod": Profile(
        name="prod",
        gateway_replicas=2,
        gateway=Res("250m", "256Mi", "2", "1Gi"),
        gateway_hpa={"min": 2, "max": 6, "cpu": 70},
        pdb=True,
        vllm={
            "simulator": Res("100m", "128Mi", "1", "512Mi"),
            "cpu": Res("4", "16Gi", "8", "32Gi"),
            "gpu": Res("4", "32Gi", "16", "64Gi", {"nvidia.com/gpu": 1}),
        },
        shm="8Gi",
        pgvector=Res("500m", "1Gi", "2", "4Gi"),
        exporter=Res("50m", "64Mi", "500m", "256Mi"),
        git=Res("50m", "64Mi", "1", "512Mi"),
        # 30 days of metrics and logs: Prometheus takes about 1-2 bytes per sample (prometheus docs/storage.md),
        # which for this platform's few thousand series is well under its volume; retentionSize keeps the
        # newest data within the volume whatever the series count does (kube-prometheus-stack
        # prometheus.prometheusSpec.retentionSize; prometheus-operator ByteSize, e.g. "90GiB").
        prometheus_storage="100Gi",
        prometheus=Res("500m", "2Gi", "2", "8Gi"),
        loki_storage="100Gi",
        loki=Res("250m", "512Mi", "2", "4Gi"),
        argocd_replicas=2,
        retention="30d",
        prometheus_retention_size="90GiB",
        pg_operator=True,
        pg_operator_res=Res("100m", "256Mi", "1", "512Mi"),
        vllm_replicas=2,
    ),
}


# ------------------------------------------------------------------------------------------ context
@dataclass(frozen=True)
class RenderContext:
    settings: Settings
    env: str
    profile: Profile
    gpu: bool
    backend: str  # gpu | cpu | simulator
    repo_url: str
    runtime: RuntimeDocs = field(default_factory=RuntimeDocs)  # release record and incident index
    # chart name -> version of the charts that lie unpacked in the tree's Git repository (an airgap bundle's,
    # at charts/<name>/<version>): their Applications read them there instead of from the Helm repository.
    local_charts: Mapping[str, str] = field(default_factory=dict)

    @property
    def labels(self) -> dict[str, str]:
        return {
            "app.kubernetes.io/part-of": "llmops",
            "app.kubernetes.io/managed-by": "llmops",
            "llmops.dev/environment": self.env,
        }

    def app_labels(self, name: str, component: str) -> dict[str, str]:
        return {**self.labels, "app.kubernetes.io/name": name, "app.kubernetes.io/component": component}


def resolve_gpu(settings: Settings, env: str, gpu: bool | None) -> bool:
    """Whether the environment has a GPU. Render is pure (no host facts), so ``gpu.mode: auto`` means
    "no GPU" unless an environment host says ``gpu: true``; `up` passes what nvidia-smi found."""
    if gpu is not None:
        return gpu
    if settings.gpu.mode != "auto":
        return settings.gpu.mode == "on"
    return any(h.gpu for h in settings.environments[env].hosts)


def resolve_backend(settings: Settings, gpu: bool) -> str:
    """``backend: auto`` serves the model with vLLM on a GPU, else with the inference simulator."""
    backend = settings.stacks.vllm.backend
    if backend == "auto":
        return "gpu" if gpu else "simulator"
    return backend


def make_ctx(
    settings: Settings,
    env: str,
    *,
    gpu: bool | None = None,
    repo_url: str | None = None,
    project_dir: Path | None = None,
    release_json: str | None = None,
    local_charts: Mapping[str, str] | None = None,
) -> RenderContext:
    if env not in settings.environments:
        known = ", ".join(sorted(settings.environments))
        raise UsageError(f"unknown environment {env!r}", hint=f"known environments: {known}")
    has_gpu = resolve_gpu(settings, env, gpu)
    return RenderContext(
        settings=settings,
        env=env,
        profile=PROFILES[settings.environments[env].profile],
        gpu=has_gpu,
        backend=resolve_backend(settings, has_gpu),
        repo_url=repo_url or settings.gitops.repo_url or names.LOCAL_GIT_URL,
        runtime=load_runtime(settings, project_dir, release_json=release_json),
        local_charts=dict(local_charts or {}),
    )


# ------------------------------------------------------------------------------------------ files
Files = dict[str, Any]  # relative path -> object (dict) or text (str, a host file)


def _obj_path(folder: str, obj: dict[str, Any]) -> str:
    return f"{folder}/{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"


def add(files: Files, folder: str, objs: list[dict[str, Any]]) -> None:
    """Put each object in its own file of ``folder`` (``kind-name.yaml``); two in one file is an error."""
    for obj in objs:
        path = _obj_path(folder, obj)
        if path in files:
            raise UsageError(f"two rendered objects share the file {path}", hint="rename one of them")
        files[path] = obj


def res(r: Res) -> dict[str, Any]:
    """Resources in the shape our templates take."""
    return {"cpu": r.cpu, "memory": r.memory, "limits": r.limits}


def res_values(r: Res) -> dict[str, Any]:
    """Resources in the shape Helm charts take."""
    return {"requests": {"cpu": r.cpu, "memory": r.memory}, "limits": r.limits}


def app(
    ctx: RenderContext,
    name: str,
    namespace: str,
    wave: int,
    *,
    path: str | None = None,
    chart: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    server_side: bool = False,
    ignore_differences: list[dict[str, Any]] | None = None,
    cascade: bool = True,
) -> list[dict[str, Any]]:
    """The Argo CD Application of one component: a folder of the tree (``path``) or a Helm ``chart``."""
    sync = ["CreateNamespace=true"]
    if path is not None:
        # ServiceMonitor/PrometheusRule CRDs may still be arriving on a first sync.
        sync.append("SkipDryRunOnMissingResource=true")
    if server_side:
        sync.append("ServerSideApply=true")
    if chart is not None and ctx.local_charts.get(chart["name"]) == chart["version"]:
        chart = {**chart, "path": local_chart_path(chart["name"], chart["version"])}
    spec = {
        "name": name,
        "namespace": namespace,
        "wave": wave,
        "path": path,
        "chart": chart,
        "release": name,
        "helm_values": values or {},
        "sync_options": sync,
        "ignore_differences": ignore_differences or [],
        "cascade": cascade,
    }
    return render_objects(
        "argocd/application.yaml.j2",
        app=spec,
        argocd_namespace=names.ARGOCD_NAMESPACE,
        project=names.PROJECT,
        repo_url=ctx.repo_url,
        branch=env_branch(ctx.settings, ctx.env),
        labels=ctx.labels,
    )


def local_chart_path(name: str, version: str) -> str:
    """Where a bundled chart lies, unpacked, in the Git repository Argo CD reads (``BundledChart.repo_path``)."""
    return f"charts/{name}/{version}"


def env_branch(settings: Settings, env: str) -> str:
    """The branch Argo CD tracks for ``env``: its own (``environments.<env>.branch``), else ``gitops.branch``."""
    return settings.environments[env].branch or settings.gitops.branch


def tree_path(ctx: RenderContext, folder: str) -> str:
    """Path of an environment folder inside the Git repository Argo CD reads."""
    return f"{ctx.settings.gitops.path}/{ctx.env}/{folder}"
