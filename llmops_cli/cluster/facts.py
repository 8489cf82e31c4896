"""Host facts for planning: re-exported from the adapter that gathers them (doctor uses the same facts)."""

from __future__ import annotations

from llmops_cli.adapters.hostfacts import (
    GpuInfo,
    HostFacts,
    K3sFacts,
    NvidiaFacts,
    gather_facts,
)

__all__ = ["GpuInfo", "HostFacts", "K3sFacts", "NvidiaFacts", "gather_facts"]
