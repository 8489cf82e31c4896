"""Port-forwards to Services, as ``kubectl port-forward svc/NAME`` makes them, opened and closed by llmops itself.

A :class:`PortForward` listens on 127.0.0.1 at a port the kernel picks. Each connection accepted there gets its
own websocket to the pod's ``portforward`` subresource (the kubernetes client's ``stream.portforward``), and bytes
are pumped both ways until either side closes.

Upstream facts this follows:
- kubernetes/kubernetes ``pkg/kubelet/cri/streaming/portforward/websocket.go`` (``handleWebSocketStreams``):
  ``?ports=N`` selects the pod port; with protocol ``v4.channel.k8s.io`` every message starts with a channel
  byte, channel ``2i`` carries port i's data and ``2i+1`` its errors; the server opens both channels with the
  port as a little-endian uint16, and a failed forward writes its error text to the error channel and closes.
- kubernetes-client/python v37 ``kubernetes/stream/ws_client.py`` (``PortForward``): one websocket per
  ``portforward`` call, a socket per port; what arrives on the error channel is kept in ``error(port)``.
- kubernetes/kubectl ``pkg/cmd/portforward/portforward.go`` (``translateServicePortToTargetPort``): a Service
  port maps to its ``targetPort``, a named one to the container port of that name in the chosen pod, no
  ``targetPort`` to the port itself; the pod is a running one selected by the Service's selector.
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from llmops_cli.errors import ClusterError

if TYPE_CHECKING:
    from llmops_cli.adapters.kube import Kube

_CHUNK = 64 * 1024


class PortForward:
    """A loopback listener whose connections reach ``pod``:``port`` in ``namespace``."""

    def __init__(self, kube: Kube, namespace: str, pod: str, port: int, *, what: str | None = None) -> None:
        self.kube = kube
        self.namespace = namespace
        self.pod = pod
        self.port = port
        self.what = what or f"pod/{pod}:{port} in {namespace}"
        self.errors: list[str] = []  # what the API server or kubelet reported for failed connections
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.local_port: int = self._listener.getsockname()[1]
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        accept = threading.Thread(target=self._accept, name=f"llmops port-forward {self.what}", daemon=True)
        accept.start()
        self._threads.append(accept)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.local_port}"

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://{self.address}"

    def last_error(self) -> str | None:
        return self.errors[-1] if self.errors else None

    # ------------------------------------------------------------------ plumbing
    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            if self._closed.is_set():
                conn.close()
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self._open.add(conn)
                self._threads = [x for x in self._threads if x.is_alive()]
                self._threads.append(t)
            t.start()

    def _connect(self) -> Any:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException
        from kubernetes.stream import portforward

        api = client.CoreV1Api(self.kube.t.api_client)  # type: ignore[attr-defined]
        try:
            return portforward(
                api.connect_get_namespaced_pod_portforward,
                self.pod,
                self.namespace,
                ports=str(self.port),
                _request_timeout=self.kube.timeout,
            )
        except ApiException as e:
            reason = (e.reason or str(e)).strip().splitlines()[0] if (e.reason or str(e)) else "failed"
            raise ClusterError(f"port-forward to {self.what} failed: {reason}") from e

    def _serve(self, conn: socket.socket) -> None:
        pf = None
        try:
            try:
                pf = self._connect()
            except ClusterError as e:
                self.errors.append(e.message)
                return
            remote = pf.socket(self.port)
            remote.setblocking(True)
            self._pump(conn, remote)
            error = pf.error(self.port)
            if error:
                self.errors.append(f"port-forward to {self.what}: {error.strip()}")
        finally:
            with self._lock:
                self._open.discard(conn)
            conn.close()
            if pf is not None:
                pf.close()

    def _pump(self, local: socket.socket, remote: Any) -> None:
        """Copy bytes both ways until either side closes. The client library's proxy ends the websocket as soon
        as its socket reads end-of-file, so a local half-close cannot be passed on: it ends the connection, as
        it does for kubectl's streams."""
        ends = {local: remote, remote: local}
        while not self._closed.is_set():
            try:
                ready, _, _ = select.select([local, remote], [], [], 0.5)
            except (OSError, ValueError):
                return
            for src in ready:
                try:
                    data = src.recv(_CHUNK)
                except OSError:
                    data = b""
                if not data:
                    return
                try:
                    ends[src].sendall(data)
                except OSError:
                    return

    def close(self) -> None:
        """Stop listening and end every forwarded connection."""
        self._closed.set()
        try:
            # shutdown wakes the thread blocked in accept(); close alone would leave it, and the port, open.
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            conns = list(self._open)
            threads = list(self._threads)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in threads:
            t.join(2.0)

    def __enter__(self) -> PortForward:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------- Services
def _ready(pod: Mapping[str, Any]) -> bool:
    st = pod.get("status") or {}
    if (pod.get("metadata") or {}).get("deletionTimestamp") or st.get("phase") != "Running":
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])


def _target_port(pod: Mapping[str, Any], service_port: Mapping[str, Any], where: str) -> int:
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target and p.get("containerPort"):
                return int(p["containerPort"])
    raise ClusterError(
        f"{where}: no container port named {target!r} in pod {pod['metadata']['name']}",
        hint="the Service's targetPort and the pod's ports disagree; re-sync the Application",
    )


def service_port(svc: Mapping[str, Any], port: int | str) -> Mapping[str, Any] | None:
    """The Service port with this name or number, or None."""
    for p in (svc.get("spec") or {}).get("ports") or []:
        if p.get("name") == port or p.get("port") == port:
            return dict(p)
    return None


def forward_service(kube: Kube, namespace: str, service: str, port: int | str) -> PortForward:
    """Open a port-forward to ``service``'s ``port`` (name or number) through one ready pod behind it."""
    where = f"Service {service} in namespace {namespace}"
    svc = kube.get("v1", "Service", service, namespace)
    if svc is None:
        raise ClusterError(f"{where} not found", hint="is its Argo CD Application synced? see `llmops status`")
    sport = service_port(svc, port)
    if sport is None:
        raise ClusterError(f"{where} has no port {port!r}", hint="re-render and sync the tree: `llmops sync`")
    selector = (svc.get("spec") or {}).get("selector") or {}
    if not selector:
        raise ClusterError(f"{where} has no pod selector: nothing to forward to")
    pods = kube.list("v1", "Pod", namespace, label_selector=",".join(f"{k}={v}" for k, v in sorted(selector.items())))
    ready = sorted((p for p in pods if _ready(p)), key=lambda p: p["metadata"]["name"])
    if not ready:
        raise ClusterError(
            f"no ready pod behind {where} ({len(pods)} pods)",
            hint=f"kubectl -n {namespace} get pods -l {','.join(f'{k}={v}' for k, v in sorted(selector.items()))}",
        )
    pod = ready[0]
    target = _target_port(pod, sport, where)
    return PortForward(kube, namespace, pod["metadata"]["name"], target, what=f"svc/{service}:{sport.get('port')}")
