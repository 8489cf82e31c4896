"""What the rendered trees hand to upstream programs, and the fact table of the release each pin names."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import yaml

from llmops_cli import versions
from llmops_cli.config.model import Settings

from ..conftest import backup_tree, default_tree, gpu_tree, objects, settings
from .model import Path, Release
from .tables import TABLES


def _image_tag(image: str) -> str:
    return image.rsplit(":", 1)[1]


# Each pin with a fact table, looked up by the exact pinned version: a bump without new facts is a KeyError.
PINNED: dict[str, tuple[str, str]] = {
    "k3s": ("k3s", versions.K3S_VERSION),
    "argo-cd chart": ("argo-cd chart", versions.ARGOCD_CHART_VERSION),
    "argo-cd": ("argo-cd", versions.ARGOCD_APP_VERSION),
    "nvidia-device-plugin chart": ("nvidia-device-plugin chart", versions.NVIDIA_DEVICE_PLUGIN_VERSION),
    "dcgm-exporter chart": ("dcgm-exporter chart", versions.DCGM_EXPORTER_VERSION),
    "prometheus-operator-crds chart": ("prometheus-operator-crds chart", versions.PROMETHEUS_OPERATOR_CRDS_VERSION),
    "kube-prometheus-stack chart": ("kube-prometheus-stack chart", versions.KUBE_PROMETHEUS_STACK_VERSION),
    "alertmanager": ("alertmanager", versions.ALERTMANAGER_VERSION),
    "argo-rollouts chart": ("argo-rollouts chart", versions.ARGO_ROLLOUTS_CHART_VERSION),
    "argo-rollouts": ("argo-rollouts", versions.ARGO_ROLLOUTS_APP_VERSION),
    "loki chart": ("loki chart", versions.LOKI_VERSION),
    "alloy chart": ("alloy chart", versions.ALLOY_VERSION),
    "vllm": ("vllm", versions.VLLM_VERSION),
    "inference simulator image": ("inference simulator", versions.INFERENCE_SIM_VERSION),
    "pgvector image": ("pgvector", _image_tag(versions.PGVECTOR_IMAGE)),
    "postgres exporter image": ("postgres exporter", _image_tag(versions.POSTGRES_EXPORTER_IMAGE)),
    "git server image": ("soft-serve", _image_tag(versions.SOFT_SERVE_IMAGE)),
    "git client image": ("git client image", _image_tag(versions.GIT_CLIENT_IMAGE)),
    "rate-limit store image": ("valkey", _image_tag(versions.VALKEY_IMAGE).removesuffix("-alpine")),
    "injection classifier image": ("text-embeddings-inference", versions.TEI_VERSION),
    "cloudnative-pg chart": ("cloudnative-pg chart", versions.CNPG_CHART_VERSION),
    "cloudnative-pg postgres image": ("cloudnative-pg postgres image", _image_tag(versions.CNPG_POSTGRES_IMAGE)),
    "barman-cloud plugin chart": ("barman-cloud plugin chart", versions.BARMAN_CLOUD_CHART_VERSION),
    "barman-cloud plugin": ("barman-cloud plugin", versions.BARMAN_CLOUD_VERSION),
    "cert-manager chart": ("cert-manager chart", versions.CERT_MANAGER_VERSION),
}

# Chart name in an Application or HelmChart -> its table.
CHART_TABLES = {
    "argo-cd": "argo-cd chart",
    "prometheus-operator-crds": "prometheus-operator-crds chart",
    "kube-prometheus-stack": "kube-prometheus-stack chart",
    "argo-rollouts": "argo-rollouts chart",
    "loki": "loki chart",
    "alloy": "alloy chart",
    "nvidia-device-plugin": "nvidia-device-plugin chart",
    "dcgm-exporter": "dcgm-exporter chart",
    "cloudnative-pg": "cloudnative-pg chart",
    "plugin-barman-cloud": "barman-cloud plugin chart",
    "cert-manager": "cert-manager chart",
}


def release(pin: str) -> Release:
    table, version = PINNED[pin]
    return TABLES[table][version]


def chart_release(chart: str, version: str) -> Release:
    return TABLES[CHART_TABLES[chart]][version]


@cache
def _tree(name: str) -> dict[str, str]:
    from llmops_cli.render.api import render_environment

    extra: dict[str, Settings] = {
        "dev-cpu": settings(stacks={"vllm": {"backend": "cpu"}}),
        "dev-gpu-plain": settings(gpu={"mode": "on"}),
    }
    return render_environment(extra[name], "dev")


def variants() -> list[tuple[str, dict[str, str]]]:
    """The simulator (dev, prod), vLLM on a GPU with and without dcgm-exporter, vLLM on CPU, and prod with
    backups to an object store."""
    return [
        ("dev", default_tree("dev")),
        ("prod", default_tree("prod")),
        ("dev-gpu", gpu_tree("dev")),
        ("prod-gpu", gpu_tree("prod")),
        ("dev-gpu-plain", _tree("dev-gpu-plain")),
        ("dev-cpu", _tree("dev-cpu")),
        ("prod-backup", backup_tree("prod")),
    ]


VARIANT_IDS = [v for v, _ in variants()]


def chart_sources(tree: dict[str, str]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(path, chart, version, values) of every Argo CD Application and k3s HelmChart with a Helm chart."""
    for path, obj in objects(tree).items():
        if obj["kind"] == "Application" and "chart" in obj["spec"]["source"]:
            src = obj["spec"]["source"]
            yield path, src["chart"], src["targetRevision"], src["helm"].get("valuesObject") or {}
        elif obj["kind"] == "HelmChart":
            spec = obj["spec"]
            yield path, spec["chart"], spec["version"], yaml.safe_load(spec["valuesContent"]) or {}


def leaf_paths(values: dict[str, Any], prefix: Path = ()) -> Iterator[Path]:
    for key, value in values.items():
        if isinstance(value, dict) and value:
            yield from leaf_paths(value, (*prefix, key))
        else:
            yield (*prefix, key)


def workload(tree: dict[str, str], kind: str, name_prefix: str) -> dict[str, Any] | None:
    for obj in objects(tree).values():
        if obj["kind"] == kind and obj["metadata"]["name"].startswith(name_prefix):
            return obj
    return None


def container(obj: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    cs = obj["spec"]["template"]["spec"]["containers"]
    return cs[0] if name is None else next(c for c in cs if c["name"] == name)


def flags(args: list[str]) -> set[str]:
    return {a.split("=", 1)[0] for a in args if a.startswith("--")}


# ---------------------------------------------------------------------------------------- Alloy config
_BLOCK = re.compile(r"^\s*([a-z_][a-z0-9_.]*)\s*(\"[^\"]*\")?\s*\{\s*$")
_ATTR = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*=")
_ENV_CALL = re.compile(r"\bsys\.env\(\"([A-Za-z_][A-Za-z0-9_]*)\"\)")


def alloy_config_names(text: str) -> tuple[set[str], set[str], set[str]]:
    """(components, component.attribute/block paths, env vars read) of an Alloy configuration."""
    components: set[str] = set()
    attrs: set[str] = set()
    stack: list[str] = []
    for raw in text.splitlines():
        line = raw.split("//", 1)[0]
        if not line.strip():
            continue
        if m := _BLOCK.match(line):
            name = m.group(1)
            if not stack:
                components.add(name)
            else:
                attrs.add(".".join([*stack, name]))
            stack.append(name)
        elif m := _ATTR.match(line):
            attrs.add(".".join([*stack, m.group(1)]))
        if line.strip() == "}":
            stack.pop()
    return components, attrs, set(_ENV_CALL.findall(text))
