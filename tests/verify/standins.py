"""Local HTTP stand-ins for the two parts that cannot run here: Grafana and Loki.

They follow the documented HTTP APIs of the pinned releases, and enforce what the real servers enforce where
verify could get it wrong:

Grafana 12.1.1 (grafana/grafana ``pkg/api/api.go``, ``pkg/api/metrics.go``): ``/api/health`` answers without
authentication, every other ``/api`` route needs it (401 otherwise); ``/api/search`` filters by ``type`` and
``tag``; ``/api/dashboards/uid/:uid`` wraps the JSON in ``dashboard``; ``/api/ds/query`` resolves each query's
``datasource.uid`` (an unknown one is 404 "Data source not found") and answers ``results[refId]`` with
``frames`` (``schema.fields`` and ``data.values`` columns) or an ``error``, 400 overall when any query failed.
Template variables are not filled in: an expression still holding ``$model`` reaches Prometheus as it is and
fails to parse, as it would in Grafana. Queries run against a real Prometheus.

Loki 3.x (grafana/loki ``docs/sources/reference/loki-http-api.md``, ``pkg/logql/syntax``): ``/ready``;
``/loki/api/v1/query_range`` with ``query``, ``start``/``end`` in Unix nanoseconds, ``limit``, ``direction``,
answering ``streams`` of ``[timestamp, line]``. A selector needs at least one matcher that cannot match the empty
value; only the ``|=``/``!=`` line filters are understood here (anything else is a 400 parse error). Lines come
from files the test names (the gateway's audit log, as Alloy would ship its stdout), visible ``delay`` seconds
after they were written.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx


class _Handler(BaseHTTPRequestHandler):
    app: Any

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: Any, ctype: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.app.handle(self, "GET", b"")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.app.handle(self, "POST", body)


@contextmanager
def serve(app: Any) -> Iterator[str]:
    handler = type("H", (_Handler,), {"app": app})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# ============================================================================================== Grafana
class GrafanaStandIn:
    def __init__(self, prometheus_url: str, dashboards: list[dict[str, Any]], *, user: str, password: str) -> None:
        self.prometheus_url = prometheus_url
        self.dashboards = {d["uid"]: d for d in dashboards}
        self.user, self.password = user, password
        self.datasources = [
            {"id": 1, "uid": "prometheus", "name": "Prometheus", "type": "prometheus", "isDefault": True}
        ]
        self.queries: list[dict[str, Any]] = []
        self.healthy = True

    def handle(self, h: _Handler, method: str, body: bytes) -> None:
        parts = urlsplit(h.path)
        path, q = parts.path, parse_qs(parts.query)
        if path == "/api/health" and method == "GET":
            db = "ok" if self.healthy else "failing"
            return h._reply(200 if self.healthy else 503, {"commit": "stand-in", "database": db, "version": "12.1.1"})
        auth = h.headers.get("authorization", "")
        expected = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if auth != expected:
            return h._reply(401, {"message": "Invalid username or password"})
        if path in ("/api/search", "/api/search/") and method == "GET":
            hits = [
                {"uid": d["uid"], "title": d.get("title"), "tags": d.get("tags", []), "type": "dash-db"}
                for d in self.dashboards.values()
                if (not q.get("tag") or set(q["tag"]) <= set(d.get("tags", [])))
                and q.get("type", ["dash-db"])[0] == "dash-db"
            ]
            return h._reply(200, hits)
        m = re.fullmatch(r"/api/dashboards/uid/([^/]+)", path)
        if m and method == "GET":
            doc = self.dashboards.get(m.group(1))
            if doc is None:
                return h._reply(404, {"message": "Dashboard not found"})
            return h._reply(200, {"dashboard": doc, "meta": {"provisioned": True}})
        if path == "/api/datasources" and method == "GET":
            return h._reply(200, self.datasources)
        if path == "/api/ds/query" and method == "POST":
            return self._query(h, json.loads(body or b"{}"))
        return h._reply(404, {"message": "Not found"})

    def _range(self, value: str, now: float) -> float:
        if value == "now":
            return now
        m = re.fullmatch(r"now-(\d+)([smhd])", value)
        if m:
            return now - int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
        return int(value) / 1000

    def _query(self, h: _Handler, req: dict[str, Any]) -> None:
        now = time.time()
        start, end = self._range(str(req.get("from", "now-6h")), now), self._range(str(req.get("to", "now")), now)
        known = {d["uid"] for d in self.datasources}
        results: dict[str, Any] = {}
        failed = False
        for query in req.get("queries") or []:
            self.queries.append(query)
            uid = (query.get("datasource") or {}).get("uid")
            if uid not in known:
                return h._reply(404, {"message": "Data source not found"})
            # The step Grafana's Prometheus datasource takes: the interval, or wider so that the range fits in
            # maxDataPoints; start and end aligned to it.
            step = max(
                float(query.get("intervalMs", 15000)) / 1000, (end - start) / int(query.get("maxDataPoints", 1000))
            )
            step = max(1.0, round(step))
            r = httpx.get(
                self.prometheus_url + "/api/v1/query_range",
                params={
                    "query": query.get("expr", ""),
                    "start": start // step * step,
                    "end": end // step * step,
                    "step": step,
                },
            )
            data = r.json()
            ref = query.get("refId", "A")
            if data.get("status") != "success":
                failed = True
                results[ref] = {"status": 400, "error": data.get("error", "query failed")}
                continue
            frames = []
            for series in data["data"]["result"]:
                ts = [int(float(t) * 1000) for t, _ in series["values"]]
                vals = [float(v) for _, v in series["values"]]
                frames.append(
                    {
                        "schema": {
                            "refId": ref,
                            "fields": [
                                {"name": "Time", "type": "time"},
                                {"name": "Value", "type": "number", "labels": series["metric"]},
                            ],
                        },
                        "data": {"values": [ts, vals]},
                    }
                )
            results[ref] = {"status": 200, "frames": frames}
        h._reply(400 if failed else 200, {"results": results})


# ============================================================================================== Loki
_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')
_FILTER = re.compile(r'\s*(\|=|!=)\s*"((?:[^"\\]|\\.)*)"')


def parse_logql(query: str) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """(matchers, line filters) of a stream selector with |= / != filters; ValueError on anything else."""
    m = re.match(r"\s*\{([^{}]*)\}", query)
    if not m:
        raise ValueError("parse error: a stream selector {...} is required")
    matchers = []
    for part in [p for p in m.group(1).split(",") if p.strip()]:
        mm = _MATCHER.fullmatch(part)
        if not mm:
            raise ValueError(f"parse error: bad matcher {part!r}")
        matchers.append((mm.group(1), mm.group(2), json.loads(f'"{mm.group(3)}"')))
    if not any(
        (op == "=" and v) or (op == "=~" and not re.fullmatch(v, "")) or (op == "!=" and not v) for _, op, v in matchers
    ):
        raise ValueError(
            "parse error : queries require at least one regexp or equality matcher that does not have an "
            "empty-compatible value"
        )
    rest, filters = query[m.end() :], []
    while rest.strip():
        fm = _FILTER.match(rest)
        if not fm:
            raise ValueError(f"parse error: unsupported pipeline {rest.strip()!r}")
        filters.append((fm.group(1), json.loads(f'"{fm.group(2)}"')))
        rest = rest[fm.end() :]
    return matchers, filters


def _matches(labels: dict[str, str], matchers: list[tuple[str, str, str]]) -> bool:
    for name, op, value in matchers:
        have = labels.get(name, "")
        ok = {
            "=": have == value,
            "!=": have != value,
            "=~": re.fullmatch(value, have) is not None,
            "!~": re.fullmatch(value, have) is None,
        }[op]
        if not ok:
            return False
    return True


class LokiStandIn:
    def __init__(self, sources: list[tuple[dict[str, str], Path]], *, delay: float = 1.0) -> None:
        self.sources = sources
        self.delay = delay
        self.lines: list[tuple[int, dict[str, str], str]] = []  # (visible-from ns, labels, line)
        self._offsets = {str(p): 0 for _, p in sources}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.queries: list[str] = []
        self._tailer = threading.Thread(target=self._tail, daemon=True)
        self._tailer.start()

    def _tail(self) -> None:
        while not self._stop.is_set():
            for labels, path in self.sources:
                try:
                    with path.open("rb") as fh:
                        fh.seek(self._offsets[str(path)])
                        data = fh.read()
                except FileNotFoundError:
                    continue
                complete = data[: data.rfind(b"\n") + 1]
                self._offsets[str(path)] += len(complete)
                seen = time.time_ns() + int(self.delay * 1e9)
                with self._lock:
                    for line in complete.decode("utf-8", "replace").splitlines():
                        self.lines.append((seen, dict(labels), line))
            self._stop.wait(0.2)

    def close(self) -> None:
        self._stop.set()

    def handle(self, h: _Handler, method: str, body: bytes) -> None:
        parts = urlsplit(h.path)
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/ready":
            return h._reply(200, b"ready\n", "text/plain")
        if parts.path != "/loki/api/v1/query_range" or method != "GET":
            return h._reply(404, b"404 page not found\n", "text/plain")
        query = q.get("query", "")
        self.queries.append(query)
        try:
            matchers, filters = parse_logql(query)
            now = time.time_ns()
            start = int(q.get("start", now - 3600 * 10**9))
            end = int(q.get("end", now))
            limit = int(q.get("limit", 100))
        except ValueError as e:
            return h._reply(400, str(e).encode(), "text/plain")
        if end < start:
            return h._reply(400, b"end timestamp must not be before or equal to start time\n", "text/plain")
        streams: dict[str, dict[str, Any]] = {}
        with self._lock:
            visible = [x for x in self.lines if start <= x[0] <= min(end, now)]
        for ts, labels, line in sorted(visible, key=lambda x: -x[0] if q.get("direction") != "forward" else x[0]):
            if not _matches(labels, matchers):
                continue
            if not all((text in line) == (op == "|=") for op, text in filters):
                continue
            key = json.dumps(labels, sort_keys=True)
            streams.setdefault(key, {"stream": labels, "values": []})["values"].append([str(ts), line])
            if sum(len(s["values"]) for s in streams.values()) >= limit:
                break
        h._reply(
            200,
            {"status": "success", "data": {"resultType": "streams", "result": list(streams.values()), "stats": {}}},
        )
