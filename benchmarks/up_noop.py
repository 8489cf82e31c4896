"""How long a no-op `llmops up` takes on a healthy platform, next to the first run that built it.

Runs the real plan and the real Kubernetes adapter against the simulated cluster behind a local HTTP API
(tests/cluster/kubesim.py: objects in memory, server-side apply, scheduler, controllers, Argo CD syncing the
rendered tree). The host is the simulated laptop (FakeHost): no k3s is installed. Prints wall time and API
requests for the first run (baseline) and the second run (the no-op), which must change nothing.

    PYTHONPATH=. python benchmarks/up_noop.py
"""

from __future__ import annotations

import time
from pathlib import Path
from tempfile import mkdtemp

from llmops_cli.cluster.state import State
from llmops_cli.cluster.up import run_up
from tests.cluster.apistub import Api, serve, up_over_http
from tests.cluster.conftest import Cluster


def run(api: Api, url: str, cluster: Cluster, state: State, home: str) -> tuple[float, int, int]:
    plan, ctx = up_over_http(api, url, cluster, state, Path(home), timeout=60)
    before = api.requests
    t0 = time.perf_counter()
    report = run_up(plan, ctx)
    assert report.run is not None
    return time.perf_counter() - t0, api.requests - before, report.run.changed


def main() -> None:
    import hashlib

    from llmops_cli.adapters import upstream
    from tests.cluster.conftest import INSTALLER_TEXT

    # The simulated download serves a stand-in installer; pin its hash as the tests do.
    upstream.K3S_INSTALLER_SHA256 = hashlib.sha256(INSTALLER_TEXT.encode()).hexdigest()  # type: ignore[misc]
    cluster = Cluster()
    state = State(Path(mkdtemp()) / "state.json")
    home = mkdtemp()
    with serve(cluster.sim) as (api, url):
        first = run(api, url, cluster, state, home)
        second = run(api, url, cluster, state, home)
    assert second[2] == 0, "the second up changed something"
    print(f"{'run':<22}{'seconds':>10}{'API requests':>15}{'changed steps':>15}")
    print(f"{'first up (baseline)':<22}{first[0]:>10.3f}{first[1]:>15}{first[2]:>15}")
    print(f"{'second up (no-op)':<22}{second[0]:>10.3f}{second[1]:>15}{second[2]:>15}")


if __name__ == "__main__":
    main()
