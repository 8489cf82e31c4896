"""The k3s stack."""

from __future__ import annotations

from llmops_cli.config.model import Settings
from llmops_cli.render.engine import render_text
from llmops_cli.render.stacks.common import Files, RenderContext


def k3s_config_text(
    settings: Settings,
    *,
    gpu: bool,
    node_ip: str | None,
    role: str = "server",
    server_url: str | None = None,
    token_file: str | None = None,
    cluster_init: bool = False,
    tls_san: list[str] | None = None,
    disable: list[str] | None = None,
) -> str:
    """The drop-in of one node. A server (``role``) carries the cluster settings; ``cluster_init`` starts an
    embedded etcd that further servers join (HA); a joining node (``server_url``) names the first server and reads
    the token from ``token_file``. An agent gets only node settings: server flags belong to servers."""
    cluster = settings.cluster
    labels = dict(cluster.node_labels)
    if gpu:
        # The device plugin's node affinity selects nodes with this label.
        labels["nvidia.com/gpu.present"] = "true"
    return render_text(
        "k3s/config.yaml.j2",
        k3s={
            "server": role == "server",
            "cluster_init": cluster_init,
            "server_url": server_url,
            "token_file": token_file,
            "tls_san": list(cluster.tls_san) + [s for s in (tls_san or []) if s not in cluster.tls_san],
            "node_ip": node_ip or cluster.node_ip,
            "node_labels": [f"{k}={v}" for k, v in sorted(labels.items())],
            "disable": list(cluster.disable) if disable is None else list(disable),
        },
    )


def k3s_registries_text(settings: Settings) -> str | None:
    if not settings.cluster.registry_mirror:
        return None
    return render_text("k3s/registries.yaml.j2", k3s={"registry_mirror": settings.cluster.registry_mirror})


def stack_k3s(ctx: RenderContext) -> Files:
    # An environment of hosts: the first server's drop-in (the joining nodes' are made per host by `promote`).
    servers = [h for h in ctx.settings.environments[ctx.env].hosts if h.role == "server"]
    text = k3s_config_text(ctx.settings, gpu=ctx.gpu, node_ip=None, cluster_init=len(servers) > 1)
    files: Files = {"k3s/50-llmops.yaml": text}
    reg = k3s_registries_text(ctx.settings)
    if reg is not None:
        files["k3s/registries.yaml"] = reg
    return files
