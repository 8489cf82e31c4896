"""The container images a rendered object runs, and the same object with those references replaced.

`llmops render` and `up` write images by tag (versions.py, one place to bump); `llmops promote` replaces each
with ``repo:tag@sha256:…`` (the digest its registry serves for the tag) so what Argo CD runs is what the release
recorded. The places an image stands: every container and init container of a workload's pod template, and a
CloudNativePG ``Cluster``'s ``spec.imageName`` (cloudnative-pg/cloudnative-pg api/v1/cluster_types.go
``ClusterSpec.ImageName``: tags and ``<image>:<tag>@sha256:<digest>`` both accepted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Rollout")


def _slots(obj: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(where, the mapping holding the image, its key) for every image reference in ``obj``."""
    kind, name = obj.get("kind"), (obj.get("metadata") or {}).get("name")
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if kind in WORKLOAD_KINDS:
        pod = ((spec.get("jobTemplate") or {}).get("spec") or spec).get("template", {}).get("spec") or {}
        for c in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
            if isinstance(c, dict) and isinstance(c.get("image"), str):
                yield f"{kind}/{name}/{c.get('name')}", c, "image"
    elif (
        kind == "Cluster"
        and str(obj.get("apiVersion", "")).startswith("postgresql.cnpg.io/")
        and (isinstance(spec.get("imageName"), str))
    ):
        yield f"{kind}/{name}/postgres", spec, "imageName"


def images_of(obj: Mapping[str, Any]) -> dict[str, str]:
    """``{workload/container: image}`` of one object."""
    return {where: str(holder[key]) for where, holder, key in _slots(obj)}


def pin_images(obj: dict[str, Any], pinned: Callable[[str], str]) -> None:
    """Replace every image reference of ``obj`` (in place) with ``pinned(reference)``."""
    for _, holder, key in _slots(obj):
        holder[key] = pinned(holder[key])
