"""Merge k3s's admin kubeconfig into the user's as context ``llmops-<cluster>``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmops_cli.adapters import kubeconfig
from llmops_cli.adapters.hostfacts import K3S_KUBECONFIG
from llmops_cli.cluster.model import PlanInputs, Step, UpOptions
from llmops_cli.errors import LlmopsError

if TYPE_CHECKING:
    from llmops_cli.cluster.facts import HostFacts
    from llmops_cli.cluster.model import StepContext
    from llmops_cli.config.model import Settings


def _entry(ctx: StepContext) -> dict[str, Any]:
    text = ctx.host.read_text(K3S_KUBECONFIG, privileged=True)
    if not text:
        raise LlmopsError(f"{K3S_KUBECONFIG} is missing: k3s has not started", code="kubeconfig")
    # A remote cluster: k3s.yaml says https://127.0.0.1:6443; the entry gets the host's address (parsed, not
    # text-replaced), which the API certificate names (tls-san).
    return kubeconfig.entry_from_k3s(text, ctx.settings.cluster.context_name, server=ctx.inputs.api_server)


def steps(settings: Settings, facts: HostFacts, inputs: PlanInputs, options: UpOptions) -> list[Step]:
    name = settings.cluster.context_name
    switch = settings.cluster.switch_context

    def check(ctx: StepContext) -> bool:
        current = kubeconfig.find_context(name, ctx.environ)
        if not kubeconfig.same_credentials(current, _entry(ctx)):
            return False
        if switch:
            return kubeconfig.current_context(ctx.environ) == name
        return True

    def apply(ctx: StepContext) -> None:
        path = kubeconfig.merge_context(_entry(ctx), switch=switch, environ=ctx.environ)
        ctx.results["kubeconfig"] = str(path)
        ctx.notes.append(
            f"kubeconfig: context {name} in {path}"
            + ("" if switch else f" (use it with `kubectl --context {name}` or `kubectl config use-context {name}`)")
        )

    return [
        Step(
            id="merge_kubeconfig",
            phase="kubeconfig",
            description=f"merge context {name} into the user's kubeconfig"
            + (f" (server {inputs.api_server})" if inputs.api_server else ""),
            changes=f"the user's kubeconfig (KUBECONFIG or ~/.kube/config, where kubectl would write): replace "
            f"clusters/users/contexts named {name} (kubectl's <file>.lock protocol, atomic, mode 600)"
            + ("; make it the current context" if switch else "; current context unchanged"),
            check=check,
            apply=apply,
            verify=lambda ctx: None if check(ctx) else _fail(name),
        )
    ]


def _fail(name: str) -> None:
    raise LlmopsError(f"context {name} is not in the kubeconfig after merging", code="kubeconfig")
