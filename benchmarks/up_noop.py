"""How long a no-op `llmops up` takes on a healthy platform, next to the first run that built it.

Runs the real plan and the real Kubernetes adapter against a local, stateful HTTP stand-in for the Kubernetes
API (objects in memory, server-side apply stores the body, controllers mark workloads ready and Applications
Healthy). The host is the in-memory FakeHost: no k3s is installed. Prints wall time and API requests for the
first run (baseline) and the second run (the no-op), which must change nothing.

    PYTHONPATH=. python benchmarks/up_noop.py
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from tempfile import mkdtemp
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from llmops_cli.adapters.kube import Kube
from llmops_cli.cluster.context import StepContext
from llmops_cli.cluster.plan import UpOptions, build_plan
from llmops_cli.cluster.state import State
from llmops_cli.cluster.up import run_up
from llmops_cli.config.model import Settings
from llmops_cli.reporting import NullReporter
from tests.cluster.conftest import Cluster, make_facts, make_inputs

PATH = re.compile(
    r"^/apis?/(?:(?P<group>[^/]+)/)?(?P<version>v[^/]+)(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>log))?$"
)


class Api:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.requests = 0
        self.lock = threading.Lock()

    def controllers(self) -> None:
        for (plural, ns, name), obj in list(self.objects.items()):
            if plural == "helmcharts":
                for d in ("argo-cd-argocd-server", "argo-cd-argocd-repo-server"):
                    self.objects.setdefault(
                        ("deployments", "argocd", d),
                        {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "metadata": {"name": d, "namespace": "argocd"},
                            "spec": {"replicas": 1},
                            "status": {"availableReplicas": 1},
                        },
                    )
            if plural == "deployments":
                obj.setdefault("status", {"availableReplicas": 1})
            if plural == "jobs":
                obj["status"] = {"succeeded": 1}
                self.objects[("pods", ns, name + "-x")] = {
                    "metadata": {"name": name + "-x", "namespace": ns, "labels": {"job-name": name}}
                }
            if plural == "applications":
                obj["status"] = {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}

    def __call__(self, environ: dict[str, Any], start: Any) -> list[bytes]:
        with self.lock:
            self.requests += 1
            method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            m = PATH.match(path)
            status, out = "404 Not Found", {"kind": "Status", "code": 404}
            if m:
                plural, ns, name = m["plural"], m["ns"] or "", m["name"]
                if m["sub"] == "log":
                    status, out = "200 OK", "GPU 0: fake\n"
                elif name is None and method == "GET":
                    status, out = (
                        "200 OK",
                        {
                            "items": [
                                o
                                for (p, n, _), o in sorted(self.objects.items())
                                if p == plural and (not ns or n == ns)
                            ]
                        },
                    )
                elif method == "PATCH":
                    obj = json.loads(body)
                    old = self.objects.get((plural, ns, name), {})
                    if "status" in old:
                        obj["status"] = old["status"]
                    self.objects[(plural, ns, name)] = obj
                    self.controllers()
                    status, out = "200 OK", obj
                elif method == "DELETE":
                    if self.objects.pop((plural, ns, name), None) is not None:
                        status, out = "200 OK", {"kind": "Status"}
                elif (plural, ns, name) in self.objects:
                    status, out = "200 OK", self.objects[(plural, ns, name)]
            payload = out if isinstance(out, str) else json.dumps(out)
            start(status, [("Content-Type", "application/json")])
            return [payload.encode()]


class Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


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
    api = Api()
    server = make_server("127.0.0.1", 0, api, handler_class=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    cluster = Cluster()
    state = State(Path(mkdtemp()) / "state.json")
    home = mkdtemp()
    first = run(api, url, cluster, state, home)
    second = run(api, url, cluster, state, home)
    server.shutdown()
    assert second[2] == 0, "the second up changed something"
    print(f"{'run':<22}{'seconds':>10}{'API requests':>15}{'changed steps':>15}")
    print(f"{'first up (baseline)':<22}{first[0]:>10.3f}{first[1]:>15}{first[2]:>15}")
    print(f"{'second up (no-op)':<22}{second[0]:>10.3f}{second[1]:>15}{second[2]:>15}")


if __name__ == "__main__":
    main()
