"""How long a no-op `llmops up` takes on a healthy platform, next to the first run that built it.

Runs the real plan and the real Kubernetes adapter against a local, stateful HTTP stand-in for the Kubernetes
API (objects in memory, server-side apply stores the body, controllers mark workloads ready and Applications
Healthy). The host is the in-memory FakeHost: no k3s is installed. Prints wall time and API requests for the
first run (baseline) and the second run (the no-op), which must change nothing.

    PYTHONPATH=. python benchmarks/up_noop.py
"""

from __future__ import annotations

import time
from pathlib import Path
from tempfile import mkdtemp

from llmops_cli.adapters.kube import Kube
from llmops_cli.cluster.context import StepContext
from llmops_cli.cluster.plan import UpOptions, build_plan
from llmops_cli.cluster.state import State
from llmops_cli.cluster.up import run_up
from llmops_cli.config.model import Settings
from llmops_cli.reporting import NullReporter
from tests.cluster.apistub import Api, serve
from tests.cluster.conftest import Cluster, make_facts, make_inputs


def run(api: Api, url: str, cluster: Cluster, state: State, home: str) -> tuple[float, int, int]:
    settings = Settings()
    facts = make_facts(k3s=settings.cluster.k3s_version) if cluster.installs else make_facts()
    inputs = make_inputs()
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": url}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
    }
    api.objects.setdefault(
        ("nodes", "", "laptop"),
        {
            "metadata": {"name": "laptop", "labels": {"kubernetes.io/hostname": "laptop"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        },
    )
    ctx = StepContext(
        host=cluster.host,
        settings=settings,
        facts=facts,
        inputs=inputs,
        options=UpOptions(timeout=60),
        reporter=NullReporter(),
        state=state,
        kube_factory=lambda: Kube.from_kubeconfig(kubeconfig, "x"),
        environ={"KUBECONFIG": str(Path(home) / "config"), "HOME": home},
        sleep=lambda s: None,
    )
    before = api.requests
    t0 = time.perf_counter()
    report = run_up(build_plan(settings, facts, inputs), ctx)
    assert report.run is not None
    return time.perf_counter() - t0, api.requests - before, report.run.changed


def main() -> None:
    cluster = Cluster()
    state = State(Path(mkdtemp()) / "state.json")
    home = mkdtemp()
    with serve() as (api, url):
        first = run(api, url, cluster, state, home)
        second = run(api, url, cluster, state, home)
    assert second[2] == 0, "the second up changed something"
    print(f"{'run':<22}{'seconds':>10}{'API requests':>15}{'changed steps':>15}")
    print(f"{'first up (baseline)':<22}{first[0]:>10.3f}{first[1]:>15}{first[2]:>15}")
    print(f"{'second up (no-op)':<22}{second[0]:>10.3f}{second[1]:>15}{second[2]:>15}")


if __name__ == "__main__":
    main()
