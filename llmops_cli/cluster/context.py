"""What a step gets when it runs: the host, a lazily built Kubernetes client, the reporter, the state."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmops_cli.errors import ClusterError

if TYPE_CHECKING:
    from llmops_cli.adapters.hosts import Host
    from llmops_cli.adapters.kube import Kube
    from llmops_cli.cluster.facts import HostFacts
    from llmops_cli.cluster.plan import PlanInputs, UpOptions
    from llmops_cli.cluster.state import State
    from llmops_cli.config.model import Settings
    from llmops_cli.reporting import Reporter


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


@dataclass
class StepContext:
    host: Host
    settings: Settings
    facts: HostFacts
    inputs: PlanInputs
    options: UpOptions
    reporter: Reporter
    state: State
    kube_factory: Callable[[], Kube]
    environ: Mapping[str, str] = field(default_factory=dict)
    dry_run: bool = False
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    # Results to show at the end: generated secrets (only printed with --show-password), hints, GPU line.
    secrets: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    _kube: Kube | None = None

    def kube(self) -> Kube:
        if self._kube is None:
            self._kube = self.kube_factory()
        return self._kube

    def reset_kube(self) -> None:
        """Forget the client (after k3s restarts or is installed, its certificates may be new)."""
        self._kube = None


def user_kube_factory(
    context_name: str, environ: Mapping[str, str], *, fallback: Callable[[], Kube] | None = None
) -> Callable[[], Kube]:
    """A client from the user's kubeconfig context ``llmops-<cluster>``, else ``fallback`` (k3s.yaml)."""

    def build() -> Kube:
        from llmops_cli.adapters import kubeconfig
        from llmops_cli.adapters.kube import Kube

        entry = kubeconfig.find_context(context_name, environ)
        if entry is not None:
            return Kube.from_kubeconfig(entry, context_name)
        if fallback is not None:
            return fallback()
        raise ClusterError(
            f"no kubeconfig context {context_name}",
            hint="run `llmops up` (it merges the context), or set KUBECONFIG",
            code="unreachable",
        )

    return build
