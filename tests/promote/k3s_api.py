"""The first server's API as k3s serves it, inside the VM: HTTPS on the VM's own 127.0.0.1:6443 (this machine has
no route to it), a serving certificate from the cluster's server CA that names what k3s names, client
certificates checked against a separate client CA, and the k3s.yaml that k3s writes for them.

Facts (k3s-io/k3s): the serving certificate's SANs always hold "127.0.0.1", "::1", "localhost" and the node name,
then the node's IPs and every ``tls-san`` (pkg/cli/server/server.go, ``serverConfig.ControlConfig.SANs =
append(...)``; pkg/cluster/https.go passes them to dynamiclistener), signed by the server CA; the admin
kubeconfig /etc/rancher/k3s/k3s.yaml names ``https://127.0.0.1:6443`` with that CA and a client certificate of
the client CA (k3s server's ``--write-kubeconfig``). Behind the TLS: the simulated cluster's HTTP API
(tests/cluster/apistub.py), whose nodes and Git follow the VMs (tests/promote/conftest.py VmCluster).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIServer

from tests.cluster.apistub import Api, Quiet
from tests.promote.conftest import VmCluster, service_running
from tests.sshvm import Vm

# Where the stand-in systemctl (k3s_standin.py) takes the k3s.yaml it writes at k3s's start, when present.
K3S_YAML_TEMPLATE = "/etc/llmops-standin/k3s.yaml"
K3S_SANS = ("127.0.0.1", "::1", "localhost")


def _pem(obj: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    if hasattr(obj, "public_bytes"):
        return bytes(obj.public_bytes(serialization.Encoding.PEM))
    return bytes(
        obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def _cert(subject: str, issuer: Any, issuer_key: Any, key: Any, *, ca: bool, sans: tuple[str, ...] = ()) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        alt: list[x509.GeneralName] = []
        for s in sans:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(s)))
            except ValueError:
                alt.append(x509.DNSName(s))
        b = b.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


@dataclass
class Pki:
    server_ca: bytes
    serving_cert: bytes
    serving_key: bytes
    client_ca: bytes
    client_cert: bytes
    client_key: bytes

    @classmethod
    def make(cls, sans: tuple[str, ...]) -> Pki:
        from cryptography.hazmat.primitives.asymmetric import ec

        def key() -> Any:
            return ec.generate_private_key(ec.SECP256R1())

        ska, cka, sk, ck = key(), key(), key(), key()
        server_ca = _cert("k3s-server-ca", None, ska, ska, ca=True)
        client_ca = _cert("k3s-client-ca", None, cka, cka, ca=True)
        serving = _cert("k3s", server_ca, ska, sk, ca=False, sans=sans)
        client = _cert("system:admin", client_ca, cka, ck, ca=False)
        return cls(_pem(server_ca), _pem(serving), _pem(sk), _pem(client_ca), _pem(client), _pem(ck))

    def k3s_yaml(self) -> str:
        def b64(data: bytes) -> str:
            return base64.b64encode(data).decode()

        return (
            "apiVersion: v1\nclusters:\n- cluster:\n"
            f"    certificate-authority-data: {b64(self.server_ca)}\n    server: https://127.0.0.1:6443\n"
            "  name: default\ncontexts:\n- context:\n    cluster: default\n    user: default\n  name: default\n"
            "current-context: default\nkind: Config\npreferences: {}\nusers:\n- name: default\n  user:\n"
            f"    client-certificate-data: {b64(self.client_cert)}\n    client-key-data: {b64(self.client_key)}\n"
        )

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "c.pem").write_bytes(self.serving_cert)
            (Path(d) / "k.pem").write_bytes(self.serving_key)
            ctx.load_cert_chain(str(Path(d) / "c.pem"), str(Path(d) / "k.pem"))
        ctx.load_verify_locations(cadata=self.client_ca.decode())
        ctx.verify_mode = ssl.CERT_REQUIRED  # the admin's client certificate, as kube-apiserver checks it
        return ctx


def vm_files_with_api(pki: Pki) -> dict[str, tuple[str, int]]:
    from tests.promote.k3s_standin import vm_files

    return {**vm_files(), K3S_YAML_TEMPLATE: (pki.k3s_yaml(), 0o600)}


class ClusterApi(Api):
    """The simulated cluster's API, answering only while the first server's k3s runs (else 503, as an API server
    that is starting), its nodes and Git following the VMs first."""

    def __init__(self, cluster: VmCluster) -> None:
        super().__init__(cluster.sim)
        self.cluster = cluster
        self.hooks_lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start: Any) -> list[bytes]:
        if not service_running(self.cluster.vms[0], "k3s"):
            start("503 Service Unavailable", [("Content-Type", "application/json")])
            return [b'{"kind":"Status","code":503,"message":"starting"}']
        with self.hooks_lock:
            self.cluster._nodes()
            self.cluster._git()
        return super().__call__(environ, start)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@contextmanager
def serve_in_vm(vm: Vm, api: Api, pki: Pki, *, address: str = "127.0.0.1", port: int = 6443) -> Iterator[Api]:
    """Serve ``api`` over TLS on ``address:port`` inside ``vm``'s network namespace."""
    listener = vm.listen(port, address)
    server = _Server((address, port), Quiet, bind_and_activate=False)
    server.socket.close()
    server.socket = pki.server_context().wrap_socket(listener, server_side=True)
    server.server_name, server.server_port = address, port
    server.setup_environ()
    server.set_app(api)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()


def ssh_forwards(destination: str, remote: str = "127.0.0.1:6443") -> list[tuple[int, str]]:
    """Every ssh process on this machine holding a local forward to ``remote`` on ``destination`` (pid, command
    line): what a run must not leave behind."""
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        if words and Path(words[0]).name == "ssh" and "-L" in words:
            spec = words[words.index("-L") + 1] if words.index("-L") + 1 < len(words) else ""
            if spec.endswith(":" + remote) and any(w.endswith(destination) for w in words[words.index("-L") + 2 :]):
                out.append((int(proc.name), " ".join(words)))
    return out


def reachable_here(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1.0):
            return True
    except OSError:
        return False
