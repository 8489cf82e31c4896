"""The vllm stack."""

from __future__ import annotations

import math
from typing import Any

from llmops_cli import versions as versions_view
from llmops_cli.render import names
from llmops_cli.render.engine import render_objects
from llmops_cli.render.stacks.common import COMMON_SKIPS, WAVE_APPS, Files, RenderContext, add, app, res, tree_path

IMAGES = {
    "gpu": versions_view.VLLM_IMAGE,
    "cpu": versions_view.VLLM_CPU_IMAGE,
    "simulator": versions_view.INFERENCE_SIM_IMAGE,
}


DEFAULT_GPU_MEMORY_UTILIZATION = 0.9


def gpu_memory_utilization(ctx: RenderContext) -> float:
    """The share of GPU memory vLLM reserves: the configured value, else 0.9 split over ``gpu.share``.

    Time-slicing hands each of ``gpu.share`` pods the whole GPU with no memory isolation (NVIDIA
    k8s-device-plugin, "Shared Access to GPUs"), and vLLM refuses to start when less than its share is free.
    Settings refuse an explicit value that leaves no room for the other pods.
    """
    configured = ctx.settings.stacks.vllm.gpu_memory_utilization
    if configured is not None:
        return configured
    share = ctx.settings.gpu.share
    return math.floor(DEFAULT_GPU_MEMORY_UTILIZATION / share * 100) / 100


def replicas(ctx: RenderContext) -> int:
    """The dev profile runs one. The prod profile runs one per GPU host the environment declares (``gpu: true``;
    each replica takes a GPU), at least one; the simulator and CPU backends run the profile's count."""
    if ctx.profile.name != "prod":
        return 1
    if ctx.backend == "gpu":
        return max(1, sum(1 for h in ctx.settings.environments[ctx.env].hosts if h.gpu))
    return ctx.profile.vllm_replicas


def _vllm_view(ctx: RenderContext) -> dict[str, Any]:
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
        # The simulator takes the model as a flag. Given a real Hugging Face id it tokenizes through a render
        # service (default http://localhost:8082, absent here) and fails every request; the dummy tokenizer
        # keeps it self-contained (llm-d-inference-sim v0.10.2 pkg/tokenizer/tokenizer.go).
        args = ["--model", v.model, *common, "--mode", "random", "--force-dummy-tokenizer"]
    else:
        # `vllm serve` takes the model as its first positional argument; v0.11.0 rejected `--model` there and
        # v0.34.0 still warns that the option will be removed (vllm/utils/argparse_utils.py).
        args = [v.model, *common]
        if backend == "gpu":
            args += ["--gpu-memory-utilization", str(gpu_memory_utilization(ctx))]
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
    count = replicas(ctx)
    cache: dict[str, Any] = {"persistentVolumeClaim": {"claimName": f"{svc}-cache"}}
    if count > 1:
        # A generic ephemeral volume: each pod its own claim on its own node, removed with the pod.
        claim = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": v.cache_size}}}
        cache = {"ephemeral": {"volumeClaimTemplate": {"metadata": {"labels": labels}, "spec": claim}}}
    volumes: list[dict[str, Any]] = [
        {"name": "cache", **cache},
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
        "replicas": count,
        "spread": count > 1,
        "cache_size": v.cache_size,
        # 10 s x 180 = 30 minutes to download and load a model before liveness applies.
        "startup_failure_threshold": 180 if backend != "simulator" else 30,
        "resources": res(ctx.profile.vllm[backend]),
        "volume_mounts": mounts,
        "volumes": volumes,
        "checkov_skips": dict(COMMON_SKIPS),
        "rollout": ctx.settings.stacks.rollouts.enabled,
    }


def stack_vllm(ctx: RenderContext) -> Files:
    if not ctx.settings.stacks.vllm.enabled:
        return {}
    view = _vllm_view(ctx)
    files: Files = {}
    add(files, "vllm", render_objects("vllm/deployment.yaml.j2", vllm=view))
    if view["spread"]:
        add(files, "vllm", render_objects("vllm/pdb.yaml.j2", vllm=view))
    if view["rollout"]:
        from llmops_cli.render.stacks.rollouts import VLLM_TEMPLATE, rollout, vllm_analysis_template

        add(
            files,
            "vllm",
            [
                rollout(
                    ctx,
                    name=view["svc"],
                    labels=view["labels"],
                    selector=view["selector"],
                    replicas=view["replicas"],
                    template=VLLM_TEMPLATE,
                    # The new model takes all of the traffic before it is judged (the gateway in front cannot
                    # tell two vLLM pods apart); on a GPU it replaces the stable pod.
                    weight=100,
                    gpu=view["gpu"],
                ),
                vllm_analysis_template(ctx, view["labels"]),
            ],
        )
    if ctx.settings.stacks.observability.enabled:
        add(files, "vllm", render_objects("vllm/servicemonitor.yaml.j2", vllm=view))
    add(files, "apps", app(ctx, "vllm", names.APPS_NAMESPACE, WAVE_APPS, path=tree_path(ctx, "vllm")))
    return files
