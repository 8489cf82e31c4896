"""`llmops govern incident serve`: Alertmanager's webhook receiver, on the standard library's HTTP server.

Each notification that Alertmanager posts to the incident receiver goes through the same core as `govern incident
open` (idempotent per alert group; a resolved notification is noted on the open incident). Writes are serialised
by one lock, so concurrent notifications never interleave their record and index writes; with a Git repository,
each write that changed the incidents folder becomes one commit of that folder.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmops_cli.adapters.gitrepo import GitRepo
    from llmops_cli.govern.runtime.alerts import Notification
    from llmops_cli.govern.runtime.api import Project

MAX_BODY = 1024 * 1024  # Alertmanager's payloads are far smaller (max_alerts: 50)
PATHS = ("/", "/alerts")
READ_TIMEOUT = 30.0  # seconds a client may take to send its request


@dataclass
class Receiver:
    """What the server does with a notification, independent of HTTP (the handler only parses and answers)."""

    project: Project
    now: Callable[[], float]
    log: Callable[[str], None]
    token: str | None = None
    repo: GitRepo | None = None
    receivers: tuple[str, ...] = ()  # empty: every receiver's notifications open incidents
    audit_log: Path | None = None
    lookback: str = "15m"
    release_file: Path | None = None
    bundle: Path | None = None
    trust: Any = None
    max_body: int = MAX_BODY
    lock: threading.Lock = field(default_factory=threading.Lock)

    def authorized(self, header: str | None) -> bool:
        if self.token is None:
            return True
        scheme, _, value = (header or "").partition(" ")
        given = value.strip().encode() if scheme.lower() == "bearer" else b""
        return hmac.compare_digest(given, self.token.encode())

    def handle(self, n: Notification) -> dict[str, Any]:
        """Open (or update) the notification's incident and commit it; the answer's JSON body."""
        from llmops_cli.govern.runtime.api import open_incident

        names = sorted({a.name for a in n.alerts})
        severity = (
            max((a.labels.get("severity", "") for a in n.alerts), key=lambda s: _RANK.get(s, 0), default="")
            or "no severity"
        )
        what = f"{','.join(names)} ({severity}, {n.status}, receiver {n.receiver})"
        if self.receivers and n.receiver not in self.receivers:
            self.log(f"{what}: not an incident receiver, ignored")
            return {"incidents": [], "note": f"receiver {n.receiver} opens no incidents: ignored"}
        with self.lock:
            done = open_incident(
                self.project,
                Path("payload"),
                notification=n,
                audit_log=self.audit_log,
                lookback=self.lookback,
                release_file=self.release_file,
                bundle=self.bundle,
                trust=self.trust,
                now=self.now(),
            )
            ids = [done.record["id"]] if done.record else []
            commit = self._commit(ids, done.note, names, severity, n.receiver) if ids else None
        tail = f", commit {commit[:12]}" if commit else ""
        self.log(f"{what} → {' '.join(ids) or 'no incident'}: {done.note}{tail}")
        return {"incidents": ids, "note": done.note, "commit": commit}

    def _commit(self, ids: list[str], note: str, names: list[str], severity: str, receiver: str) -> str | None:
        if self.repo is None:
            return None
        folder = self.project.incidents_dir.resolve().relative_to(self.repo.root.resolve())
        message = (
            f"incident {' '.join(ids)}: {note} ({', '.join(names)}, {severity})\n\n"
            f"Written by `llmops govern incident serve` from Alertmanager receiver {receiver}.\n"
        )
        return self.repo.commit_folder(folder.as_posix() or ".", message)


_RANK = {"info": 1, "warning": 2, "critical": 3}


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def make_server(receiver: Receiver, host: str, port: int) -> ThreadingHTTPServer:
    """The server bound to ``host:port`` (0: any free port), not yet serving."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "llmops-incident-webhook"
        sys_version = ""
        timeout = READ_TIMEOUT

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] in ("/healthz", "/-/healthy"):
                self._answer(200, {"status": "ok"})
            else:
                self._answer(404 if self.path.split("?", 1)[0] not in PATHS else 405, {"error": "POST the payload"})

        def do_POST(self) -> None:
            try:
                body = self._read()
                n = self._parse(body)
            except _Refused as e:
                if e.status != 401:
                    receiver.log(f"refused a request from {self.client_address[0]}: {e.status} {e.reason}")
                self._answer(e.status, {"error": e.reason})
                return
            try:
                self._answer(200, receiver.handle(n))
            except Exception as e:  # one line to Alertmanager (which retries), never a traceback
                from llmops_cli.errors import LlmopsError

                why = _one_line(str(e) if isinstance(e, LlmopsError) else f"{type(e).__name__}: {e}")
                receiver.log(f"failed: {why}")
                self._answer(500, {"error": why})

        def _read(self) -> bytes:
            if self.path.split("?", 1)[0] not in PATHS:
                raise _Refused(404, f"no such path {self.path.split('?', 1)[0]!r}: POST to / or /alerts")
            if not receiver.authorized(self.headers.get("Authorization")):
                receiver.log(f"refused a request from {self.client_address[0]}: 401 no valid bearer token")
                raise _Refused(401, "a bearer token is required (Authorization: Bearer ...)")
            raw = self.headers.get("Content-Length")
            try:
                length = int(raw) if raw is not None else -1
            except ValueError:
                length = -1
            if length < 0:
                self.close_connection = True
                raise _Refused(411 if raw is None else 400, "a Content-Length header is required")
            if length > receiver.max_body:
                self.close_connection = True
                raise _Refused(413, f"the body is {length} bytes, over the limit of {receiver.max_body}")
            return self.rfile.read(length)

        def _parse(self, body: bytes) -> Notification:
            from llmops_cli.govern.runtime.alerts import parse_notification
            from llmops_cli.riskdata import FormatError

            try:
                data = json.loads(body)
            except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                raise _Refused(400, _one_line(f"payload: not valid JSON ({e})")) from e
            try:
                return parse_notification(data)
            except FormatError as e:
                raise _Refused(400, _one_line(str(e))) from e
            except (ValueError, TypeError, KeyError) as e:
                raise _Refused(400, _one_line(f"payload: not Alertmanager's webhook payload ({e})")) from e

        def _answer(self, status: int, data: dict[str, Any]) -> None:
            out = (json.dumps(data) + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Bearer realm="llmops incidents"')
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per notification comes from Receiver.handle; never the headers (the token)

    class Server(ThreadingHTTPServer):
        daemon_threads = True

    return Server((host, port), Handler)


def serve(receiver: Receiver, server: ThreadingHTTPServer) -> None:
    """Serve until interrupted (KeyboardInterrupt propagates: exit 130); a write under way finishes first."""
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        with receiver.lock:  # wait for a notification being written, then stop taking new ones
            server.server_close()
