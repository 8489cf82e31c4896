"""Shared rendering fixtures: default Settings, and trees rendered once per session (rendering is pure)."""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml

from llmops_cli.config.model import Settings


def settings(**overrides: Any) -> Settings:
    return Settings.model_validate(overrides)


@cache
def default_tree(env: str, gpu: bool | None = None) -> dict[str, str]:
    from llmops_cli.render.api import render_environment

    return render_environment(Settings(), env, gpu=gpu)


@cache
def gpu_full_settings() -> Settings:
    return settings(
        gpu={"mode": "on", "share": 4, "dcgm_exporter": True},
        cluster={"registry_mirror": "https://mirror.example.com", "tls_san": ["k3s.example.com"]},
        stacks={
            "vllm": {"hf_token_secret": "hf-token"},
            "gateway": {"injection_classifier": {"enabled": True, "hf_token_secret": "hf-token"}},
        },
    )


@cache
def gpu_tree(env: str) -> dict[str, str]:
    from llmops_cli.render.api import render_environment

    return render_environment(gpu_full_settings(), env)


BACKUP = {
    "enabled": True,
    "destination": "s3://llmops-backups/prod",
    "endpoint_url": "https://minio.example.com:9000",
    "credentials_secret": "pgvector-s3",
    "endpoint_ca_secret": "minio-ca",
    "schedule": "0 30 1 * * sun",
    "retention": "4w",
}


@cache
def backup_tree(env: str) -> dict[str, str]:
    """Backups of the CloudNativePG cluster to an object store (stacks.pgvector.backup)."""
    from llmops_cli.render.api import render_environment

    return render_environment(settings(stacks={"pgvector": {"backup": BACKUP}}), env)


@cache
def recovery_tree(env: str) -> dict[str, str]:
    """A new cluster recovered from the object store to a point in time, archiving into a new folder."""
    from llmops_cli.render.api import render_environment

    backup = {**BACKUP, "server_name": "pgvector-2", "recovery": {"target_time": "2026-12-07T09:59:00Z"}}
    return render_environment(settings(stacks={"pgvector": {"backup": backup}}), env)


def objects(tree: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Kubernetes objects of a tree by path (host files under k3s/ are left out)."""
    return {p: yaml.safe_load(t) for p, t in tree.items() if not p.startswith("k3s/")}


def all_variants() -> list[tuple[str, dict[str, str]]]:
    return [
        ("dev", default_tree("dev")),
        ("prod", default_tree("prod")),
        ("dev-gpu", gpu_tree("dev")),
        ("prod-gpu", gpu_tree("prod")),
        ("prod-backup", backup_tree("prod")),
    ]
