"""The plan `up` executes: ordered, idempotent steps, each ``check`` (already done?) → ``apply`` → ``verify``.

:func:`build_plan` is pure: Settings, host facts and the rendered inputs in, a :class:`Plan` out. It reads no
file and touches no host, so ``--dry-run`` and the tests see exactly what ``up`` would run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmops_cli.cluster.model import Plan, PlanInputs, Step, UpOptions
from llmops_cli.cluster.steps import argocd, gitops, gpu, k3s, kubeconfig, secrets, waits

if TYPE_CHECKING:
    from llmops_cli.cluster.facts import HostFacts
    from llmops_cli.config.model import Settings


def decide_gpu(settings: Settings, facts: HostFacts) -> bool:
    """auto: a GPU when nvidia-smi lists one; on: always (a missing GPU fails the driver step); off: never."""
    if settings.gpu.mode == "on":
        return True
    if settings.gpu.mode == "off":
        return False
    return facts.nvidia.has_gpu


def build_plan(settings: Settings, facts: HostFacts, inputs: PlanInputs, options: UpOptions | None = None) -> Plan:
    options = options or UpOptions()
    if inputs.node.joins:
        return _joining_node_plan(settings, facts, inputs, options)
    use_gpu = decide_gpu(settings, facts)
    warnings: list[str] = []
    steps = _node_steps(settings, facts, inputs, options, warnings, use_gpu)
    steps += kubeconfig.steps(settings, facts, inputs, options)
    steps += waits.namespace_steps(settings, facts, inputs, options)
    steps += secrets.steps(settings, facts, inputs, options)
    steps += argocd.install_steps(settings, facts, inputs, options)
    steps += gitops.steps(settings, facts, inputs, options, warnings)
    steps += argocd.root_steps(settings, facts, inputs, options)
    if use_gpu:
        # Before the GPU workloads are waited for: the smoke Job needs a free GPU (see steps/gpu.py).
        steps += gpu.cluster_steps(settings, facts, inputs, options)
    steps += waits.steps(settings, facts, inputs, options)
    steps += argocd.handover_steps(settings, facts, inputs, options)
    _unique_ids(steps)
    summary = {
        "cluster": settings.cluster.name,
        "environment": inputs.env,
        "k3s_version": settings.cluster.k3s_version,
        "k3s_installed": facts.k3s.version if facts.k3s.installed else None,
        "gpu": use_gpu,
        "gitops": "local" if settings.gitops.local else "remote",
        "repo_url": inputs.repo_url,
        "airgap": str(options.airgap.path) if options.airgap else None,
    }
    return Plan(steps=tuple(steps), gpu=use_gpu, warnings=tuple(warnings), summary=summary)


def _unique_ids(steps: list[Step]) -> None:
    ids = [s.id for s in steps]
    if len(ids) != len(set(ids)):  # pragma: no cover - a programming error
        raise AssertionError(f"duplicate step ids: {ids}")


def _node_steps(
    settings: Settings, facts: HostFacts, inputs: PlanInputs, options: UpOptions, warnings: list[str], use_gpu: bool
) -> list[Step]:
    """A node's own part: the driver and toolkit, k3s, the nvidia runtime, the node Ready and labelled."""
    steps: list[Step] = []
    if use_gpu:
        steps += gpu.pre_steps(settings, facts, inputs, options, warnings)
    steps += k3s.steps(settings, facts, inputs, options, warnings)
    if use_gpu:
        steps += gpu.host_steps(settings, facts, inputs, options, warnings)
    steps += k3s.ready_steps(settings, facts, inputs, options)
    if use_gpu:
        steps += gpu.node_steps(settings, facts, inputs, options)
    return steps


def _joining_node_plan(settings: Settings, facts: HostFacts, inputs: PlanInputs, options: UpOptions) -> Plan:
    """A server joining for HA, or an agent: the same host steps as `up` (k3s, the GPU runtime), then the node
    Ready in the cluster. The cluster itself (Argo CD, the platform) is the first server's plan."""
    use_gpu = decide_gpu(settings, facts)
    warnings: list[str] = []
    steps = _node_steps(settings, facts, inputs, options, warnings, use_gpu)
    _unique_ids(steps)
    summary = {
        "cluster": settings.cluster.name,
        "environment": inputs.env,
        "role": inputs.node.kind,
        "joins": inputs.node.server_url,
        "k3s_version": settings.cluster.k3s_version,
        "k3s_installed": facts.k3s.version if facts.k3s.installed else None,
        "gpu": use_gpu,
        "airgap": str(options.airgap.path) if options.airgap else None,
    }
    return Plan(steps=tuple(steps), gpu=use_gpu, warnings=tuple(warnings), summary=summary)
