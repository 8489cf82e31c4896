"""The simulated cluster (:mod:`tests.cluster.kubesim`) behind a real HTTP API: the real Kube adapter talks to
it as to an API server (paths, discovery, server-side apply and merge-patch content types, DeleteOptions, logs),
and gets the answers a real one gives, errors included. Each request is recorded (method, path, query, content
type) so tests can assert exactly what llmops sent."""

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

from tests.cluster.kubesim import TYPES, Sim, SimError

PATH = re.compile(
    r"^/apis?/(?:(?P<group>[^/]+)/)?(?P<version>v[^/]+)(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>log))?$"
)
DISCOVERY = re.compile(r"^/apis?/(?:(?P<group>[^/]+)/)?(?P<version>v[^/]+)$")
KINDS = {(av, plural): kind for (av, kind), (plural, _) in TYPES.items()}


class Api:
    def __init__(self, sim: Sim | None = None) -> None:
        self.sim = sim or Sim()
        self.requests = 0
        self.log: list[tuple[str, str, dict[str, list[str]], str]] = []
        self.lock = threading.Lock()

    def _answer(self, method: str, path: str, query: dict[str, list[str]], ctype: str, body: bytes) -> tuple[int, Any]:
        sim = self.sim
        d = DISCOVERY.match(path)
        if d and method == "GET":
            av = f"{d['group']}/{d['version']}" if d["group"] else d["version"]
            resources = [
                {"name": plural, "kind": kind, "namespaced": namespaced}
                for (a, kind), (plural, namespaced) in TYPES.items()
                if a == av and sim.type_exists(a, kind)
            ]
            return (200, {"kind": "APIResourceList", "groupVersion": av, "resources": resources})
        m = PATH.match(path)
        if not m:
            return 404, {"kind": "Status", "code": 404, "reason": "NotFound", "message": f"no route {path}"}
        av = f"{m['group']}/{m['version']}" if m["group"] else m["version"]
        kind = KINDS.get((av, m["plural"]))
        if kind is None or not sim.type_exists(av, kind):
            return 404, {
                "kind": "Status",
                "code": 404,
                "reason": "NotFound",
                "message": "the server could not find the requested resource",
            }
        ns, name = m["ns"], m["name"]
        if m["sub"] == "log":
            return 200, sim.logs(name, ns)
        if name is None and method == "GET":
            one = lambda k: (query.get(k) or [None])[0]  # noqa: E731
            items = sim.list(av, kind, ns, label_selector=one("labelSelector"), field_selector=one("fieldSelector"))
            return 200, {"kind": f"{kind}List", "items": items}
        if method == "GET":
            obj = sim.get(av, kind, name, ns)
            if obj is None:
                return 404, {
                    "kind": "Status",
                    "code": 404,
                    "reason": "NotFound",
                    "message": f'{m["plural"]} "{name}" not found',
                }
            return 200, obj
        if method == "PATCH":
            patch = json.loads(body)
            if ctype.startswith("application/apply-patch"):
                return 200, sim.apply(patch)
            if ctype.startswith("application/merge-patch+json"):
                return 200, sim.merge_patch(av, kind, name, patch, ns)
            return 415, {"kind": "Status", "code": 415, "reason": "UnsupportedMediaType", "message": ctype}
        if method == "DELETE":
            if sim.delete(av, kind, name, ns):
                return 200, {"kind": "Status", "status": "Success"}
            return 404, {
                "kind": "Status",
                "code": 404,
                "reason": "NotFound",
                "message": f'{m["plural"]} "{name}" not found',
            }
        return 405, {"kind": "Status", "code": 405, "reason": "MethodNotAllowed", "message": method}

    def __call__(self, environ: dict[str, Any], start: Any) -> list[bytes]:
        with self.lock:
            self.requests += 1
            method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            query = parse_qs(environ.get("QUERY_STRING", ""))
            ctype = environ.get("CONTENT_TYPE", "")
            self.log.append((method, path, query, ctype))
            self.sim.tick()
            try:
                code, out = self._answer(method, path, query, ctype, body)
            except SimError as e:
                code, out = e.status, {"kind": "Status", "code": e.status, "reason": e.reason, "message": e.message}
            if method != "GET":
                self.sim.tick()
            payload = out if isinstance(out, str) else json.dumps(out)
            start(f"{code} X", [("Content-Type", "application/json")])
            return [payload.encode()]


class Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def serve(sim: Sim | None = None) -> Iterator[tuple[Api, str]]:
    api = Api(sim)
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
    """(plan, context) for a whole `up` through the real Kube adapter against this stand-in, on the simulated
    laptop ``cluster`` (whose host runs the installer; its cluster is ``api.sim``).

    Shared by tests/cluster/test_up_against_api.py and benchmarks/up_noop.py, so the benchmark measures exactly
    the path the test proves.
    """
    from llmops_cli.adapters.kube import Kube
    from llmops_cli.cluster.model import StepContext, UpOptions
    from llmops_cli.cluster.plan import build_plan
    from llmops_cli.config.model import Settings
    from llmops_cli.reporting import NullReporter
    from tests.cluster.conftest import make_inputs
    from tests.cluster.fakes import FakeClock

    settings = Settings()
    facts = cluster.facts()
    inputs = make_inputs(settings)
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": url}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
    }
    clock = FakeClock()
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
        sleep=clock.sleep,
        clock=clock.now,
    )
    return build_plan(settings, facts, inputs), ctx
