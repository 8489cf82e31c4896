"""Generated platform secrets (pgvector, gateway admin key, Grafana admin): created once, straight in the
cluster. Never written to Git or to disk, never printed unless ``--show-password``; an existing Secret is
kept, so re-running `up` never rotates a password behind a running database's back."""

from __future__ import annotations

import secrets as pysecrets
from typing import TYPE_CHECKING, Any

from llmops_cli.cluster.plan import PlanInputs, SecretSpec, Step, UpOptions, fingerprint

if TYPE_CHECKING:
    from llmops_cli.cluster.context import StepContext
    from llmops_cli.cluster.facts import HostFacts
    from llmops_cli.config.model import Settings

MANAGED_BY = {"app.kubernetes.io/managed-by": "llmops"}


def generate(nbytes: int = 24) -> str:
    return pysecrets.token_urlsafe(nbytes)


def secret_object(spec: SecretSpec, values: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": dict(MANAGED_BY)},
        "type": "Opaque",
        "stringData": {**dict(spec.fixed), **values},
    }


def namespace_object(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(MANAGED_BY)}}


def _exists(ctx: StepContext, spec: SecretSpec) -> bool:
    return ctx.kube().get("v1", "Secret", spec.name, spec.namespace) is not None


def _step(spec: SecretSpec) -> Step:
    def apply(ctx: StepContext) -> None:
        kube = ctx.kube()
        if kube.get("v1", "Namespace", spec.namespace) is None:
            # Only when missing: re-applying it here would drop fields the bootstrap apply owns.
            kube.apply(namespace_object(spec.namespace))
        values = {k: generate() for k in spec.keys}
        kube.apply(secret_object(spec, values))
        for k, v in values.items():
            ctx.secrets[f"{spec.namespace}/{spec.name}.{k}"] = v

    return Step(
        id=f"create_secret_{spec.namespace}_{spec.name}",
        phase="secrets",
        description=f"create Secret {spec.namespace}/{spec.name}",
        changes=f"Secret {spec.namespace}/{spec.name} with generated {', '.join(spec.keys)} (kept if there)",
        check=lambda ctx: _exists(ctx, spec),
        apply=apply,
        verify=lambda ctx: None if _exists(ctx, spec) else _missing(spec),
        fingerprint=fingerprint(spec.name, spec.namespace, spec.keys),
    )


def _missing(spec: SecretSpec) -> None:
    from llmops_cli.errors import ClusterError

    raise ClusterError(f"Secret {spec.namespace}/{spec.name} is missing right after creating it")


def steps(settings: Settings, facts: HostFacts, inputs: PlanInputs, options: UpOptions) -> list[Step]:
    return [_step(spec) for spec in inputs.secrets]
