"""A Kubernetes API stand-in that also forwards ports: GET of objects held in memory, and the pod
``portforward`` subresource over a websocket, bridged to real local sockets.

The port-forward side follows the kubelet (kubernetes/kubernetes ``pkg/kubelet/cri/streaming/portforward/
websocket.go``, ``handleWebSocketStreams``) and apimachinery's ``wsstream`` framing: the client offers
subprotocols and the server picks ``v4.channel.k8s.io``; ``?ports=N`` names the pod port; each binary message
starts with a channel byte (0 data, 1 error for the first port); both channels open with the port as a
little-endian uint16; a forward that cannot connect writes its error text on the error channel and closes.
A pod that is not Running, or a port it does not have, is refused the same way. Bearer-token auth is required
on every request (401 otherwise), as the API server does for a kubeconfig user with a token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import select
import socket
import socketserver
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
TOKEN = "verify-test-token"
PATH = re.compile(
    r"^/apis?/(?:(?P<group>[^/]+)/)?(?P<version>v[^/]+)(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)"
    r"(?:/(?P<name>[^/]+))?(?:/(?P<sub>portforward))?$"
)


def _read_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def read_frame(sock: socket.socket) -> tuple[int, bytes]:
    b1, b2 = _read_exact(sock, 2)
    opcode = b1 & 0x0F
    masked = b2 & 0x80
    n = b2 & 0x7F
    if n == 126:
        n = struct.unpack(">H", _read_exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", _read_exact(sock, 8))[0]
    key = _read_exact(sock, 4) if masked else b""
    data = _read_exact(sock, n)
    if masked:
        mask = int.from_bytes((key * (n // 4 + 1))[:n], "big")
        data = (int.from_bytes(data, "big") ^ mask).to_bytes(n, "big")
    return opcode, data


def frame(opcode: int, data: bytes) -> bytes:
    n = len(data)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + struct.pack(">H", n)
    else:
        head += bytes([127]) + struct.pack(">Q", n)
    return head + data


class KubeApi:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (plural, namespace, name) -> object
        # (namespace, pod, port) -> where the pod's port really is: ("tcp", host, port) or ("unix", path)
        self.ports: dict[tuple[str, str, int], tuple[Any, ...]] = {}
        self.forwards = 0
        self.open_forwards = 0
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def put(self, obj: dict[str, Any], plural: str) -> None:
        meta = obj["metadata"]
        self.objects[(plural, meta.get("namespace", ""), meta["name"])] = obj

    # -------------------------------------------------------------------------------------------- REST
    def get(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        m = PATH.match(path)
        if not m:
            return 404, {"kind": "Status", "code": 404, "message": "not found"}
        plural, ns, name = m["plural"], m["ns"] or "", m["name"]
        if name is None:
            sel = dict(kv.split("=", 1) for kv in (query.get("labelSelector", [""])[0].split(",")) if kv)
            items = [
                o
                for (p, n, _), o in sorted(self.objects.items())
                if p == plural
                and (not ns or n == ns)
                and all((o["metadata"].get("labels") or {}).get(k) == v for k, v in sel.items())
            ]
            return 200, {"kind": "List", "items": items}
        obj = self.objects.get((plural, ns, name))
        if obj is None:
            return 404, {"kind": "Status", "code": 404, "message": f'{plural} "{name}" not found'}
        return 200, obj

    # -------------------------------------------------------------------------------------------- port-forward
    def forward(self, sock: socket.socket, ns: str, pod_name: str, port: int) -> None:
        with self.lock:
            self.forwards += 1
            self.open_forwards += 1
        target: socket.socket | None = None
        try:
            sock.sendall(frame(2, bytes([0]) + struct.pack("<H", port)))
            sock.sendall(frame(2, bytes([1]) + struct.pack("<H", port)))
            pod = self.objects.get(("pods", ns, pod_name))
            where = self.ports.get((ns, pod_name, port))
            try:
                if pod is None or (pod.get("status") or {}).get("phase") != "Running" or where is None:
                    raise OSError("connection refused")
                if where[0] == "unix":
                    target = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    target.connect(where[1])
                else:
                    target = socket.create_connection((where[1], where[2]), timeout=5)
            except OSError as e:
                msg = f"error forwarding port {port} to pod {pod_name}: {e}"
                sock.sendall(frame(2, bytes([1]) + msg.encode()))
                sock.sendall(frame(8, b""))
                return
            while True:
                ready, _, _ = select.select([sock, target], [], [], 5)
                if not ready:
                    continue
                if sock in ready:
                    opcode, data = read_frame(sock)
                    if opcode == 8:
                        return
                    if opcode == 2 and data and data[0] == 0:
                        target.sendall(data[1:])
                if target in ready:
                    data = target.recv(65536)
                    if not data:
                        sock.sendall(frame(8, b""))
                        return
                    sock.sendall(frame(2, bytes([0]) + data))
        except (ConnectionError, OSError):
            return
        finally:
            if target is not None:
                target.close()
            with self.lock:
                self.open_forwards -= 1


class _Handler(socketserver.BaseRequestHandler):
    api: KubeApi

    def handle(self) -> None:
        sock: socket.socket = self.request
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return
            data += chunk
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        request_line, *lines = head.split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines if ":" in line)}
        parts = urlsplit(target)
        query = parse_qs(parts.query)
        self.api.requests.append((method, parts.path))
        if headers.get("authorization") != f"Bearer {TOKEN}":
            return self._json(sock, 401, {"kind": "Status", "code": 401, "message": "Unauthorized"})
        m = PATH.match(parts.path)
        if m and m["sub"] == "portforward":
            offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")]
            if headers.get("upgrade", "").lower() != "websocket" or "v4.channel.k8s.io" not in offered:
                return self._json(sock, 400, {"kind": "Status", "code": 400, "message": "upgrade request required"})
            ports = query.get("ports", [""])[0]
            if not ports.isdigit():
                return self._json(sock, 400, {"kind": "Status", "code": 400, "message": "ports is required"})
            accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + WS_GUID).encode()).digest())
            sock.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: " + accept + b"\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n"
            )
            return self.api.forward(sock, m["ns"], m["name"], int(ports))
        if method != "GET":
            return self._json(sock, 405, {"kind": "Status", "code": 405})
        status, body = self.api.get(parts.path, query)
        self._json(sock, status, body)

    def _json(self, sock: socket.socket, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        sock.sendall(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + data
        )


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def serve(api: KubeApi) -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), type("H", (_Handler,), {"api": api}))
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def kubeconfig(url: str, token: str = TOKEN) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": url}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }


def service(
    name: str,
    namespace: str,
    selector: dict[str, str],
    ports: list[dict[str, Any]],
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {"selector": selector, "ports": ports},
    }


def pod(
    name: str, namespace: str, labels: dict[str, str], ports: dict[str, int], *, ready: bool = True
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "containers": [{"name": "main", "ports": [{"name": k, "containerPort": v} for k, v in ports.items()]}]
        },
        "status": {
            "phase": "Running" if ready else "Pending",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }
