"""The gateway stack."""

from __future__ import annotations

import hashlib

from llmops_cli import versions as versions_view
from llmops_cli.config.model import Settings
from llmops_cli.render import names
from llmops_cli.render.engine import render_objects
from llmops_cli.render.stacks.common import COMMON_SKIPS, WAVE_APPS, Files, RenderContext, add, app, res, tree_path
from llmops_cli.render.stacks.injection_classifier import with_classifier

PLACEHOLDER_POLICY = "version: 1\n"


def gateway_policy_text(settings: Settings) -> str:
    """The gateway policy file shipped with llmops (policies/gateway.yaml), verbatim."""
    from llmops_cli.resources import policies_dir

    try:
        path = policies_dir() / "gateway.yaml"
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        return PLACEHOLDER_POLICY


def stack_gateway(ctx: RenderContext) -> Files:
    gs = ctx.settings.stacks.gateway
    if not gs.enabled:
        return {}
    policy = with_classifier(ctx, ctx.runtime.gateway_policy or gateway_policy_text(ctx.settings))
    selector = {"app.kubernetes.io/name": names.GATEWAY_NAME}
    hpa = ctx.profile.gateway_hpa
    replicas = gs.replicas or ctx.profile.gateway_replicas
    if hpa and gs.replicas:
        hpa = {**hpa, "min": gs.replicas, "max": max(hpa["max"], gs.replicas)}
    resources = res(ctx.profile.gateway)
    if gs.busy_poll_ms:
        # A polling worker keeps its core busy while traffic flows: it gets exactly one whole core (CPU and
        # memory requests equal to their limits, the Guaranteed class that the kubelet's static CPU manager
        # pins to a core), and no CPU-utilisation autoscaler, which would read the polling as load and scale
        # to its maximum. Under a CPU limit below one core, the polling would use up the quota and the
        # container would be throttled.
        memory = ctx.profile.gateway.limit_memory
        resources = {"cpu": "1", "memory": memory, "limits": {"cpu": "1", "memory": memory}}
        if hpa:
            replicas, hpa = hpa["min"], None
    # More than one gateway pod, each with its own buckets, would give a key its limit once per pod: then the
    # buckets live in one small Valkey that all pods share (see llmops_cli/gateway/sharedlimits.py).
    shared = gs.shared_rate_limits
    if shared is None:
        shared = hpa is not None or replicas > 1
    redis = None
    if shared:
        secret_dir = f"/var/run/secrets/{names.GATEWAY_REDIS_SECRET}"
        redis = {
            "name": names.GATEWAY_REDIS_NAME,
            "labels": ctx.app_labels(names.GATEWAY_REDIS_NAME, "gateway"),
            "selector": {"app.kubernetes.io/name": names.GATEWAY_REDIS_NAME},
            "uid": 10002,  # any non-root uid: the store writes only to its emptyDir
            "image": versions_view.VALKEY_IMAGE,
            "port": names.GATEWAY_REDIS_PORT,
            "url": f"redis://{names.GATEWAY_REDIS_NAME}.{names.APPS_NAMESPACE}.svc:{names.GATEWAY_REDIS_PORT}/0",
            "secret": names.GATEWAY_REDIS_SECRET,
            "secret_dir": secret_dir,
            "password_file": f"{secret_dir}/{names.GATEWAY_REDIS_SECRET_PASSWORD_KEY}",
            "conf_file": f"{secret_dir}/{names.GATEWAY_REDIS_SECRET_CONF_KEY}",
            # Buckets only (a few hundred bytes per active key, each expiring once full again): no persistence,
            # a small memory cap, and the soonest-to-expire bucket evicted first if it is ever reached.
            "maxmemory": "48mb",
            "resources": {"cpu": "50m", "memory": "64Mi", "limits": {"cpu": "500m", "memory": "96Mi"}},
        }
    labels = ctx.app_labels(names.GATEWAY_NAME, "gateway")
    gw = {
        "name": names.GATEWAY_NAME,
        "namespace": names.APPS_NAMESPACE,
        "labels": labels,
        "selector": selector,
        "uid": 10001,
        "image": versions_view.GATEWAY_LITELLM_IMAGE if gs.provider == "litellm" else versions_view.GATEWAY_IMAGE,
        "port": names.GATEWAY_PORT,
        "metrics_port": names.GATEWAY_METRICS_PORT,
        "audit_secret": names.GATEWAY_AUDIT_SECRET,
        "audit_key_dir": f"/var/run/secrets/{names.GATEWAY_AUDIT_SECRET}",
        "audit_key_file": f"/var/run/secrets/{names.GATEWAY_AUDIT_SECRET}/{names.GATEWAY_AUDIT_SECRET_KEY}",
        "audit_secret_key": names.GATEWAY_AUDIT_SECRET_KEY,
        "replicas": replicas,
        "upstream_url": names.vllm_url(ctx.settings.stacks.vllm.name),
        "provider": gs.provider,
        "policy_text": policy,
        "policy_sha": hashlib.sha256(policy.encode("utf-8")).hexdigest(),
        "resources": resources,
        "busy_poll_ms": f"{gs.busy_poll_ms:g}" if gs.busy_poll_ms else None,
        "pdb": ctx.profile.pdb,
        "hpa": hpa,
        "redis": redis,
        "checkov_skips": dict(COMMON_SKIPS),
        "rollout": ctx.settings.stacks.rollouts.enabled,
        "release_json": ctx.runtime.release_json,
        "release_sha": (
            hashlib.sha256(ctx.runtime.release_json.encode("utf-8")).hexdigest() if ctx.runtime.release_json else None
        ),
        "incidents_json": ctx.runtime.incidents.to_json(),
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
    add(files, "gateway", objs)
    if gw["rollout"]:
        from llmops_cli.render.stacks.rollouts import GATEWAY_TEMPLATE, gateway_analysis_template, rollout

        weight = ctx.settings.stacks.rollouts.canary_weight
        add(
            files,
            "gateway",
            [
                rollout(
                    ctx,
                    name=names.GATEWAY_NAME,
                    labels=labels,
                    selector=selector,
                    replicas=None if hpa else replicas,
                    template=GATEWAY_TEMPLATE,
                    weight=weight,
                ),
                gateway_analysis_template(ctx, labels),
            ],
        )
    if ctx.settings.stacks.observability.enabled:
        add(files, "gateway", render_objects("gateway/servicemonitor.yaml.j2", gw=gw))
    add(files, "apps", app(ctx, "gateway", names.APPS_NAMESPACE, WAVE_APPS, path=tree_path(ctx, "gateway")))
    return files
