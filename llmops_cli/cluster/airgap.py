"""Chart archives of an airgap bundle: which charts llmops deploys (name, repository, pinned version), reading
and checking an archive, its files for the local Git repository, and which Applications would still pull a
chart from the internet.

Argo CD renders a Helm chart that lies in a Git directory without the network when its dependencies are
vendored under ``charts/`` (what ``helm package`` writes): argoproj/argo-cd v3.4.4
reposerver/repository/repository.go ``helmTemplate`` runs ``helm template`` first and runs ``helm dependency
build`` (``runHelmBuild``, which adds the dependencies' repositories) only when that fails with a missing
dependency (util/helm/helm.go ``IsMissingDependencyErr``: "found in Chart.yaml, but missing in charts/
directory"). A directory holding a ``Chart.yaml`` is a Helm source (util/app/discovery/discovery.go).
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from llmops_cli import versions
from llmops_cli.cluster.model import BundledChart
from llmops_cli.errors import InputError

# A chart archive is read whole into the Git repository: bound what one may unpack to.
MAX_CHART_BYTES = 64 * 1024 * 1024
MAX_CHART_FILES = 20_000


@dataclass(frozen=True)
class ChartPin:
    name: str
    repo: str  # the Helm repository the rendered Application names
    version: str


# Every chart an Application or the bootstrap HelmChart may name (render/stacks); tests/cluster/test_airgap.py
# holds this table equal to what the renderer writes for every stack variant.
CHARTS: dict[str, ChartPin] = {
    p.name: p
    for p in (
        ChartPin("argo-cd", versions.ARGOCD_CHART_REPO, versions.ARGOCD_CHART_VERSION),
        ChartPin("argo-rollouts", versions.ARGOCD_CHART_REPO, versions.ARGO_ROLLOUTS_CHART_VERSION),
        ChartPin(
            "nvidia-device-plugin", versions.NVIDIA_DEVICE_PLUGIN_CHART_REPO, versions.NVIDIA_DEVICE_PLUGIN_VERSION
        ),
        ChartPin("dcgm-exporter", versions.DCGM_EXPORTER_CHART_REPO, versions.DCGM_EXPORTER_VERSION),
        ChartPin(
            "prometheus-operator-crds", versions.PROMETHEUS_COMMUNITY_REPO, versions.PROMETHEUS_OPERATOR_CRDS_VERSION
        ),
        ChartPin("kube-prometheus-stack", versions.PROMETHEUS_COMMUNITY_REPO, versions.KUBE_PROMETHEUS_STACK_VERSION),
        ChartPin("loki", versions.GRAFANA_COMMUNITY_REPO, versions.LOKI_VERSION),
        ChartPin("alloy", versions.GRAFANA_REPO, versions.ALLOY_VERSION),
        ChartPin("cloudnative-pg", versions.CNPG_CHART_REPO, versions.CNPG_CHART_VERSION),
        # With stacks.pgvector.backup: the Barman Cloud plugin and cert-manager, which issues its certificates.
        ChartPin("plugin-barman-cloud", versions.CNPG_CHART_REPO, versions.BARMAN_CLOUD_CHART_VERSION),
        ChartPin("cert-manager", versions.CERT_MANAGER_CHART_REPO, versions.CERT_MANAGER_VERSION),
    )
}


def _members(archive: Path, data: bytes | None) -> Iterator[tuple[tarfile.TarInfo, tarfile.TarFile]]:
    try:
        with tarfile.open(archive, mode="r:gz", fileobj=None if data is None else io.BytesIO(data)) as tar:
            for m in tar:
                yield m, tar
    except (tarfile.TarError, OSError, EOFError) as e:
        raise InputError(
            f"--airgap-bundle: {archive} is not a readable chart archive ({e})",
            hint="fetch it again (`helm pull <repo>/<chart> --version <pinned>` writes one)",
        ) from e


def chart_files(archive: Path, data: bytes | None = None) -> tuple[str, dict[str, bytes]]:
    """(top directory, files under it by relative path) of a packaged chart; refuses anything but plain files
    and directories under one top directory (no links, no absolute or ``..`` paths), and oversized archives."""
    top: str | None = None
    files: dict[str, bytes] = {}
    total = 0
    for m, tar in _members(archive, data):
        path = PurePosixPath(m.name)
        parts = [p for p in path.parts if p not in ("", ".")]
        bad = path.is_absolute() or ".." in parts or not parts or not (m.isfile() or m.isdir())
        if not bad:
            top = top or parts[0]
            bad = parts[0] != top
        if bad:
            raise InputError(
                f"--airgap-bundle: {archive} holds {m.name!r}, which a chart archive never does: refusing it",
                hint="a chart archive (helm package) holds plain files under one folder named after the chart",
            )
        if m.isdir() or len(parts) == 1:
            continue
        total += m.size
        if total > MAX_CHART_BYTES or len(files) >= MAX_CHART_FILES:
            raise InputError(
                f"--airgap-bundle: {archive} unpacks to over {MAX_CHART_BYTES >> 20} MiB or "
                f"{MAX_CHART_FILES} files: refusing it",
                hint="a chart archive is a few MiB at most: fetch it again",
            )
        fh = tar.extractfile(m)
        files["/".join(parts[1:])] = fh.read() if fh is not None else b""
    if top is None or "Chart.yaml" not in files:
        raise InputError(
            f"--airgap-bundle: {archive} has no <chart>/Chart.yaml: not a chart archive",
            hint="fetch it with `helm pull <repo>/<chart> --version <pinned>`",
        )
    return top, files


def chart_identity(archive: Path, files: Mapping[str, bytes]) -> tuple[str, str]:
    """(name, version) from the archive's Chart.yaml."""
    import yaml

    try:
        meta = yaml.safe_load(io.BytesIO(files["Chart.yaml"]))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError(
            f"--airgap-bundle: {archive}: Chart.yaml is not valid YAML{where} ({getattr(e, 'problem', None) or e})",
            hint="fetch the archive again",
        ) from e
    name = meta.get("name") if isinstance(meta, dict) else None
    version = meta.get("version") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not isinstance(version, (str, int, float)):
        raise InputError(f"--airgap-bundle: {archive}: Chart.yaml has no name and version", hint="fetch it again")
    return name, str(version)


