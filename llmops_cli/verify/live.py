"""Live checks of the running platform, one function per component, each reporting through the :class:`Runner`.

Every request has a timeout; a component that cannot be reached fails its first check and skips the ones that
need it. Facts about the upstream HTTP APIs these checks speak:

- Prometheus v3.14.0 (kube-prometheus-stack 88.5.3 values.yaml prometheus.prometheusSpec.image.tag
  v3.14.0-distroless), prometheus/prometheus v3.14.0 ``web/api/v1/api.go``: ``/api/v1/targets``
  (``activeTargets[].labels``, ``health`` up|down|unknown (``scrape/target.go``), ``lastError``),
  ``/api/v1/rules?type=alert`` (``groups[].name``, ``rules[].name|type|health|lastError``, health ok|err|unknown
  (``rules/rule.go``)), ``/api/v1/alerts`` (``alerts[].labels.alertname``, ``state`` pending|firing).
- Grafana 13.2.0: kube-prometheus-stack 88.5.3 depends on the grafana chart 12.11.1 of
  grafana-community/helm-charts, whose appVersion is 13.2.0 (``charts/grafana/Chart.yaml``; the stack does not
  override the image). Its legacy ``/api`` routes are deprecated in favour of ``/apis`` but still served, and
  only the data source routes that take a numeric id are off by default (Grafana docs v13.x, HTTP API,
  api-legacy pages and "API structure in Grafana"; the grafana/grafana source at v13.2.0 is too big to fetch
  here): ``GET /api/health`` (no auth; ``database: ok``), ``GET /api/search?type=dash-db&tag=``,
  ``GET /api/dashboards/uid/:uid`` (``dashboard``), ``GET /api/datasources`` (the list; by uid, never by id),
  ``POST /api/ds/query`` (``queries[]`` with ``refId``, ``datasource.uid`` and the panel target's fields,
  ``from``/``to``; the answer's ``results[refId]`` holds ``frames[].data.values`` or ``error``, and the HTTP
  status is 400 (207 with a feature flag) when any query failed: ``pkg/api/metrics.go``
  ``toJsonStreamingResponse`` as read at 12.1.1, not re-read at 13.2.0; the check reads ``results`` either way).
  Dashboard template variables are not filled
  in by the API: the caller substitutes them.
- Loki 3.7.6 (the appVersion of grafana-community/helm-charts loki-18.11.0), grafana/loki v3.7.6
  ``docs/sources/reference/loki-http-api.md``: ``GET /loki/api/v1/query_range`` with ``query``,
  ``start``/``end`` (Unix nanoseconds), ``limit``, ``direction``; ``data.result[].values`` are
  ``[timestamp, line]`` pairs.

``READ_AT`` names the pins these facts (and those of ``verify.cluster`` and ``verify.expected``) were read at;
tests/adapters/test_upstream.py fails when one of those pins moves on without them.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmops_cli.adapters.web import EndpointUnreachable, Reply, Web, join, safe_url
from llmops_cli.errors import LlmopsError
from llmops_cli.verify.exposition import parse, total
from llmops_cli.verify.model import Endpoints, Outcome, Runner, fail, ok, warn

if TYPE_CHECKING:
    from llmops_cli.verify.expected import Dashboard, Expected

READ_AT = {
    "kube-prometheus-stack chart": "88.5.3",
    "loki chart": "18.11.0",
    "argo-cd": "v3.4.7",
}
# The gateway's decision for an email address found in a prompt (gateway/policy/engine.py: "pii.<direction>.<kind>")
EMAIL_RULE = "pii.input.email"
# Loki labels of a pod's lines, as templates/observability/alloy.river sets them.
LOKI_GATEWAY_SELECTOR = '{{namespace="{ns}", app="{app}"}}'


@dataclass
class Live:
    expected: Expected
    endpoints: Endpoints
    web: Web
    runner: Runner
    timeout: float = 10.0
    notes: dict[str, Any] = field(default_factory=dict)  # facts one check leaves for a later one

    def run(self, component: str, name: str, check: Any) -> bool:
        r = self.runner.run(component, name, check)
        return r.status in ("ok", "warn")


def _error_message(reply: Reply) -> str:
    body = reply.json()
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
        if body.get("message"):
            return str(body["message"])
    return reply.text.strip()[:200] or f"HTTP {reply.status}"


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


# ============================================================================================== gateway
def gateway(live: Live) -> None:
    from llmops_cli.render import names

    url = live.endpoints.gateway_url
    assert url is not None
    model = live.expected.served_model
    key = live.endpoints.api_key
    logs = f"kubectl -n {names.APPS_NAMESPACE} logs deploy/{names.GATEWAY_NAME}"
    auth = {"authorization": f"Bearer {key}"} if key else {}
    chat_url = join(url, "/v1/chat/completions")

    def ready() -> Outcome:
        r = live.web.get(join(url, "/readyz"))
        body = r.json() if isinstance(r.json(), dict) else {}
        if r.status == 200:
            return ok(f"ready at {safe_url(url)} (policy {body.get('policy', '?')})")
        why = body.get("policy_error") or body.get("status") or f"HTTP {r.status}"
        return fail(f"not ready: {why}", f"the gateway cannot reach its upstream (vLLM) or its policy; {logs}")

    if not live.run("gateway", "gateway ready", ready):
        for n in ("refuses requests without a key", "chat completion", "streamed completion", "redacts email"):
            live.runner.skip("gateway", f"gateway {n}", "the gateway is not ready")
        return

    def no_key() -> Outcome:
        r = live.web.post(chat_url, json=_chat(model, "Say OK."))
        if r.status in (401, 403):
            return ok(f"HTTP {r.status} without a key: {_short(_error_message(r))}")
        if 200 <= r.status < 300:
            return fail(
                f"answered HTTP {r.status} to a request without an API key",
                "set auth.required: true in the gateway policy (policies/gateway.yaml), then `llmops sync`",
            )
        return fail(f"answered HTTP {r.status} instead of 401: {_short(_error_message(r))}", logs)

    live.run("gateway", "gateway refuses requests without a key", no_key)

    if not key:
        hint = "pass --api-key or set LLMOPS_API_KEY (create one: `llmops gateway keys create verify`)"
        for n in ("chat completion", "streamed completion", "redacts email"):
            live.runner.skip("gateway", f"gateway {n}", "no API key given", hint)
        return

    def refused(r: Reply) -> Outcome:
        msg = _short(_error_message(r), 120)
        if r.status == 401:
            return fail(
                f"the gateway refused the API key (401): {msg}",
                "the key's hash is not in the gateway policy: `llmops gateway keys create NAME`, commit, `llmops sync`",
            )
        if r.status == 403:
            return fail(f"HTTP 403: {msg}", f"the policy does not allow model {model} for this key (limits.models)")
        if r.status == 429:
            return fail(f"rate limited (429): {msg}", "wait a minute or raise the key's limits")
        return fail(f"HTTP {r.status}: {msg}", f"see the vllm checks and {logs}")

    def completion() -> Outcome:
        t0 = time.perf_counter()
        r = live.web.post(
            chat_url, json=_chat(model, "Reply with the word OK."), headers=auth, timeout=3 * live.timeout
        )
        if r.status != 200:
            return refused(r)
        body = r.json()
        try:
            text = body["choices"][0]["message"]["content"]
            if not isinstance(text, str):
                raise TypeError
        except (KeyError, IndexError, TypeError):
            return fail(f"HTTP 200 but not a chat completion: {_short(r.text)}", logs)
        usage = body.get("usage") or {}
        return ok(
            f"{model} answered {_short(text, 40)!r} in {time.perf_counter() - t0:.2f}s "
            f"({usage.get('prompt_tokens', '?')}+{usage.get('completion_tokens', '?')} tokens)"
        )

    live.run("gateway", "gateway chat completion", completion)

    def streamed() -> Outcome:
        with live.web.stream(
            chat_url, json=_chat(model, "Count to three.", stream=True), headers=auth, timeout=3 * live.timeout
        ) as (status, headers, lines):
            if status != 200:
                body = "".join(lines).encode()
                return refused(Reply(status, headers, body))
            ctype = headers.get("content-type", "")
            if not ctype.startswith("text/event-stream"):
                return fail(f"HTTP 200 with content-type {ctype or 'none'}, not text/event-stream", logs)
            events, chunks, done, text = 0, 0, False, []
            for line in lines:
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                events += 1
                if done:
                    return fail("events arrived after data: [DONE]", logs)
                if data == "[DONE]":
                    done = True
                    continue
                try:
                    ev = json.loads(data)
                except ValueError:
                    return fail(f"event {events} is not JSON: {_short(data)}", logs)
                if isinstance(ev, dict) and ev.get("error"):
                    return fail(f"the stream carried an error event: {_short(json.dumps(ev['error']))}", logs)
                for ch in ev.get("choices") or [] if isinstance(ev, dict) else []:
                    piece = (ch.get("delta") or {}).get("content")
                    if piece:
                        chunks += 1
                        text.append(piece)
            if not done:
                return fail(f"the stream ended after {events} events without data: [DONE]", logs)
            return ok(f"{events} SSE events, {chunks} with content, ending with [DONE]: {_short(''.join(text), 40)!r}")

    live.run("gateway", "gateway streamed completion", streamed)
    live.run("gateway", "gateway redacts email", lambda: _redaction(live, chat_url, auth, model, logs))


def _chat(model: str, content: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": 16, **extra}


def _decisions(live: Live) -> dict[str, float] | None:
    """The gateway's decision counts for EMAIL_RULE by action, or None when its metrics cannot be read."""
    from llmops_cli.render.metrics import GATEWAY_METRICS as G

    url = live.endpoints.gateway_metrics_url or join(live.endpoints.gateway_url or "", "/metrics")
    try:
        r = live.web.get(url)
    except EndpointUnreachable:
        return None
    if r.status != 200:
        return None
    samples = parse(r.text, safe_url(url))
    name = G.violations
    actions = {s.labels.get("action", "") for s in samples if s.name == name}
    return {a: total(samples, name, **{G.rule_label: EMAIL_RULE, "action": a}) for a in actions}


def _redaction(live: Live, chat_url: str, auth: dict[str, str], model: str, logs: str) -> Outcome:
    """An address in the prompt must not reach the upstream as it is: the gateway's decision counter must show
    this request's input redaction (the same decisions its audit record holds), and an upstream that echoes the
    prompt must not hand the address back."""
    tag = secrets.token_hex(6)
    email = f"llmops-verify-{tag}@example.com"
    rid = f"llmops-verify-{tag}"
    live.notes["request_id"] = rid
    live.notes["email"] = email
    live.notes["sent"] = time.monotonic()
    before = _decisions(live)
    r = live.web.post(
        chat_url,
        json=_chat(model, f"Repeat exactly, nothing else: {email}", max_tokens=32),
        headers={**auth, "x-request-id": rid},
        timeout=3 * live.timeout,
    )
    after = _decisions(live)
    hint = "set content.pii.input.email: redact in the gateway policy (policies/gateway.yaml), then `llmops sync`"
    if email in r.text:
        return fail(
            "the reply carries the email address unredacted: the prompt reached the upstream with it, and "
            "nothing redacted the echo",
            hint,
        )
    delta = {a: after.get(a, 0.0) - (before or {}).get(a, 0.0) for a in after} if after is not None else None
    if r.status == 400 and delta and delta.get("deny", 0) > 0:
        return ok("refused: the policy denies prompts with an email address, so it never reached the upstream")
    if r.status != 200:
        return fail(f"HTTP {r.status}: {_short(_error_message(r), 120)}", logs)
    if delta is None:
        return warn(
            "the reply did not carry the address, but the gateway's decision counter could not be read to "
            "confirm the redaction on the way in",
            "give --gateway-metrics-url (the gateway's /metrics)",
        )
    if delta.get("redact", 0) > 0:
        return ok(f"redacted before the upstream ({EMAIL_RULE}=redact, request {rid})")
    acted = ", ".join(f"{a}" for a, n in sorted(delta.items()) if n > 0)
    if acted:
        return fail(f"the gateway's decision for the address was {acted}, so it reached the upstream", hint)
    return fail("the gateway made no decision on the address: it reached the upstream as it was", hint)


