"""How a step's Kubernetes client is built: from k3s's admin kubeconfig on the host, or the user's context.

(:class:`~llmops_cli.cluster.model.StepContext`, what a step gets when it runs, lives in ``cluster.model``.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from llmops_cli.errors import ClusterError

if TYPE_CHECKING:
    from llmops_cli.adapters.hosts import Host
    from llmops_cli.adapters.kube import Kube


def k3s_kube_factory(host: Host, *, server: str | None = None, read_only: bool = False) -> Callable[[], Kube]:
    """Build a client from k3s's own admin kubeconfig on ``host`` (read as root: it is mode 0600)."""

    def build() -> Kube:
        from llmops_cli.adapters import kubeconfig
        from llmops_cli.adapters.hostfacts import K3S_KUBECONFIG
        from llmops_cli.adapters.kube import Kube

        text = host.read_text(K3S_KUBECONFIG, privileged=True)
        if not text:
            raise ClusterError(
                f"{K3S_KUBECONFIG} does not exist yet: k3s is not installed or has not started",
                hint="run `llmops up`",
                code="unreachable",
            )
        entry = kubeconfig.entry_from_k3s(text, "llmops", server=server)
        return Kube.from_kubeconfig(entry, "llmops", read_only=read_only)

    return build


def user_kube_factory(
    context_name: str,
    environ: Mapping[str, str],
    *,
    fallback: Callable[[], Kube] | None = None,
    read_only: bool = False,
) -> Callable[[], Kube]:
    """A client from the user's kubeconfig context ``llmops-<cluster>``, else ``fallback`` (k3s.yaml)."""

    def build() -> Kube:
        from llmops_cli.adapters import kubeconfig
        from llmops_cli.adapters.kube import Kube

        entry = kubeconfig.find_context(context_name, environ)
        if entry is not None:
            return Kube.from_kubeconfig(entry, context_name, read_only=read_only)
        if fallback is not None:
            return fallback()
        raise ClusterError(
            f"no kubeconfig context {context_name}",
            hint="run `llmops up` (it merges the context), or set KUBECONFIG",
            code="unreachable",
        )

    return build
