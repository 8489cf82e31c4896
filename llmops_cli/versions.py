"""Every pinned upstream version, in one place (`llmops version --all` prints them)."""

from __future__ import annotations

K3S_VERSION = "v1.33.5+k3s1"
# Kubernetes minor of the pinned k3s; rendered objects are validated against it.
KUBERNETES_MINOR = "1.33"

PINS: dict[str, str] = {
    "k3s": K3S_VERSION,
}