# ============================================================================================== vLLM
def vllm(live: Live) -> None:
    url = live.endpoints.vllm_url
    assert url is not None
    model = live.expected.served_model
    hint_sync = "stacks.vllm.served_model_name and the Deployment disagree: `llmops render` and `llmops sync`"

    def models() -> Outcome:
        r = live.web.get(join(url, "/v1/models"))
        if r.status != 200:
            return fail(f"/v1/models answered HTTP {r.status}: {_short(_error_message(r))}")
        body = r.json()
        ids = [str(m.get("id")) for m in (body or {}).get("data") or [] if isinstance(m, dict)]
        if model not in ids:
            return fail(f"serves {', '.join(ids) or 'no model'}, not {model}", hint_sync)
        return ok(f"serves {model}")

    if not live.run("vllm", "vllm models", models):
        live.runner.skip("vllm", "vllm completion", "vLLM does not serve the model")
    else:

        def completion() -> Outcome:
            t0 = time.perf_counter()
            r = live.web.post(
                join(url, "/v1/completions"),
                json={"model": model, "prompt": "Hello", "max_tokens": 4},
                timeout=3 * live.timeout,
            )
            if r.status != 200:
                return fail(f"HTTP {r.status}: {_short(_error_message(r), 120)}", "see the vLLM pod's log")
            try:
                text = r.json()["choices"][0]["text"]
            except (KeyError, IndexError, TypeError):
                return fail(f"HTTP 200 but not a completion: {_short(r.text)}")
            return ok(f"{_short(str(text), 30)!r} in {time.perf_counter() - t0:.2f}s")

        live.run("vllm", "vllm completion", completion)

    def metrics() -> Outcome:
        need = live.expected.vllm_metric_names
        r = live.web.get(join(url, "/metrics"))
        if r.status != 200:
            return fail(f"/metrics answered HTTP {r.status}")
        samples = parse(r.text, safe_url(join(url, "/metrics")))
        present = {s.name for s in samples}
        missing = [n for n in need if n not in present]
        if missing:
            return fail(
                f"{len(missing)} of {len(need)} metric names the alerts and dashboards use are missing: "
                + ", ".join(missing),
                "the running vLLM (or simulator) does not export them: align the pinned image with the metric "
                "map (llmops_cli/render/metrics.py), re-render and sync",
            )
        label = live.expected.vllm_model_label
        unlabelled = [n for n in need if not any(s.name == n and s.labels.get(label) == model for s in samples)]
        if unlabelled:
            seen = sorted({s.labels.get(label, "") for s in samples if s.name in need} - {""})
            return fail(
                f'dashboards select {label}="{model}", but {", ".join(unlabelled)} carry '
                + (f"{label}={', '.join(seen)}" if seen else f"no {label} label"),
                hint_sync,
            )
        return ok(f'all {len(need)} metric names the alerts and dashboards use, with {label}="{model}"')

    live.run("vllm", "vllm metrics", metrics)


