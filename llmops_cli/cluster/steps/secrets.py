"""Generated platform secrets (pgvector, gateway admin key, Grafana admin): created once, straight in the
cluster. Never written to Git or to disk, never printed unless ``--show-password``; an existing Secret is
kept, so re-running `up` never rotates a password behind a running database's back.

In local GitOps mode, also the in-cluster Git server's SSH keys (:func:`ssh_keys`): its host key, the push
Job's admin key pair and a ``known_hosts`` line pinning the host key. Same rules, and never printed at all:
rotating them would break the pinned host key and the server's admin key."""

from __future__ import annotations

import secrets as pysecrets
from typing import TYPE_CHECKING, Any

from llmops_cli.cluster.model import PlanInputs, SecretSpec, SshKeysSpec, Step, UpOptions, fingerprint

if TYPE_CHECKING:
    from llmops_cli.cluster.facts import HostFacts
    from llmops_cli.cluster.model import StepContext
    from llmops_cli.config.model import Settings

MANAGED_BY = {"app.kubernetes.io/managed-by": "llmops"}


def generate(nbytes: int = 24) -> str:
    return pysecrets.token_urlsafe(nbytes)


def secret_object(spec: SecretSpec, values: dict[str, str]) -> dict[str, Any]:
    derived = {k: template.format(**values) for k, template in spec.derived}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": dict(MANAGED_BY)},
        "type": "Opaque",
        "stringData": {**dict(spec.fixed), **values, **derived},
    }


def namespace_object(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(MANAGED_BY)}}


def _exists(ctx: StepContext, spec: SecretSpec | SshKeysSpec) -> bool:
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


def _missing(spec: SecretSpec | SshKeysSpec) -> None:
    from llmops_cli.errors import ClusterError

    raise ClusterError(f"Secret {spec.namespace}/{spec.name} is missing right after creating it")


def _ed25519() -> tuple[str, str]:
    """(OpenSSH private key, ``ssh-ed25519 AAAA...`` public key) of a fresh ed25519 key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode("ascii")
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode("ascii")
    )
    return private, public


def ssh_keys(spec: SshKeysSpec) -> dict[str, str]:
    """Fresh host key, admin key pair and ``known_hosts`` line for the Git server's Secret."""
    host_private, host_public = _ed25519()
    admin_private, admin_public = _ed25519()
    return {
        spec.host_key: host_private,
        spec.host_pub: f"{host_public}\n",
        spec.admin_key: admin_private,
        spec.admin_pub: f"{admin_public} llmops-push\n",
        spec.known_hosts: f"{spec.host} {host_public}\n",
    }


def ssh_keys_object(spec: SshKeysSpec, values: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": dict(MANAGED_BY)},
        "type": "Opaque",
        "stringData": values,
    }


def _ssh_step(spec: SshKeysSpec) -> Step:
    def apply(ctx: StepContext) -> None:
        kube = ctx.kube()
        if kube.get("v1", "Namespace", spec.namespace) is None:
            kube.apply(namespace_object(spec.namespace))
        # Key material goes to the cluster only: not to ctx.secrets (printed), the state file or the log.
        kube.apply(ssh_keys_object(spec, ssh_keys(spec)))

    return Step(
        id=f"create_ssh_keys_{spec.namespace}_{spec.name}",
        phase="secrets",
        description=f"create Secret {spec.namespace}/{spec.name} (the local Git server's SSH keys)",
        changes=f"Secret {spec.namespace}/{spec.name} with a generated ed25519 host key, push key pair and "
        f"known_hosts for {spec.host} (kept if there)",
        check=lambda ctx: _exists(ctx, spec),
        apply=apply,
        verify=lambda ctx: None if _exists(ctx, spec) else _missing(spec),
        fingerprint=fingerprint(spec.name, spec.namespace, spec.host),
    )


def steps(settings: Settings, facts: HostFacts, inputs: PlanInputs, options: UpOptions) -> list[Step]:
    out = [_step(spec) for spec in inputs.secrets]
    if settings.gitops.local and inputs.git_ssh is not None:
        out.append(_ssh_step(inputs.git_ssh))
    return out
