"""A stateful stand-in for the Kubernetes API over real HTTP: objects in memory, server-side apply stores the
body, simple controllers mark workloads ready, Jobs succeeded and Applications Synced/Healthy. Each request is
recorded (method, path, query, content type) so tests can assert exactly what llmops sent."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, make_server

PATH = re.compile(
    r"^/apis?/(?:(?P<group>[^/]+)/)?(?P<version>v[^/]+)(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>log))?$"
)


class Api:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.requests = 0
        self.log: list[tuple[str, str, dict[str, list[str]], str]] = []
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
            query = parse_qs(environ.get("QUERY_STRING", ""))
            self.log.append((method, path, query, environ.get("CONTENT_TYPE", "")))
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


@contextmanager
def serve() -> Iterator[tuple[Api, str]]:
    api = Api()
    server = make_server("127.0.0.1", 0, api, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def up_over_http(
    api: Api, url: str, cluster: Any, state: Any, home: Path, *, reporter: Any = None, timeout: float = 30.0
) -> tuple[Any, Any]:
    """(plan, context) for a whole `up` through the real Kube adapter against this stand-in, on a Ready node.

    Shared by tests/cluster/test_up_against_api.py and benchmarks/up_noop.py, so the benchmark measures exactly
    the path the test proves.
    """
    from llmops_cli.adapters.kube import Kube
    from llmops_cli.cluster.model import StepContext, UpOptions
    from llmops_cli.cluster.plan import build_plan
    from llmops_cli.config.model import Settings
    from llmops_cli.reporting import NullReporter
    from tests.cluster.conftest import make_facts, make_inputs

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
        options=UpOptions(timeout=timeout),
        reporter=reporter if reporter is not None else NullReporter(),
        state=state,
        kube_factory=lambda: Kube.from_kubeconfig(kubeconfig, "x", timeout=(2.0, 5.0)),
        environ={"KUBECONFIG": str(Path(home) / "config"), "HOME": str(home)},
        sleep=lambda s: None,
    )
    return build_plan(settings, facts, inputs), ctx