# ============================================================================================== pgvector
def pgvector(live: Live) -> None:
    from llmops_cli.adapters.postgres import Pg

    dsn = live.endpoints.pg_dsn
    assert dsn is not None
    conn: list[Pg] = []

    def connect() -> Outcome:
        pg = Pg(dsn, timeout=live.timeout)
        conn.append(pg)
        version = pg.execute("SHOW server_version")[0][0]
        db, user = pg.execute("SELECT current_database(), current_user")[0]
        return ok(f"PostgreSQL {version}, database {db} as {user}")

    try:
        if not live.run("pgvector", "pgvector connect", connect):
            live.runner.skip("pgvector", "pgvector extension", "cannot connect")
            live.runner.skip("pgvector", "pgvector nearest neighbour", "cannot connect")
            return
        pg = conn[0]

        def extension() -> Outcome:
            rows = pg.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            if rows:
                return ok(f"vector {rows[0][0]} installed")
            avail = pg.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'")
            if avail:
                return fail(
                    f"the vector extension is available ({avail[0][0]}) but not installed in this database",
                    "CREATE EXTENSION vector; (the pgvector init script does it on first start: see the "
                    "pgvector-init ConfigMap)",
                )
            return fail("this server has no pgvector at all", "run the pinned pgvector image (versions.PGVECTOR_IMAGE)")

        if not live.run("pgvector", "pgvector extension", extension):
            live.runner.skip("pgvector", "pgvector nearest neighbour", "the vector extension is not installed")
            return
        live.run("pgvector", "pgvector nearest neighbour", lambda: _nearest(pg))
    finally:
        for pg in conn:
            pg.close()


