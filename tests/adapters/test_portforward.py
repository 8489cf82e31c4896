"""The port-forward adapter through the kubernetes client's real websocket code, against an API stand-in that
speaks the kubelet's port-forward protocol (tests/adapters/kubeapi_ws.py) to real local servers."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmops_cli.adapters.kube import Kube
from llmops_cli.adapters.portforward import PortForward, forward_service
from llmops_cli.errors import ClusterError
from tests.adapters.kubeapi_ws import KubeApi, kubeconfig, pod, serve, service

pytestmark = pytest.mark.timeout(60)


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture(scope="module")
def echo() -> Iterator[int]:
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def web() -> Iterator[int]:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None:
            pass

        def do_GET(self) -> None:
            body = f"hello from {self.path}".encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def api(echo: int, web: int) -> Iterator[tuple[KubeApi, Kube]]:
    a = KubeApi()
    labels = {"app.kubernetes.io/name": "demo"}
    a.put(pod("demo-0", "llmops", labels, {"http": 8080, "echo": 7000}), "pods")
    a.put(pod("demo-1", "llmops", labels, {"http": 8080}, ready=False), "pods")
    a.put(
        service(
            "demo",
            "llmops",
            labels,
            [
                {"name": "http", "port": 80, "targetPort": "http"},
                {"name": "echo", "port": 7000},
                {"name": "dead", "port": 9, "targetPort": 9999},
            ],
        ),
        "services",
    )
    a.ports[("llmops", "demo-0", 8080)] = ("tcp", "127.0.0.1", web)
    a.ports[("llmops", "demo-0", 7000)] = ("tcp", "127.0.0.1", echo)
    with serve(a) as url:
        yield a, Kube.from_kubeconfig(kubeconfig(url), "x", timeout=(2.0, 5.0))


def test_http_through_a_named_target_port(api: tuple[KubeApi, Kube]) -> None:
    a, kube = api
    with forward_service(kube, "llmops", "demo", "http") as pf:
        assert pf.pod == "demo-0" and pf.port == 8080  # the ready pod; targetPort "http" -> its container port
        with httpx.Client(trust_env=False) as c:
            for i in range(3):
                assert c.get(f"{pf.url()}/x{i}").text == f"hello from /x{i}"
        # Concurrent connections: each has a websocket of its own.
        before = a.forwards
        threads = [threading.Thread(target=lambda: httpx.get(pf.url() + "/y", trust_env=False)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert a.forwards - before == 4


# Sizes across the websocket length encodings (<126, 16-bit, 64-bit) and several reads.
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.one_of(st.binary(min_size=1, max_size=300), st.binary(min_size=65_000, max_size=70_000)))
def test_bytes_arrive_unchanged_whatever_their_size(api: tuple[KubeApi, Kube], payload: bytes) -> None:
    _, kube = api
    with (
        forward_service(kube, "llmops", "demo", 7000) as pf,
        socket.create_connection(("127.0.0.1", pf.local_port)) as s,
    ):
        s.sendall(payload)
        got = b""
        s.settimeout(10)
        while len(got) < len(payload):
            chunk = s.recv(65536)
            assert chunk, "connection closed early"
            got += chunk
        assert got == payload


def test_a_refused_pod_port_closes_the_connection_and_says_why(api: tuple[KubeApi, Kube]) -> None:
    _, kube = api
    with forward_service(kube, "llmops", "demo", "dead") as pf:
        with pytest.raises(httpx.HTTPError):
            httpx.get(pf.url(), trust_env=False, timeout=5)
        deadline = time.monotonic() + 5
        while pf.last_error() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "error forwarding port 9999 to pod demo-0" in (pf.last_error() or "")


def test_refused_credentials_are_reported_not_raised(api: tuple[KubeApi, Kube]) -> None:
    a, _ = api
    with serve(a) as url:
        bad = Kube.from_kubeconfig(kubeconfig(url, token="wrong"), "x", timeout=(2.0, 5.0))
        with PortForward(bad, "llmops", "demo-0", 8080) as pf:
            with pytest.raises(httpx.HTTPError):
                httpx.get(pf.url(), trust_env=False, timeout=5)
            assert "port-forward to pod/demo-0:8080 in llmops failed" in (pf.last_error() or "")


def test_close_ends_open_connections_and_the_listener(api: tuple[KubeApi, Kube]) -> None:
    a, kube = api
    pf = forward_service(kube, "llmops", "demo", 7000)
    s = socket.create_connection(("127.0.0.1", pf.local_port))
    s.sendall(b"ping")
    assert s.recv(4) == b"ping"
    pf.close()
    s.settimeout(5)
    assert s.recv(10) == b""  # ended by close()
    s.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", pf.local_port), timeout=1)
    deadline = time.monotonic() + 5
    while a.open_forwards and time.monotonic() < deadline:
        time.sleep(0.05)
    assert a.open_forwards == 0


@pytest.mark.parametrize(
    ("name", "port", "message"),
    [
        ("nope", "http", "Service nope in namespace llmops not found"),
        ("demo", "grpc", "has no port 'grpc'"),
    ],
)
def test_service_problems_are_cluster_errors(api: tuple[KubeApi, Kube], name: str, port: str, message: str) -> None:
    _, kube = api
    with pytest.raises(ClusterError, match=message):
        forward_service(kube, "llmops", name, port)


def test_no_ready_pod_names_the_selector(api: tuple[KubeApi, Kube]) -> None:
    a, kube = api
    a.objects[("pods", "llmops", "demo-0")]["status"]["phase"] = "Pending"
    with pytest.raises(ClusterError) as e:
        forward_service(kube, "llmops", "demo", "http")
    assert "no ready pod behind Service demo" in e.value.message
    assert "app.kubernetes.io/name=demo" in (e.value.hint or "")
