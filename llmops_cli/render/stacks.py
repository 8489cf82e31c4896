"""Each stack turns Settings (plus the resolved GPU flag) into files of the GitOps tree.

Layout of ``manifests/<env>/`` (one object per file, ``<kind>-<name>.yaml``):

- ``k3s/``        host files for /etc/rancher/k3s (not Kubernetes objects; `up` writes them on the host)
- ``bootstrap/``  what `up` applies itself: namespaces, the Argo CD HelmChart, the in-cluster Git server
                  (local mode), the AppProject and the root Application
- ``apps/``       the root Application's path (app-of-apps): one Application per stack component
- ``vllm/`` ``gateway/`` ``pgvector/`` ``observability/``  our own workloads, synced by their Application
- ``gpu/``        the GPU smoke Job `up` runs (not synced)

Sync waves order CRDs → operators → data → apps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmops_cli import versions as versions_view
from llmops_cli.config.model import Settings
from llmops_cli.errors import UsageError
from llmops_cli.render import names
from llmops_cli.render.engine import render_objects, render_text

STACKS: tuple[str, ...] = ("k3s", "gpu", "argocd", "vllm", "gateway", "pgvector", "observability")

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
        prometheus_storage="50Gi",
        prometheus=Res("500m", "2Gi", "2", "8Gi"),
        loki_storage="50Gi",
        loki=Res("250m", "512Mi", "2", "4Gi"),
        argocd_replicas=2,
    ),
}


# ------------------------------------------------------------------------------------------ context
@dataclass(frozen=True)
class Ctx:
    settings: Settings
    env: str
    profile: Profile
    gpu: bool
    backend: str  # gpu | cpu | simulator
    repo_url: str

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


def make_ctx(settings: Settings, env: str, *, gpu: bool | None = None, repo_url: str | None = None) -> Ctx:
    if env not in settings.environments:
        known = ", ".join(sorted(settings.environments))
        raise UsageError(f"unknown environment {env!r}", hint=f"known environments: {known}")
    has_gpu = resolve_gpu(settings, env, gpu)
    return Ctx(
        settings=settings,
        env=env,
        profile=PROFILES[settings.environments[env].profile],
        gpu=has_gpu,
        backend=resolve_backend(settings, has_gpu),
        repo_url=repo_url or settings.gitops.repo_url or names.LOCAL_GIT_URL,
    )


# ------------------------------------------------------------------------------------------ files
Files = dict[str, Any]  # relative path -> object (dict) or text (str, a host file)


def _obj_path(folder: str, obj: dict[str, Any]) -> str:
    return f"{folder}/{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"


def _add(files: Files, folder: str, objs: list[dict[str, Any]]) -> None:
    for obj in objs:
        path = _obj_path(folder, obj)
        if path in files:
            raise UsageError(f"two rendered objects share the file {path}", hint="rename one of them")
        files[path] = obj


def _res(r: Res) -> dict[str, Any]:
    return {"cpu": r.cpu, "memory": r.memory, "limits": r.limits}


def _res_values(r: Res) -> dict[str, Any]:
    """Resources in the shape Helm charts take."""
    return {"requests": {"cpu": r.cpu, "memory": r.memory}, "limits": r.limits}


def _app(
    ctx: Ctx,
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
    sync = ["CreateNamespace=true"]
    if path is not None:
        # ServiceMonitor/PrometheusRule CRDs may still be arriving on a first sync.
        sync.append("SkipDryRunOnMissingResource=true")
    if server_side:
        sync.append("ServerSideApply=true")
    app = {
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
        app=app,
        argocd_namespace=names.ARGOCD_NAMESPACE,
        project=names.PROJECT,
        repo_url=ctx.repo_url,
        branch=ctx.settings.gitops.branch,
        labels=ctx.labels,
    )


def tree_path(ctx: Ctx, folder: str) -> str:
    """Path of an environment folder inside the Git repository Argo CD reads."""
    return f"{ctx.settings.gitops.path}/{ctx.env}/{folder}"


# ------------------------------------------------------------------------------------------ k3s
def k3s_config_text(settings: Settings, *, gpu: bool, node_ip: str | None) -> str:
    cluster = settings.cluster
    labels = dict(cluster.node_labels)
    if gpu:
        # The device plugin's node affinity selects nodes with this label.
        labels["nvidia.com/gpu.present"] = "true"
    return render_text(
        "k3s/config.yaml.j2",
        k3s={
            "tls_san": list(cluster.tls_san),
            "node_ip": node_ip or cluster.node_ip,
            "node_labels": [f"{k}={v}" for k, v in sorted(labels.items())],
            "disable": list(cluster.disable),
            "gpu": gpu,
        },
    )


def k3s_registries_text(settings: Settings) -> str | None:
    if not settings.cluster.registry_mirror:
        return None
    return render_text("k3s/registries.yaml.j2", k3s={"registry_mirror": settings.cluster.registry_mirror})


def stack_k3s(ctx: Ctx) -> Files:
    files: Files = {"k3s/50-llmops.yaml": k3s_config_text(ctx.settings, gpu=ctx.gpu, node_ip=None)}
    reg = k3s_registries_text(ctx.settings)
    if reg is not None:
        files["k3s/registries.yaml"] = reg
    return files


# ------------------------------------------------------------------------------------------ gpu
def time_slicing_config(share: int) -> str:
    from llmops_cli.render.yamlio import dump

    return dump(
        {
            "version": "v1",
            "sharing": {"timeSlicing": {"resources": [{"name": "nvidia.com/gpu", "replicas": share}]}},
        }
    )


def gpu_smoke_job_obj(settings: Settings, namespace: str = names.APPS_NAMESPACE) -> dict[str, Any]:
    labels = {
        "app.kubernetes.io/part-of": "llmops",
        "app.kubernetes.io/managed-by": "llmops",
        "app.kubernetes.io/name": names.GPU_SMOKE_JOB,
    }
    job = {
        "name": names.GPU_SMOKE_JOB,
        "namespace": namespace,
        "labels": labels,
        "uid": 10001,
        "image": versions_view.CUDA_SMOKE_IMAGE,
        "resources": _res(Res("50m", "64Mi", "500m", "256Mi", {"nvidia.com/gpu": 1})),
        "checkov_skips": {
            **COMMON_SKIPS,
            "checkov.io/skip3": "CKV2_K8S_6=a one-shot Job with no listening port; nothing to reach",
        },
    }
    (obj,) = render_objects("gpu/smoke-job.yaml.j2", job=job)
    return obj


def stack_gpu(ctx: Ctx) -> Files:
    if not ctx.gpu:
        return {}
    gpu = ctx.settings.gpu
    values: dict[str, Any] = {
        "runtimeClassName": "nvidia",
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "nvidia.com/gpu.present", "operator": "In", "values": ["true"]}
                            ]
                        }
                    ]
                }
            }
        },
        "gfd": {"enabled": False},
        "nfd": {"enabled": False},
    }
    if gpu.share > 1:
        values["config"] = {"map": {"default": time_slicing_config(gpu.share)}, "default": "default"}
    files: Files = {}
    _add(
        files,
        "apps",
        _app(
            ctx,
            "nvidia-device-plugin",
            names.GPU_NAMESPACE,
            WAVE_OPERATORS,
            chart={
                "repo": versions_view.NVIDIA_DEVICE_PLUGIN_CHART_REPO,
                "name": "nvidia-device-plugin",
                "version": versions_view.NVIDIA_DEVICE_PLUGIN_VERSION,
            },
            values=values,
        ),
    )
    if gpu.dcgm_exporter:
        _add(
            files,
            "apps",
            _app(
                ctx,
                "dcgm-exporter",
                names.GPU_NAMESPACE,
                WAVE_OPERATORS,
                chart={
                    "repo": versions_view.DCGM_EXPORTER_CHART_REPO,
                    "name": "dcgm-exporter",
                    "version": versions_view.DCGM_EXPORTER_VERSION,
                },
                values={
                    "runtimeClassName": "nvidia",
                    "nodeSelector": {"nvidia.com/gpu.present": "true"},
                    "serviceMonitor": {"enabled": ctx.settings.stacks.observability.enabled},
                },
            ),
        )
    _add(files, "gpu", [gpu_smoke_job_obj(ctx.settings)])
    return files


# ------------------------------------------------------------------------------------------ argocd
APPLICATION_HEALTH_LUA = """hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil and obj.status.health ~= nil then
  hs.status = obj.status.health.status
  if obj.status.health.message ~= nil then
    hs.message = obj.status.health.message
  end