def _nearest(pg: Any) -> Outcome:
    """A scratch (temporary) table, vectors in it, an HNSW index, a nearest-neighbour query through the index,
    and the table dropped again: the whole path an application's retrieval takes."""
    table = f"llmops_verify_{secrets.token_hex(4)}"  # a name we made: safe to place in SQL
    rows = 64
    target = rows // 2
    try:
        pg.execute(f"CREATE TEMPORARY TABLE {table} (id integer PRIMARY KEY, embedding vector(3))")
        # Points on a spiral, each well apart from its neighbours: the nearest to (target's point + a small
        # offset) is the target alone.
        pg.execute(
            f"INSERT INTO {table} SELECT i, ARRAY[cos(i * 0.7), sin(i * 0.7), i / 10.0]::real[]::vector "  # noqa: S608
            "FROM generate_series(1, %s) AS i",
            (rows,),
        )
        pg.execute(f"CREATE INDEX {table}_hnsw ON {table} USING hnsw (embedding vector_l2_ops)")
        pg.execute("SET enable_seqscan = off")
        import math

        probe = [math.cos(target * 0.7) + 0.01, math.sin(target * 0.7) - 0.01, target / 10.0 + 0.01]
        literal = "[" + ",".join(f"{x:.6f}" for x in probe) + "]"
        query = f"SELECT id FROM {table} ORDER BY embedding <-> %s::vector LIMIT 1"  # noqa: S608 - our name
        plan = " ".join(r[0] for r in pg.execute("EXPLAIN " + query, (literal,)))
        found = pg.execute(query, (literal,))
        pg.execute("RESET enable_seqscan")
    finally:
        pg.execute(f"DROP TABLE IF EXISTS {table}")
    if not found or found[0][0] != target:
        return fail(f"the nearest neighbour of row {target}'s vector came back as {found[0][0] if found else 'none'}")
    via = "through the HNSW index" if f"{table}_hnsw" in plan else "(the planner did not use the HNSW index)"
    return ok(f"{rows} vectors, HNSW index, nearest neighbour is row {target} {via}; scratch table dropped")


