"""The gpu stack."""

from __future__ import annotations

from typing import Any

from llmops_cli import versions as versions_view
from llmops_cli.config.model import Settings
from llmops_cli.render import names
from llmops_cli.render.engine import render_objects
from llmops_cli.render.stacks.common import COMMON_SKIPS, WAVE_OPERATORS, Files, RenderContext, Res, add, app, res


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
        "resources": res(Res("50m", "64Mi", "500m", "256Mi", {"nvidia.com/gpu": 1})),
        "checkov_skips": {
            **COMMON_SKIPS,
            "checkov.io/skip3": "CKV2_K8S_6=a one-shot Job with no listening port; nothing to reach",
        },
    }
    (obj,) = render_objects("gpu/smoke-job.yaml.j2", job=job)
    return obj


def stack_gpu(ctx: RenderContext) -> Files:
    if not ctx.gpu:
        return {}
    gpu = ctx.settings.gpu
    values: dict[str, Any] = {
        "runtimeClassName": "nvidia",
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "nvidia.com/gpu.present", "operator": "In", "values": ["true"]}]}
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
    add(
        files,
        "apps",
        app(
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
        add(
            files,
            "apps",
            app(
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
    add(files, "gpu", [gpu_smoke_job_obj(ctx.settings)])
    return files