end
return hs
"""


def argocd_values(ctx: Ctx) -> dict[str, Any]:
    replicas = ctx.profile.argocd_replicas
    return {
        "global": {"logging": {"format": "json"}},
        "configs": {
            "params": {"server.insecure": True},
            "cm": {
                "application.resourceTrackingMethod": "annotation",
                "admin.enabled": True,
                # Argo CD >= 1.8 no longer assesses child Applications' health, so sync waves in an
                # app-of-apps would not wait for CRDs/operators to be ready. This restores it (Argo CD docs,
                # "Sync Phases and Waves" / app-of-apps health).
                "resource.customizations.health.argoproj.io_Application": APPLICATION_HEALTH_LUA,
            },
        },
        "dex": {"enabled": False},
        "notifications": {"enabled": False},
        "controller": {"replicas": 1},
        "server": {"replicas": replicas},
        "repoServer": {"replicas": replicas},
        "applicationSet": {"replicas": 1},
    }


def _argocd_chart() -> dict[str, str]:
    return {
        "repo": versions_view.ARGOCD_CHART_REPO,
        "name": "argo-cd",
        "version": versions_view.ARGOCD_CHART_VERSION,
    }


def _namespaces(ctx: Ctx) -> list[dict[str, Any]]:
    psa = {
        names.ARGOCD_NAMESPACE: "baseline",
        names.SYSTEM_NAMESPACE: "restricted",
        names.APPS_NAMESPACE: "restricted",
        names.MONITORING_NAMESPACE: "privileged",  # node-exporter needs host namespaces
        names.GPU_NAMESPACE: "privileged",  # the device plugin talks to the kubelet socket
    }
    wanted = [names.ARGOCD_NAMESPACE, names.APPS_NAMESPACE]
    if ctx.settings.gitops.local:
        wanted.append(names.SYSTEM_NAMESPACE)
    if ctx.settings.stacks.observability.enabled:
        wanted.append(names.MONITORING_NAMESPACE)
    if ctx.gpu:
        wanted.append(names.GPU_NAMESPACE)
    nss = [
        {"name": ns, "labels": {**ctx.labels, "pod-security.kubernetes.io/enforce": psa[ns]}} for ns in wanted
    ]
    return render_objects("argocd/namespaces.yaml.j2", namespaces=nss)


def _destinations(ctx: Ctx) -> list[str]:
    dest = [
        names.ARGOCD_NAMESPACE,
        names.APPS_NAMESPACE,
        names.SYSTEM_NAMESPACE,
        names.MONITORING_NAMESPACE,
        names.GPU_NAMESPACE,
        "kube-system",
    ]
    return sorted(dest)


CLUSTER_RESOURCES: list[tuple[str, str]] = [
    ("", "Namespace"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("node.k8s.io", "RuntimeClass"),
]


def _chart_repos(ctx: Ctx) -> list[str]:
    repos = {versions_view.ARGOCD_CHART_REPO}
    if ctx.gpu:
        repos.add(versions_view.NVIDIA_DEVICE_PLUGIN_CHART_REPO)
        if ctx.settings.gpu.dcgm_exporter:
            repos.add(versions_view.DCGM_EXPORTER_CHART_REPO)
    if ctx.settings.stacks.observability.enabled:
        repos.add(versions_view.PROMETHEUS_COMMUNITY_REPO)
        repos.add(versions_view.GRAFANA_REPO)
    return sorted(repos)


def git_server_objects(ctx: Ctx) -> list[dict[str, Any]]:
    labels = ctx.app_labels(names.GIT_SERVER_NAME, "gitops")
    git = {
        "name": names.GIT_SERVER_NAME,
        "namespace": names.SYSTEM_NAMESPACE,
        "argocd_namespace": names.ARGOCD_NAMESPACE,
        "labels": labels,
        "selector": {"app.kubernetes.io/name": names.GIT_SERVER_NAME},
        "uid": 10001,
        "image": versions_view.SOFT_SERVE_IMAGE,
        "http_port": names.GIT_SERVER_HTTP_PORT,
        "port": names.GIT_SERVER_PORT,
        "public_url": f"http://{names.GIT_SERVER_NAME}.{names.SYSTEM_NAMESPACE}.svc:{names.GIT_SERVER_PORT}",
        "resources": _res(ctx.profile.git),
        "checkov_skips": dict(COMMON_SKIPS),
    }
    return render_objects("argocd/git-server.yaml.j2", git=git)


def bootstrap_list(ctx: Ctx) -> list[dict[str, Any]]:
    """What `up` applies, in order: namespaces, Argo CD (HelmChart), Git server, AppProject, root app."""
    from llmops_cli.render.yamlio import dump

    objs = _namespaces(ctx)
    objs += render_objects(
        "argocd/helmchart.yaml.j2",
        release=names.ARGOCD_RELEASE,
        namespace=names.ARGOCD_NAMESPACE,
        chart=_argocd_chart(),
        values_text=dump(argocd_values(ctx)),
        labels=ctx.labels,
    )
    if ctx.settings.gitops.local:
        objs += git_server_objects(ctx)
    objs += render_objects(
        "argocd/appproject.yaml.j2",
        project=names.PROJECT,
        namespace=names.ARGOCD_NAMESPACE,
        labels=ctx.labels,
        source_repos=sorted({ctx.repo_url, *_chart_repos(ctx)}),
        destinations=_destinations(ctx),
        cluster_resources=CLUSTER_RESOURCES,
    )
    root = _app(
        ctx, names.root_app_name(ctx.env), names.ARGOCD_NAMESPACE, WAVE_CRDS, path=tree_path(ctx, "apps")
    )
    objs += root
    return objs


def stack_argocd(ctx: Ctx) -> Files:
    files: Files = {}
    _add(files, "bootstrap", bootstrap_list(ctx))
    _add(
        files,
        "apps",
        _app(
            ctx,
            names.ARGOCD_RELEASE,
            names.ARGOCD_NAMESPACE,
            WAVE_OPERATORS,
            chart=_argocd_chart(),
            values=argocd_values(ctx),
            server_side=True,
            # Never cascade: deleting this Application must not uninstall Argo CD itself.
            cascade=False,
        ),
    )
    return files


# ------------------------------------------------------------------------------------------ vllm
IMAGES = {
    "gpu": versions_view.VLLM_IMAGE,
    "cpu": versions_view.VLLM_CPU_IMAGE,
    "simulator": versions_view.INFERENCE_SIM_IMAGE,
}


def _vllm_view(ctx: Ctx) -> dict[str, Any]:
    v = ctx.settings.stacks.vllm
    served = v.name
    svc = names.vllm_service_name(served)
    backend = ctx.backend
    selector = {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": svc}
    labels = {
        **ctx.app_labels("vllm", "inference"),
        "app.kubernetes.io/instance": svc,
        "llmops.dev/served-model-name": served,
        "llmops.dev/backend": backend,
    }
    common = [
        "--port",
        str(names.VLLM_PORT),
        "--served-model-name",
        served,
        "--max-model-len",
        str(v.max_model_len),
        "--max-num-seqs",
        str(v.max_num_seqs),
    ]
    # /tmp is the pod's own emptyDir (the root filesystem is read-only).
    env: list[dict[str, Any]] = [{"name": "HOME", "value": "/tmp"}]  # noqa: S108
    command: list[str] | None = None
    if backend == "simulator":
        args = ["--model", v.model, *common, "--mode", "random"]
    else:
        args = ["--model", v.model, *common]
        if backend == "gpu":
            args += ["--gpu-memory-utilization", f"{v.gpu_memory_utilization:g}"]
        args += list(v.extra_args)
        env += [
            {"name": "HF_HOME", "value": "/models-cache/huggingface"},
            {"name": "VLLM_CACHE_ROOT", "value": "/models-cache/vllm"},
            {"name": "XDG_CACHE_HOME", "value": "/models-cache/xdg"},
            {"name": "VLLM_NO_USAGE_STATS", "value": "1"},
        ]
        if backend == "cpu":
            env.append({"name": "VLLM_CPU_KVCACHE_SPACE", "value": "4"})
        # The images' entrypoint is the OpenAI server; set it explicitly so args are the whole story.
        command = ["vllm", "serve"]
    mounts: list[dict[str, Any]] = [
        {"name": "cache", "mountPath": "/models-cache"},
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir in the container
        {"name": "dshm", "mountPath": "/dev/shm"},  # noqa: S108 - PyTorch IPC needs a large /dev/shm
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "cache", "persistentVolumeClaim": {"claimName": f"{svc}-cache"}},
        {"name": "tmp", "emptyDir": {}},
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": ctx.profile.shm}},
    ]
    if v.hf_token_secret and backend != "simulator":
        env.append({"name": "HF_TOKEN_PATH", "value": f"/var/run/secrets/huggingface/{names.HF_TOKEN_KEY}"})
        mounts.append({"name": "hf-token", "mountPath": "/var/run/secrets/huggingface", "readOnly": True})
        volumes.append({"name": "hf-token", "secret": {"secretName": v.hf_token_secret}})
    return {
        "svc": svc,
        "namespace": names.APPS_NAMESPACE,
        "labels": labels,
        "selector": selector,
        "uid": 10001,
        "gpu": backend == "gpu",
        "image": IMAGES[backend],
        "command": command,
        "args": args,
        "env": env,
        "port": names.VLLM_PORT,
        "replicas": 1,
        "cache_size": v.cache_size,
        # 10 s x 180 = 30 minutes to download and load a model before liveness applies.
        "startup_failure_threshold": 180 if backend != "simulator" else 30,
        "resources": _res(ctx.profile.vllm[backend]),
        "volume_mounts": mounts,
        "volumes": volumes,
        "checkov_skips": dict(COMMON_SKIPS),
    }


def stack_vllm(ctx: Ctx) -> Files:
    if not ctx.settings.stacks.vllm.enabled:
        return {}
    view = _vllm_view(ctx)
    files: Files = {}
    _add(files, "vllm", render_objects("vllm/deployment.yaml.j2", vllm=view))
    if ctx.settings.stacks.observability.enabled:
        _add(files, "vllm", render_objects("vllm/servicemonitor.yaml.j2", vllm=view))
    _add(files, "apps", _app(ctx, "vllm", names.APPS_NAMESPACE, WAVE_APPS, path=tree_path(ctx, "vllm")))
    return files


# ------------------------------------------------------------------------------------------ gateway
PLACEHOLDER_POLICY = "version: 1\n"


def gateway_policy_text(settings: Settings) -> str:
    """The gateway policy file shipped with llmops (policies/gateway.yaml), verbatim."""
    from llmops_cli.resources import policies_dir

    try:
        path = policies_dir() / "gateway.yaml"
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        return PLACEHOLDER_POLICY


def stack_gateway(ctx: Ctx) -> Files:
    gs = ctx.settings.stacks.gateway
    if not gs.enabled:
        return {}
    policy = gateway_policy_text(ctx.settings)
    selector = {"app.kubernetes.io/name": names.GATEWAY_NAME}
    hpa = ctx.profile.gateway_hpa
    replicas = gs.replicas or ctx.profile.gateway_replicas
    if hpa and gs.replicas:
        hpa = {**hpa, "min": gs.replicas, "max": max(hpa["max"], gs.replicas)}
    gw = {
        "name": names.GATEWAY_NAME,
        "namespace": names.APPS_NAMESPACE,
        "labels": ctx.app_labels(names.GATEWAY_NAME, "gateway"),
        "selector": selector,
        "uid": 10001,
        "image": versions_view.GATEWAY_IMAGE,
        "port": names.GATEWAY_PORT,
        "replicas": replicas,
        "upstream_url": names.vllm_url(ctx.settings.stacks.vllm.name),
        "provider": gs.provider,
        "policy_text": policy,
        "policy_sha": hashlib.sha256(policy.encode("utf-8")).hexdigest(),
        "resources": _res(ctx.profile.gateway),
        "pdb": ctx.profile.pdb,
        "hpa": hpa,
        "checkov_skips": dict(COMMON_SKIPS),
    }
    files: Files = {}
    objs = render_objects(
        "gateway/gateway.yaml.j2",
        gw=gw,
        vllm={
            "svc": names.vllm_service_name(ctx.settings.stacks.vllm.name),
            "namespace": names.APPS_NAMESPACE,
            "port": names.VLLM_PORT,
            "selector": {
                "app.kubernetes.io/name": "vllm",
                "app.kubernetes.io/instance": names.vllm_service_name(ctx.settings.stacks.vllm.name),
            },
        },
        monitoring_namespace=names.MONITORING_NAMESPACE,
    )
    if not ctx.settings.stacks.vllm.enabled:
        objs = [o for o in objs if o["kind"] != "NetworkPolicy"]
    _add(files, "gateway", objs)
    if ctx.settings.stacks.observability.enabled:
        _add(files, "gateway", render_objects("gateway/servicemonitor.yaml.j2", gw=gw))
    _add(files, "apps", _app(ctx, "gateway", names.APPS_NAMESPACE, WAVE_APPS, path=tree_path(ctx, "gateway")))
    return files


# ------------------------------------------------------------------------------------------ pgvector
def init_sql(database: str, schema: str) -> str:
    # Both names are validated identifiers (config model); quoted anyway.
    return (
        f"-- generated by llmops: runs once, when the data directory is created\n"
        f'\\connect "{database}"\n'
        "CREATE EXTENSION IF NOT EXISTS vector;\n"
        f'CREATE SCHEMA IF NOT EXISTS "{schema}";\n'
    )


def stack_pgvector(ctx: Ctx) -> Files:
    ps = ctx.settings.stacks.pgvector
    if not ps.enabled:
        return {}
    pg = {
        "name": names.PGVECTOR_NAME,
        "namespace": names.APPS_NAMESPACE,
        "labels": ctx.app_labels(names.PGVECTOR_NAME, "database"),
        "selector": {"app.kubernetes.io/name": names.PGVECTOR_NAME},
        "uid": 10001,
        "image": versions_view.PGVECTOR_IMAGE,
        "exporter_image": versions_view.POSTGRES_EXPORTER_IMAGE,
        "database": ps.database,
        "init_sql": init_sql(ps.database, ps.schema_name),
        "secret": names.PGVECTOR_SECRET,
        "user_key": names.PGVECTOR_SECRET_USER_KEY,
        "password_key": names.PGVECTOR_SECRET_PASSWORD_KEY,
        "port": names.PGVECTOR_PORT,
        "storage": ps.storage,
        "resources": _res(ctx.profile.pgvector),
        "exporter_resources": _res(ctx.profile.exporter),
        "checkov_skips": dict(COMMON_SKIPS),
    }
    files: Files = {}
    _add(
        files,
        "pgvector",
        render_objects("pgvector/pgvector.yaml.j2", pg=pg, monitoring_namespace=names.MONITORING_NAMESPACE),
    )
    if ctx.settings.stacks.observability.enabled:
        _add(files, "pgvector", render_objects("pgvector/servicemonitor.yaml.j2", pg=pg))
    _add(
        files, "apps", _app(ctx, "pgvector", names.APPS_NAMESPACE, WAVE_DATA, path=tree_path(ctx, "pgvector"))
    )
    return files


# ------------------------------------------------------------------------------------------ observability
PROMETHEUS_URL = f"http://kube-prometheus-stack-prometheus.{names.MONITORING_NAMESPACE}.svc:9090"
LOKI_URL = f"http://loki.{names.MONITORING_NAMESPACE}.svc:3100"


def kube_prometheus_values(ctx: Ctx) -> dict[str, Any]:
    obs = ctx.settings.stacks.observability
    p = ctx.profile
    return {
        "fullnameOverride": "kube-prometheus-stack",
        "crds": {"enabled": False},  # installed by the prometheus-operator-crds Application (wave CRDs)
        # k3s runs these inside the k3s process: nothing to scrape separately.
        "kubeEtcd": {"enabled": False},
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "prometheus": {
            "prometheusSpec": {
                "retention": obs.retention,
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "ruleSelectorNilUsesHelmValues": False,
                "resources": _res_values(p.prometheus),
                "storageSpec": {
                    "volumeClaimTemplate": {
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": p.prometheus_storage}},
                        }
                    }
                },
            }
        },
        "grafana": {
            "enabled": obs.grafana,
            "admin": {
                "existingSecret": names.GRAFANA_ADMIN_SECRET,
                "userKey": names.GRAFANA_SECRET_USER_KEY,
                "passwordKey": names.GRAFANA_SECRET_PASSWORD_KEY,
            },
            "sidecar": {
                "dashboards": {
                    "enabled": True,
                    "label": "grafana_dashboard",
                    "labelValue": "1",
                    "searchNamespace": "ALL",
                },
                "datasources": {
                    "enabled": True,
                    "label": "grafana_datasource",
                    "labelValue": "1",
                    "defaultDatasourceEnabled": False,
                },
            },
        },
    }


def loki_values(ctx: Ctx) -> dict[str, Any]:
    obs = ctx.settings.stacks.observability
    p = ctx.profile
    return {
        "deploymentMode": "SingleBinary",
        "loki": {
            "auth_enabled": False,
            "commonConfig": {"replication_factor": 1},
            "storage": {"type": "filesystem"},
            "schemaConfig": {
                "configs": [
                    {
                        "from": "2024-04-01",
                        "store": "tsdb",
                        "object_store": "filesystem",
                        "schema": "v13",
                        "index": {"prefix": "loki_index_", "period": "24h"},
                    }
                ]
            },
            "limits_config": {"retention_period": obs.retention},
            "compactor": {"retention_enabled": True, "delete_request_store": "filesystem"},
        },
        "singleBinary": {
            "replicas": 1,
            "persistence": {"size": p.loki_storage},
            "resources": _res_values(p.loki),
        },
        "backend": {"replicas": 0},
        "read": {"replicas": 0},
        "write": {"replicas": 0},
        "gateway": {"enabled": False},
        "chunksCache": {"enabled": False},
        "resultsCache": {"enabled": False},
        "lokiCanary": {"enabled": False},
        "test": {"enabled": False},
        "minio": {"enabled": False},
    }


def alloy_values(ctx: Ctx) -> dict[str, Any]:
    from llmops_cli.resources import templates_dir

    river = (templates_dir() / "observability" / "alloy.river").read_text(encoding="utf-8")
    river = river.replace("LOKI_PUSH_URL", f"{LOKI_URL}/loki/api/v1/push")
    return {
        "controller": {"type": "daemonset"},
        "alloy": {"configMap": {"create": True, "content": river}, "mounts": {"varlog": False}},
    }


def datasources_text(ctx: Ctx) -> str:
    from llmops_cli.render.yamlio import dump

    sources: list[dict[str, Any]] = [
        {
            "name": "Prometheus",
            "uid": "prometheus",
            "type": "prometheus",
            "access": "proxy",
            "url": PROMETHEUS_URL,
            "isDefault": True,
        },
    ]
    if ctx.settings.stacks.observability.loki:
        sources.append({"name": "Loki", "uid": "loki", "type": "loki", "access": "proxy", "url": LOKI_URL})
    return dump({"apiVersion": 1, "datasources": sources})


def stack_observability(ctx: Ctx) -> Files:
    from llmops_cli.render.alerts import rule_groups
    from llmops_cli.render.dashboards import dashboards

    obs = ctx.settings.stacks.observability
    if not obs.enabled:
        return {}
    ns = names.MONITORING_NAMESPACE
    files: Files = {}
    pc = versions_view.PROMETHEUS_COMMUNITY_REPO
    _add(
        files,
        "apps",
        _app(
            ctx,
            "prometheus-operator-crds",
            ns,
            WAVE_CRDS,
            chart={
                "repo": pc,
                "name": "prometheus-operator-crds",
                "version": versions_view.PROMETHEUS_OPERATOR_CRDS_VERSION,
            },
            server_side=True,
        ),
    )
    _add(
        files,
        "apps",
        _app(
            ctx,
            "kube-prometheus-stack",
            ns,
            WAVE_OPERATORS,
            chart={
                "repo": pc,
                "name": "kube-prometheus-stack",
                "version": versions_view.KUBE_PROMETHEUS_STACK_VERSION,
            },
            values=kube_prometheus_values(ctx),
            server_side=True,
        ),
    )
    if obs.loki:
        _add(
            files,
            "apps",
            _app(
                ctx,
                "loki",
                ns,
                WAVE_OPERATORS,
                chart={
                    "repo": versions_view.GRAFANA_REPO,
                    "name": "loki",
                    "version": versions_view.LOKI_VERSION,
                },
                values=loki_values(ctx),
            ),
        )
        _add(
            files,
            "apps",
            _app(
                ctx,
                "alloy",
                ns,
                WAVE_OPERATORS,
                chart={
                    "repo": versions_view.GRAFANA_REPO,
                    "name": "alloy",
                    "version": versions_view.ALLOY_VERSION,
                },
                values=alloy_values(ctx),
            ),
        )
    labels = ctx.app_labels("llmops-observability", "observability")
    if obs.grafana:
        _add(
            files,
            "observability",
            render_objects(
                "observability/datasources.yaml.j2",
                namespace=ns,
                labels=labels,
                datasources_text=datasources_text(ctx),
            ),
        )
        for d in dashboards(ctx.settings, gpu=ctx.gpu):
            _add(
                files,
                "observability",
                render_objects("observability/dashboard.yaml.j2", namespace=ns, labels=labels, dashboard=d),
            )
    groups = rule_groups(ctx.settings, gpu=ctx.gpu)
    for g in groups:
        _add(
            files,
            "observability",
            render_objects(
                "observability/prometheusrule.yaml.j2",
                namespace=ns,
                labels=labels,
                rule={"name": g["name"], "groups": [g]},
            ),
        )
    _add(files, "apps", _app(ctx, "observability", ns, WAVE_APPS, path=tree_path(ctx, "observability")))
    return files


STACK_RENDERERS: dict[str, Callable[[Ctx], Files]] = {
    "k3s": stack_k3s,
    "gpu": stack_gpu,
    "argocd": stack_argocd,
    "vllm": stack_vllm,
    "gateway": stack_gateway,
    "pgvector": stack_pgvector,
    "observability": stack_observability,
}