# ============================================================================================== Prometheus
def prometheus(live: Live) -> None:
    url = live.endpoints.prometheus_url
    assert url is not None
    exp = live.expected

    def api(path: str, **params: str) -> Any:
        r = live.web.get(join(url, path), params=params or None)
        body = r.json()
        if r.status != 200 or not isinstance(body, dict) or body.get("status") != "success":
            raise LlmopsError(f"{path} answered HTTP {r.status}: {_short(_error_message(r))}")
        return body.get("data")

    def targets() -> Outcome:
        deadline = time.monotonic() + live.timeout
        while True:
            active = (api("/api/v1/targets", state="active") or {}).get("activeTargets") or []
            by_job: dict[str, list[dict[str, Any]]] = {}
            for t in active:
                by_job.setdefault(str((t.get("labels") or {}).get("job", "")), []).append(t)
            unknown = [j for j in exp.targets.values() if any(t.get("health") == "unknown" for t in by_job.get(j, []))]
            if not unknown or time.monotonic() >= deadline:
                break
            time.sleep(1.0)  # not scraped yet: the first scrape comes within one interval
        problems, fine = [], []
        for component, job in exp.targets.items():
            ts = by_job.get(job, [])
            if not ts:
                problems.append(f"{component}: no target with job={job}")
                continue
            down = [t for t in ts if t.get("health") != "up"]
            if down:
                t = down[0]
                why = t.get("lastError") or t.get("health")
                problems.append(f"{component}: {len(down)}/{len(ts)} {job} targets {t.get('health')} ({why})")
            else:
                fine.append(f"{component} ({len(ts)})")
        if problems:
            return fail(
                "; ".join(problems),
                "a missing target means its ServiceMonitor was not picked up; a down one, that its /metrics "
                "does not answer: see the component's checks and Prometheus' Targets page",
            )
        return ok("up: " + ", ".join(fine))

    def rules() -> Outcome:
        groups = (api("/api/v1/rules", type="alert") or {}).get("groups") or []
        loaded = {str(g.get("name")): g for g in groups}
        missing_groups = [g for g in exp.rule_groups if g not in loaded]
        missing_alerts = [
            a
            for g, alerts in exp.rule_groups.items()
            if g in loaded
            for a in alerts
            if a not in {r.get("name") for r in loaded[g].get("rules") or []}
        ]
        broken = [
            f"{r.get('name')}: {r.get('lastError')}"
            for g in exp.rule_groups
            for r in (loaded.get(g) or {}).get("rules") or []
            if r.get("health") == "err"
        ]
        if missing_groups or missing_alerts or broken:
            parts = []
            if missing_groups:
                parts.append("groups not loaded: " + ", ".join(missing_groups))
            if missing_alerts:
                parts.append("alerts not loaded: " + ", ".join(missing_alerts))
            if broken:
                parts.append("rules failing to evaluate: " + "; ".join(broken))
            return fail(
                "; ".join(parts),
                "the PrometheusRules are rendered in observability/; check the observability Application and "
                "the operator's ruleSelector",
            )
        return ok(f"{len(exp.rule_groups)} groups, {len(exp.alert_names)} alerts loaded")

    def alerts() -> Outcome:
        got = (api("/api/v1/alerts") or {}).get("alerts") or []
        ours = [a for a in got if (a.get("labels") or {}).get("alertname") in exp.alert_names]
        firing = sorted({a["labels"]["alertname"] for a in ours if a.get("state") == "firing"})
        pending = sorted({a["labels"]["alertname"] for a in ours if a.get("state") == "pending"})
        if firing:
            return fail("firing: " + ", ".join(firing), "each alert's runbook_url annotation says what to do")
        return ok("none firing" + (f" (pending: {', '.join(pending)})" if pending else ""))

    live.run("prometheus", "prometheus targets", targets)
    live.run("prometheus", "prometheus rules", rules)
    live.run("prometheus", "prometheus alerts", alerts)


