"""`llmops sync`: hand later changes of the rendered tree to Argo CD.

Local GitOps mode: re-render the environment and push it to the in-cluster Git server (the same Job `up`
runs). Remote mode: Argo CD follows the remote repository, so this only says what to push.

The tree is rendered with the choices `up` recorded in the state file (environment, GPU decision, airgap
bundle): `sync` never pushes the opposite GPU tree of the one `up` deployed (`up --gpu off` on a GPU laptop
stays CPU), nor Applications that pull from the internet the charts `up` took from a bundle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from llmops_cli.errors import LlmopsError, UsageError

if TYPE_CHECKING:
    from pathlib import Path

    from llmops_cli.adapters.hosts import Host
    from llmops_cli.adapters.kube import Kube
    from llmops_cli.cluster.facts import HostFacts
    from llmops_cli.cluster.up import Renderer
    from llmops_cli.config.model import Settings
    from llmops_cli.reporting import Reporter


def sync(
    settings: Settings,
    *,
    host: Host,
    facts: HostFacts,
    kube_factory: Callable[[], Kube],
    env: str | None,
    reporter: Reporter,
    environ: Mapping[str, str],
    renderer: Renderer | None = None,
    timeout: float = 300.0,
    project_dir: Path | None = None,
) -> dict[str, Any]:
    from llmops_cli.cluster.model import StepContext, UpOptions
    from llmops_cli.cluster.state import State
    from llmops_cli.cluster.steps.gitops import push_tree, seed_objects, seeded
    from llmops_cli.cluster.up import remembered_bundle, render_inputs, resolve_env

    if not settings.gitops.local:
        raise UsageError(
            f"gitops.repo_url is {settings.gitops.repo_url}: Argo CD follows that repository",
            hint="run `llmops render`, then commit and push the manifests/ tree there",
        )
    choices = State.load(settings.cluster.name, environ).choices
    env_name = resolve_env(settings, env or choices.get("env"))
    gpu = choices.get("gpu") if isinstance(choices.get("gpu"), bool) else None
    if gpu is None:
        reporter.warn("no `llmops up` choices recorded for this cluster: the GPU decision follows this host's facts")
    inputs = render_inputs(
        settings,
        facts,
        env_name,
        renderer=renderer,
        gpu=gpu,
        project_dir=project_dir,
        airgap=remembered_bundle(choices.get("airgap")) if settings.gitops.local else None,
    )
    ctx = StepContext(
        host=host,
        settings=settings,
        facts=facts,
        inputs=inputs,
        options=UpOptions(timeout=timeout),
        reporter=reporter,
        state=State.memory(),
        kube_factory=kube_factory,
        environ=dict(environ),
    )
    configmaps, job = seed_objects(settings, inputs)
    keys = inputs.git_ssh
    if keys is not None and ctx.kube().get("v1", "Secret", keys.name, keys.namespace) is None:
        raise LlmopsError(
            f"the local Git server's SSH key Secret {keys.namespace}/{keys.name} is missing",
            hint="run `llmops up` once: it creates the keys and updates the Git server (docs/laptop.md, Local mode)",
            code="git_seed",
        )
    reporter.phase("sync")
    if seeded(ctx, job):
        reporter.step("push the rendered tree", "ok", "already up to date")
        return {"environment": env_name, "gpu": inputs.gpu, "changed": False, "files": len(inputs.tree or {})}
    reporter.step("push the rendered tree", "running")
    commit = push_tree(ctx, configmaps, job)
    reporter.step("push the rendered tree", "changed", commit[:12])
    return {
        "environment": env_name,
        "gpu": inputs.gpu,
        "changed": True,
        "commit": commit,
        "files": len(inputs.tree or {}),
    }
