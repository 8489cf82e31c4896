"""Apply rendered objects idempotently: server-side apply plus an annotation with the hash of what was sent,
so "already done?" is one GET per object."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llmops_cli.cluster.model import fingerprint
from llmops_cli.cluster.poll import wait_for

if TYPE_CHECKING:
    from llmops_cli.cluster.model import StepContext

HASH_ANNOTATION = "llmops.dev/applied-hash"


def stamped(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    meta = out.setdefault("metadata", {})
    annotations = dict(meta.get("annotations") or {})
    annotations.pop(HASH_ANNOTATION, None)
    meta["annotations"] = {**annotations, HASH_ANNOTATION: fingerprint(obj)}
    return out


def ident(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj['kind']}/{(ns + '/') if ns else ''}{meta.get('name')}"


def is_applied(ctx: StepContext, obj: dict[str, Any]) -> bool:
    meta = obj.get("metadata") or {}
    live = ctx.kube().get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
    if live is None:
        return False
    return ((live.get("metadata") or {}).get("annotations") or {}).get(HASH_ANNOTATION) == fingerprint(obj)


def all_applied(ctx: StepContext, objs: Sequence[dict[str, Any]]) -> bool:
    return all(is_applied(ctx, o) for o in objs)


def apply_all(ctx: StepContext, objs: Sequence[dict[str, Any]]) -> None:
    kube = ctx.kube()
    for o in objs:
        kube.apply(stamped(o))


def remove_job(ctx: StepContext, name: str, namespace: str) -> None:
    """Delete a Job (its pods with it) and wait until it is gone: a Job's pod template is immutable, so a new
    run replaces the old Job."""
    kube = ctx.kube()
    if kube.delete("batch/v1", "Job", name, namespace, propagation="Background"):
        wait_for(
            lambda: True if kube.get("batch/v1", "Job", name, namespace) is None else None,
            timeout=120,
            what=f"the previous Job {namespace}/{name} to go away",
            clock=ctx.clock,
            sleep=ctx.sleep,
        )