def _subchart_name(data: bytes) -> str | None:
    """The name in a vendored subchart archive's ``<top>/Chart.yaml`` (None when it has none)."""
    import yaml

    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for m in tar:
                parts = [p for p in PurePosixPath(m.name).parts if p not in ("", ".")]
                if m.isfile() and len(parts) == 2 and parts[1] == "Chart.yaml":
                    fh = tar.extractfile(m)
                    meta = yaml.safe_load(fh.read()) if fh is not None else None
                    return str(meta.get("name")) if isinstance(meta, dict) else None
    except (tarfile.TarError, OSError, EOFError, yaml.YAMLError):
        return None
    return None


def missing_dependencies(files: Mapping[str, bytes]) -> list[str]:
    """The dependencies a chart's Chart.yaml names that it does not carry under ``charts/`` (an archive or a
    folder whose Chart.yaml has that name): Helm's ``CheckDependencies`` (helm/helm pkg/action/install.go)
    compares the names, whatever the dependency's condition, and Argo CD then runs ``helm dependency build``,
    which needs the dependency's repository."""
    import yaml

    meta = yaml.safe_load(io.BytesIO(files["Chart.yaml"])) or {}
    wanted = [str(d.get("name")) for d in meta.get("dependencies") or [] if isinstance(d, dict)]
    if not wanted:
        return []
    have = set()
    for rel, data in files.items():
        parts = rel.split("/")
        if len(parts) == 2 and parts[0] == "charts" and parts[1].endswith(".tgz"):
            have.add(_subchart_name(data))
        elif len(parts) == 3 and parts[0] == "charts" and parts[2] == "Chart.yaml":
            sub = yaml.safe_load(io.BytesIO(data))
            have.add(str(sub.get("name")) if isinstance(sub, dict) else None)
    return [n for n in wanted if n not in have]


def check_chart(archive: Path) -> tuple[str, str]:
    """(name, version) of a bundled chart archive that is the pinned release of a chart llmops deploys, named
    ``<name>-<version>.tgz``; anything else is refused with one line naming the file and what to fetch."""
    top, files = chart_files(archive)
    name, version = chart_identity(archive, files)
    pin = CHARTS.get(name)
    if pin is None:
        raise InputError(
            f"--airgap-bundle: {archive} is the chart {name!r}, which llmops does not deploy",
            hint=f"remove it; the bundled charts are: {', '.join(sorted(CHARTS))}",
        )
    if version != pin.version:
        raise InputError(
            f"--airgap-bundle: {archive} is {name} {version}, not the pinned {pin.version}: refusing it",
            hint=f"put {name}-{pin.version}.tgz there: `llmops bundle DIR --chart {name}` fetches it",
        )
    missing = missing_dependencies(files)
    if missing:
        raise InputError(
            f"--airgap-bundle: {archive} does not carry its dependencies {', '.join(missing)} under charts/ "
            "(Argo CD would fetch them): refusing it",
            hint="take the archive the chart's repository publishes (`llmops bundle DIR` fetches it)",
        )
    if archive.name != f"{name}-{version}.tgz" or top != name:
        raise InputError(
            f"--airgap-bundle: {archive} holds {name} {version} but is not named {name}-{version}.tgz "
            f"with the folder {name}/ inside",
            hint="keep the file as `helm pull` wrote it",
        )
    return name, version


def repo_files(charts: Iterable[BundledChart]) -> dict[str, bytes]:
    """The bundled charts unpacked for the local Git repository: ``charts/<name>/<version>/<file>`` -> bytes.
    Each archive is read once and its hash checked again (it was checked when the bundle was read)."""
    import hashlib

    out: dict[str, bytes] = {}
    for chart in charts:
        data = chart.archive.read_bytes()
        got = hashlib.sha256(data).hexdigest()
        if got != chart.sha256:
            raise InputError(
                f"--airgap-bundle: {chart.archive} changed since it was checked (sha256 {got}): refusing it",
                hint="put the file back as the bundle's SHA256SUMS lists it",
            )
        _, files = chart_files(chart.archive, data)
        out.update({f"{chart.repo_path}/{rel}": body for rel, body in files.items()})
    return out


def internet_charts(tree: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(chart, version, repository) of each Application in a rendered tree that pulls its chart from a Helm
    repository (a ``chart`` source) rather than from the tree's Git repository."""
    import yaml

    out = []
    for path, text in sorted(tree.items()):
        if not path.startswith("apps/"):
            continue
        obj: Any = yaml.safe_load(text)
        src = ((obj or {}).get("spec") or {}).get("source") or {}
        if obj.get("kind") == "Application" and src.get("chart"):
            out.append((str(src["chart"]), str(src.get("targetRevision")), str(src.get("repoURL"))))
    return out