# ============================================================================================== Grafana
def grafana(live: Live) -> None:
    url = live.endpoints.grafana_url
    assert url is not None
    exp = live.expected
    creds = "Grafana refused the credentials: give them in --grafana-url (http://user:password@host)"
    stored: dict[str, dict[str, Any]] = {}

    def health() -> Outcome:
        r = live.web.get(join(url, "/api/health"))
        body = r.json() if isinstance(r.json(), dict) else {}
        if r.status != 200 or body.get("database") != "ok":
            return fail(f"/api/health: HTTP {r.status}, database {body.get('database', '?')}")
        return ok(f"Grafana {body.get('version', '?')}, database ok")

    if not live.run("grafana", "grafana health", health):
        live.runner.skip("grafana", "grafana dashboards", "Grafana is not healthy")
        live.runner.skip("grafana", "grafana queries", "Grafana is not healthy")
        return

    def provisioned() -> Outcome:
        r = live.web.get(join(url, "/api/search"), params={"type": "dash-db", "tag": "llmops"})
        if r.status in (401, 403):
            return fail(f"/api/search: HTTP {r.status}", creds)
        if r.status != 200 or not isinstance(r.json(), list):
            return fail(f"/api/search: HTTP {r.status}: {_short(_error_message(r))}")
        found = {str(h.get("uid")) for h in r.json()}
        missing = [d.uid for d in exp.dashboards if d.uid not in found]
        if missing:
            return fail(
                "not provisioned: " + ", ".join(missing),
                "the dashboard ConfigMaps (label grafana_dashboard=1) are picked up by Grafana's sidecar; "
                "check the observability Application",
            )
        stale = []
        for d in exp.dashboards:
            g = live.web.get(join(url, f"/api/dashboards/uid/{d.uid}"))
            doc = (g.json() or {}).get("dashboard") if g.status == 200 and isinstance(g.json(), dict) else None
            if not isinstance(doc, dict):
                return fail(f"/api/dashboards/uid/{d.uid}: HTTP {g.status}")
            stored[d.uid] = doc
            if sorted(_exprs(doc)) != sorted(e for p in d.panels for e in p.exprs):
                stale.append(d.uid)
        if stale:
            return fail(
                "provisioned, but their queries differ from `llmops render`: " + ", ".join(stale),
                "the cluster runs an older tree: `llmops sync`",
            )
        return ok(f"{len(exp.dashboards)} dashboards: " + ", ".join(d.uid for d in exp.dashboards))

    if not live.run("grafana", "grafana dashboards", provisioned):
        live.runner.skip("grafana", "grafana queries", "the dashboards are not provisioned as rendered")
        return
    live.run("grafana", "grafana queries", lambda: _queries(live, url, exp.dashboards))


def _exprs(doc: dict[str, Any]) -> list[str]:
    out: list[str] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for p in panels:
            out.extend(str(t["expr"]) for t in p.get("targets") or [] if t.get("expr"))
            walk(p.get("panels") or [])

    walk(doc.get("panels") or [])
    return out


