"""Export the pinned charts (and the subcharts they need) from Git clones of their repositories.

    python -m tests.render.upstream.chart_sources CLONES OUT

CLONES holds one clone (or bare mirror) per repository, named ``owner+name`` (with or without a ``/repo``
git directory inside); OUT receives one chart directory per chart name, at the tag the pins and fact tables
name. The charts stay outside this repository (they are upstream code): point LLMOPS_CHART_SOURCES at OUT to
run tests/render/test_helm_charts.py through a real Helm engine.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

from .rendered import CHART_TABLES, release

# chart name -> (repository, tag, path in the repository); the tag comes from the chart's fact table.
CHART_PATHS = {
    "argo-cd": "charts/argo-cd",
    "argo-rollouts": "charts/argo-rollouts",
    "prometheus-operator-crds": "charts/prometheus-operator-crds",
    "kube-prometheus-stack": "charts/kube-prometheus-stack",
    "loki": "charts/loki",
    "alloy": "operations/helm/charts/alloy",
    "nvidia-device-plugin": "deployments/helm/nvidia-device-plugin",
    "dcgm-exporter": "deployment",
    "cloudnative-pg": "charts/cloudnative-pg",
    "plugin-barman-cloud": "charts/plugin-barman-cloud",
    "cert-manager": "deploy/charts/cert-manager",
}
# Subcharts `helm dependency build` would download: (parent, name, repository, tag, path).
SUBCHARTS = [
    ("kube-prometheus-stack", "kube-state-metrics", "prometheus-community/helm-charts", "kube-state-metrics-8.4.0",
     "charts/kube-state-metrics"),
    ("kube-prometheus-stack", "prometheus-node-exporter", "prometheus-community/helm-charts",
     "prometheus-node-exporter-4.56.1", "charts/prometheus-node-exporter"),
    ("kube-prometheus-stack", "prometheus-windows-exporter", "prometheus-community/helm-charts",
     "prometheus-windows-exporter-0.12.8", "charts/prometheus-windows-exporter"),
    ("kube-prometheus-stack", "grafana", "grafana-community/helm-charts", "grafana-12.11.1", "charts/grafana"),
]  # fmt: skip


def _git_dir(clones: Path, repo: str) -> Path:
    base = clones / repo.replace("/", "+")
    return base / "repo" if (base / "repo").is_dir() else base


def export(clones: Path, repo: str, tag: str, path: str, dest: Path) -> None:
    data = subprocess.run(
        ["git", "-C", str(_git_dir(clones, repo)), "archive", "--format=tar", tag.split(" ")[0], path],
        check=True,
        capture_output=True,
    ).stdout
    depth = len(path.split("/"))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")[depth:]
            if not parts or member.issym() or member.islnk():
                continue
            member.name = "/".join(parts)
            tar.extract(member, dest, filter="data")


# Charts whose Chart.yaml holds a placeholder at the tag: the release packages them with the release's version as
# version and appVersion (cert-manager v1.21.1 make/_shared_new/helm/helm.mk: helm package --version --app-version).
STAMPED = {"cert-manager"}


def stamp(chart_dir: Path, version: str) -> None:
    meta = chart_dir / "Chart.yaml"
    lines = meta.read_text().splitlines()
    keys = ("version:", "appVersion:")
    meta.write_text(
        "\n".join(f"{ln.split(':', 1)[0]}: {version}" if ln.startswith(keys) else ln for ln in lines) + "\n"
    )


def main(clones: Path, out: Path) -> int:
    """Exports what it can; a tag missing from a clone (an older snapshot) is named on stderr, and the exit
    status is 1."""
    missing = 0
    jobs = [(chart, *_pinned(chart), path, out / chart) for chart, path in CHART_PATHS.items()]
    jobs += [(name, repo, tag, path, out / parent / "charts" / name) for parent, name, repo, tag, path in SUBCHARTS]
    for chart, repo, tag, path, dest in jobs:
        try:
            export(clones, repo, tag, path, dest)
        except subprocess.CalledProcessError:
            missing += 1
            print(
                f"{chart}: {repo} has no tag {tag.split(' ')[0]} in {clones} (fetch a newer clone); not exported",
                file=sys.stderr,
            )
            continue
        if chart in STAMPED:
            stamp(dest, release(CHART_TABLES[chart]).version)
    return 1 if missing else 0


def _pinned(chart: str) -> tuple[str, str]:
    rel = release(CHART_TABLES[chart])
    return rel.repo, rel.tag


if __name__ == "__main__":  # pragma: no cover - a developer tool
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
