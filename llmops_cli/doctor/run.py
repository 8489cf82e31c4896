"""`llmops doctor` as one core function: gather facts on a host, run the checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmops_cli.doctor.checks import CheckResult, failed, run_checks

if TYPE_CHECKING:
    from llmops_cli.adapters.hostfacts import HostFacts
    from llmops_cli.adapters.hosts import Host
    from llmops_cli.config.model import Settings


@dataclass(frozen=True)
class DoctorReport:
    facts: HostFacts
    results: list[CheckResult]

    @property
    def ok(self) -> bool:
        return not failed(self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": [r.to_dict() for r in self.results],
            "facts": self.facts.to_dict(),
        }


def diagnose(
    settings: Settings, host: Host, environ: Mapping[str, str], *, facts: HostFacts | None = None, remote: bool = False
) -> DoctorReport:
    """Facts of ``host`` (read-only) judged by the checks; ``remote``: a host over SSH (the local kubeconfig is
    not its business)."""
    from llmops_cli.adapters.hostfacts import gather_facts
    from llmops_cli.adapters.hosts import DryRunHost

    if facts is None:
        sudo = getattr(host, "sudo", None)
        # doctor only reads: a DryRunHost makes that a guarantee, not a promise.
        facts = gather_facts(DryRunHost(host), sudo_mode=getattr(sudo, "mode", None))
    gpu = settings.gpu.mode == "on" or (settings.gpu.mode == "auto" and facts.nvidia.has_gpu)
    return DoctorReport(facts=facts, results=run_checks(facts, settings, environ, gpu=gpu, remote=remote))