def _substitute(expr: str, variables: dict[str, str]) -> str:
    for name, value in sorted(variables.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace("${" + name + "}", value).replace("$" + name, value)
    return expr


def _queries(live: Live, url: str, dashboards: tuple[Dashboard, ...]) -> Outcome:
    """Every panel's queries through Grafana, template variables filled in as Grafana's frontend does. A counter
    that verify's own requests just created shows in a rate only after two scrapes, so dashboards without any
    data are asked again until three times the request timeout has passed."""
    r = live.web.get(join(url, "/api/datasources"))
    if r.status != 200 or not isinstance(r.json(), list):
        return fail(f"/api/datasources: HTTP {r.status}")
    proms = [d for d in r.json() if isinstance(d, dict) and d.get("type") == "prometheus"]
    if not proms:
        return fail("Grafana has no Prometheus datasource", "check the llmops-datasources ConfigMap")
    ds = next((d for d in proms if d.get("isDefault")), proms[0])
    deadline = time.monotonic() + 3 * live.timeout
    pending = list(dashboards)
    empty: dict[str, list[str]] = {}
    panels_total = sum(len(d.panels) for d in dashboards)
    while True:
        dead: list[Dashboard] = []
        for d in pending:
            variables = {k: v for k, v in d.variables if k != "datasource"}
            empty[d.uid] = []
            for p in d.panels:
                queries = [
                    {
                        "refId": chr(ord("A") + i),
                        "datasource": {"type": "prometheus", "uid": ds.get("uid")},
                        "expr": _substitute(e, variables),
                        "intervalMs": 1000,
                        "maxDataPoints": 300,
                    }
                    for i, e in enumerate(p.exprs)
                ]
                q = live.web.post(join(url, "/api/ds/query"), json={"from": "now-5m", "to": "now", "queries": queries})
                body = q.json() if isinstance(q.json(), dict) else {}
                results = body.get("results")
                if q.status not in (200, 207, 400) or not isinstance(results, dict):
                    return fail(f"/api/ds/query: HTTP {q.status}: {_short(_error_message(q))}")
                errs = [str(res.get("error")) for res in results.values() if res.get("error")]
                if errs:
                    return fail(
                        f"{d.uid} / {p.title}: the query fails: {_short(errs[0], 160)}",
                        "check Grafana's Prometheus datasource (the llmops-datasources ConfigMap)",
                    )
                if not any(_has_values(res) for res in results.values()):
                    empty[d.uid].append(p.title)
            if d.panels and len(empty[d.uid]) == len(d.panels):
                dead.append(d)
        if not dead or time.monotonic() >= deadline:
            break
        pending = dead
        time.sleep(2.0)
    if dead:
        return fail(
            "no panel has data in: " + ", ".join(d.uid for d in dead),
            "Prometheus has no series for them: see the prometheus targets and the metrics checks",
        )
    blank = [f"{uid}/{title}" for uid, titles in sorted(empty.items()) for title in titles]
    if blank:
        return warn(
            f"{panels_total - len(blank)} of {panels_total} panels have data; empty: " + ", ".join(blank),
            "panels of events that have not happened yet (errors, denials) stay empty on a quiet platform",
        )
    return ok(f"all {panels_total} panels of {len(dashboards)} dashboards have data")


def _has_values(result: dict[str, Any]) -> bool:
    for frame in result.get("frames") or []:
        values = (frame.get("data") or {}).get("values") or []
        if any(isinstance(col, list) and col for col in values):
            return True
    return False


# ============================================================================================== Loki
def loki(live: Live) -> None:
    from llmops_cli.render import names

    url = live.endpoints.loki_url
    assert url is not None
    selector = LOKI_GATEWAY_SELECTOR.format(ns=names.APPS_NAMESPACE, app=names.GATEWAY_NAME)
    rid = live.notes.get("request_id")
    email = live.notes.get("email")

    def query(q: str, since: float) -> list[tuple[str, str]]:
        now = time.time_ns()
        r = live.web.get(
            join(url, "/loki/api/v1/query_range"),
            params={
                "query": q,
                "start": str(now - int(since * 1e9)),
                "end": str(now),
                "limit": "100",
                "direction": "backward",
            },
        )
        body = r.json()
        if r.status != 200 or not isinstance(body, dict) or body.get("status") != "success":
            raise LlmopsError(f"query_range answered HTTP {r.status}: {_short(_error_message(r))}")
        return [
            (str(ts), str(line))
            for stream in (body.get("data") or {}).get("result") or []
            for ts, line in stream.get("values") or []
        ]

    def gateway_lines() -> Outcome:
        if not rid:
            lines = query(selector, 3600)
            if not lines:
                return fail(
                    f"no lines for {selector} in the last hour",
                    "Alloy ships pod logs to Loki: check the alloy Application and its pods",
                )
            return ok(f"{len(lines)} gateway lines in the last hour")
        deadline = time.monotonic() + 3 * live.timeout
        sent = float(live.notes.get("sent", time.monotonic()))
        while True:
            lines = query(f'{selector} |= "{rid}"', 600)
            if lines or time.monotonic() >= deadline:
                break
            time.sleep(1.0)  # shipping a line takes Alloy a few seconds
        if not lines:
            return fail(
                f"the audit line of verify's request {rid} did not reach Loki within {3 * live.timeout:.0f}s",
                "Alloy ships pod logs to Loki: check the alloy Application, and that the gateway audits to stdout",
            )
        if email and any(email in line for _, line in lines):
            return fail("the audit line in Loki holds the email address unredacted", "check audit.store_text")
        return ok(f"the audit line of request {rid} is queryable ({time.monotonic() - sent:.1f}s after it was sent)")

    live.run("loki", "loki gateway logs", gateway_lines)


LIVE_CHECKS = {
    "gateway": gateway,
    "vllm": vllm,
    "pgvector": pgvector,
    "prometheus": prometheus,
    "grafana": grafana,
    "loki": loki,
}
