"""A stand-in for the Argo Rollouts controller: the canary steps of a Rollout, the AnalysisRun its analysis step
creates, the measurements against a real Prometheus, and the abort. Not a reimplementation of the
controller: the parts a canary's fate depends on, each ported from argoproj/argo-rollouts v1.9.0 and cited.

- AnalysisRun from the Rollout and its templates (rollout/analysis.go newAnalysisRunFromRollout: name
  ``<rollout>-<podHash>-<revision>-<stepIndex>``, step labels of utils/analysis/factory.go StepLabels, args of
  BuildArgumentsForRolloutAnalysisRun: ``podTemplateHashValue: Latest`` is the new ReplicaSet's hash);
- argument substitution (analysis/analysis.go getResolvedMetricsWithoutSecrets → utils/analysis ResolveMetricArgs
  → utils/template ResolveQuotedArgs: ``{{ args.name }}`` over the metric's JSON, values Go-quoted);
- measurements (analysis/analysis.go generateMetricTasks, runMeasurements): a metric is measured when it has no
  measurement yet (after initialDelay), then every ``interval`` until ``count`` (EffectiveCount: 1 when neither
  count nor interval is set), 10 s after an Error (DefaultErrorRetryInterval); a run that is terminating (a
  metric already Failed, Error or Inconclusive: utils/analysis IsTerminating) takes no new ones;
- the Prometheus provider (metricproviders/prometheus/prometheus.go): an instant query at now, a vector as a
  list of numbers, a scalar as a number, the value string ``[v1,v2]`` in Go's shortest float form;
- the verdict of a measurement (utils/evaluate/evaluate.go EvaluateResult, in tests/rollouts/exprlang.py);
- metric and run phases (analysis/analysis.go assessMetricStatus, assessMetricFailureInconclusiveOrError,
  assessRunStatus; phase order utils/analysis/helpers.go analysisStatusOrder; consecutiveErrorLimit 4:
  utils/defaults);
- the rollout's reaction (rollout/analysis.go reconcileStepBasedAnalysisRun: Failed or Error aborts with
  "Step-based analysis phase error/failed: <message>", Inconclusive pauses; rollout/sync.go: the Progressing
  condition False/RolloutAborted "Rollout aborted update to revision N: ...", a Warning event RolloutAborted;
  utils/rollout CalculateRolloutPhase: Degraded, "RolloutAborted: <condition message>"; utils/replicaset
  GetCurrentSetWeight is 0 when aborted, so the canary scales to 0 and the stable ReplicaSet to spec.replicas;
  replica counts per weight from approximateWeightedCanaryStableReplicaCounts).
"""

from __future__ import annotations

import json
import math
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from copy import deepcopy
from datetime import UTC, datetime
from typing import Any

from .exprlang import ExprError, Unsupported, evaluate

COMPLETED = ("Successful", "Failed", "Error", "Inconclusive")
ORDER = ("Successful", "Running", "Pending", "Inconclusive", "Error", "Failed")
DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4
ERROR_RETRY_INTERVAL = 10.0
HASH_LABEL = "rollouts-pod-template-hash"


def stamp(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def go_duration(s: str) -> float:
    """Go's time.ParseDuration for the units rendered templates use."""
    total = 0.0
    pos = 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ms|s|m|h)", s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(f"time: invalid duration {s!r}")
    return total


def go_float(v: float) -> str:
    """strconv.FormatFloat(v, 'f', -1, 64), as model.SampleValue.String writes a sample."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    from decimal import Decimal

    # repr is the shortest text that reads back as v; Decimal writes those digits without an exponent
    text = format(Decimal(repr(v)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") and v == 0 and math.copysign(1, v) > 0 else text


def go_quote(s: str) -> str:
    """The inside of strconv.Quote(s) (ResolveQuotedArgs substitutes that into the metric's JSON)."""
    return json.dumps(s)[1:-1]


# ----------------------------------------------------------------------------------------- AnalysisRun
def new_analysis_run(
    rollout: dict[str, Any], templates: list[dict[str, Any]], *, canary_hash: str, stable_hash: str, step_index: int
) -> dict[str, Any]:
    step = rollout["spec"]["strategy"]["canary"]["steps"][step_index]["analysis"]
    revision = rollout["metadata"].get("annotations", {}).get("rollout.argoproj.io/revision", "1")
    args: dict[str, str | None] = {}
    for t in templates:
        for a in t["spec"].get("args", []):
            args.setdefault(a["name"], a.get("value"))
    for a in step.get("args", []):
        value = a.get("value")
        hv = (a.get("valueFrom") or {}).get("podTemplateHashValue")
        if hv == "Latest":
            value = canary_hash
        elif hv == "Stable":
            value = stable_hash
        args[a["name"]] = value
    labels = {HASH_LABEL: canary_hash, "rollout-type": "Step", "step-index": str(step_index)}
    labels.update(rollout["spec"]["selector"]["matchLabels"])
    metrics = [deepcopy(m) for t in templates for m in t["spec"]["metrics"]]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {
            "name": f"{rollout['metadata']['name']}-{canary_hash}-{revision}-{step_index}",
            "namespace": rollout["metadata"]["namespace"],
            "labels": labels,
            "annotations": {"rollout.argoproj.io/revision": revision},
            "ownerReferences": [
                {
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "Rollout",
                    "name": rollout["metadata"]["name"],
                    "uid": rollout["metadata"].get("uid", "00000000-0000-0000-0000-000000000000"),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "args": [{"name": k, **({"value": v} if v is not None else {})} for k, v in args.items()],
            "metrics": metrics,
        },
    }


def resolve_metric(metric: dict[str, Any], args: list[dict[str, Any]]) -> dict[str, Any]:
    values = {}
    for a in args:
        if a.get("value") is None:
            raise ValueError(f'argument "{a["name"]}" was not supplied')
        values[f"args.{a['name']}"] = go_quote(a["value"])
    text = json.dumps(metric)
    missing: list[str] = []

    def sub(m: re.Match[str]) -> str:
        tag = m.group(1).strip()
        if tag in values:
            return values[tag]
        missing.append(m.group(1))
        return ""

    text = re.sub(r"\{\{(.*?)\}\}", sub, text)
    if missing:
        raise ValueError(f"failed to resolve {{{{{missing[-1]}}}}}")
    return json.loads(text)


class PrometheusProvider:
    def __init__(self, url: str | None = None) -> None:
        self.url = url  # overrides each metric's address (the in-cluster name) with the test's Prometheus

    def run(self, metric: dict[str, Any], now: float) -> dict[str, Any]:
        prom = metric["provider"]["prometheus"]
        base = self.url or prom["address"]
        m: dict[str, Any] = {"startedAt": stamp(now)}
        try:
            q = urllib.parse.urlencode({"query": prom["query"], "time": f"{time.time():.3f}"})
            with urllib.request.urlopen(f"{base}/api/v1/query?{q}", timeout=float(prom.get("timeout", 30))) as r:
                body = json.load(r)
        except Exception as e:  # the provider turns any query failure into an Error measurement
            detail = e.read().decode() if hasattr(e, "read") else str(e)
            return {**m, "phase": "Error", "message": detail, "finishedAt": stamp(time.time())}
        data = body["data"]
        kind = data["resultType"]
        if kind == "scalar":
            value = float(data["result"][1])
            result: Any = value
            text = go_float(value)
        elif kind in ("vector", "matrix"):
            samples = (
                [float(s["value"][1]) for s in data["result"]]
                if kind == "vector"
                else [float(v[1]) for s in data["result"] for v in s["values"]]
            )
            result = samples
            text = "[" + ",".join(go_float(v) for v in samples) + "]"
        else:
            return {**m, "phase": "Error", "message": "Prometheus metric type not supported"}
        try:
            phase = evaluate_result(result, metric)
        except (ExprError, TypeError, ValueError, ZeroDivisionError) as e:
            return {**m, "value": text, "phase": "Error", "message": str(e), "finishedAt": stamp(time.time())}
        return {**m, "value": text, "phase": phase, "finishedAt": stamp(time.time())}


def evaluate_result(result: Any, metric: dict[str, Any]) -> str:
    """utils/evaluate/evaluate.go EvaluateResult."""
    success = metric.get("successCondition", "")
    failure = metric.get("failureCondition", "")
    ok = condition(result, success) if success else False
    bad = condition(result, failure) if failure else False
    if not success and not failure:
        return "Successful"
    if success and not failure:
        bad = not ok
    elif failure and not success:
        ok = not bad
    if bad:
        return "Failed"
    if not bad and not ok:
        return "Inconclusive"
    return "Successful"


def condition(result: Any, expr: str) -> bool:
    def default(_: Any, fallback: Any) -> Any:
        return fallback if result is None else result

    env = {
        "result": result,
        "asInt": lambda x: int(float(x)),
        "asFloat": float,
        "isNaN": lambda x: isinstance(x, float) and math.isnan(x),
        "isInf": lambda x: isinstance(x, float) and math.isinf(x),
        "isNil": lambda _: result is None,
        "default": default,
    }
    try:
        out = evaluate(expr, env)
    except Unsupported:
        raise
    if not isinstance(out, bool):
        raise ExprError(f"expected bool, but got {type(out).__name__}")
    return out


def _effective_count(m: dict[str, Any]) -> int | None:
    count = int(m.get("count") or 0)
    if not count:
        return 1 if not m.get("interval") else None
    return count


def _failure_or_error(m: dict[str, Any], r: dict[str, Any]) -> tuple[str, str]:
    phase, msg = "", ""
    limit = int(m.get("failureLimit", 0))
    if limit >= 0 and r["failed"] > limit:
        phase, msg = "Failed", f"failed ({r['failed']}) > failureLimit ({limit})"
    inc = int(m.get("inconclusiveLimit", 0))
    if r["inconclusive"] > inc:
        phase, msg = "Inconclusive", f"inconclusive ({r['inconclusive']}) > inconclusiveLimit ({inc})"
    err = int(m.get("consecutiveErrorLimit", DEFAULT_CONSECUTIVE_ERROR_LIMIT))
    if r["consecutiveError"] > err:
        phase, msg = "Error", f"consecutiveErrors ({r['consecutiveError']}) > consecutiveErrorLimit ({err})"
    return phase, msg


def _metric_status(m: dict[str, Any], r: dict[str, Any], terminating: bool) -> str:
    if r["phase"] in COMPLETED:
        return r["phase"]
    if not r["measurements"]:
        return "Successful" if terminating else "Pending"
    if r["measurements"][-1]["phase"] not in COMPLETED:
        return "Running"
    phase, _ = _failure_or_error(m, r)
    if phase:
        return phase
    count = _effective_count(m)
    if count is not None and r["count"] >= count:
        return "Successful"
    return "Successful" if terminating else "Running"


def _terminating(run: dict[str, Any]) -> bool:
    return bool(run["spec"].get("terminate")) or any(
        r["phase"] in ("Failed", "Error", "Inconclusive") for r in run["status"]["metricResults"] if not r.get("dryRun")
    )


def reconcile(run: dict[str, Any], provider: PrometheusProvider, now: float) -> float | None:
    """One pass of the analysis controller; the time the run wants its next pass (None when completed)."""
    st = run.setdefault("status", {"phase": "Pending", "metricResults": []})
    st.setdefault("metricResults", [])
    if st["phase"] in COMPLETED:
        return None
    try:
        metrics = [resolve_metric(m, run["spec"].get("args", [])) for m in run["spec"]["metrics"]]
    except ValueError as e:
        st.update(phase="Error", message=f"Unable to resolve metric arguments: {e}")
        return None
    st.setdefault("startedAt", stamp(now))
    terminating = _terminating(run)
    results = {r["name"]: r for r in st["metricResults"]}
    started = datetime.fromisoformat(st["startedAt"].replace("Z", "+00:00")).timestamp()
    for m in metrics:
        r = results.get(m["name"])
        if r and r["phase"] in COMPLETED:
            continue
        last = r["measurements"][-1] if r and r["measurements"] else None
        if terminating:
            continue
        if last is None:
            if m.get("initialDelay") and started + go_duration(m["initialDelay"]) > now:
                continue
        else:
            count = _effective_count(m)
            if count is not None and r is not None and r["count"] >= count:
                continue
            interval = (
                ERROR_RETRY_INTERVAL
                if last["phase"] == "Error" or not m.get("interval")
                else go_duration(m["interval"])
            )
            finished = datetime.fromisoformat(last["finishedAt"].replace("Z", "+00:00")).timestamp()
            if not now > finished + interval:
                continue
        meas = provider.run(m, now)
        if r is None:
            r = results[m["name"]] = {
                "name": m["name"],
                "phase": "Running",
                "dryRun": False,
                "metadata": {"ResolvedPrometheusQuery": m["provider"]["prometheus"]["query"]},
                "measurements": [],
                "count": 0,
                "successful": 0,
                "failed": 0,
                "inconclusive": 0,
                "error": 0,
                "consecutiveError": 0,
                "consecutiveSuccess": 0,
            }
            st["metricResults"].append(r)
        p = meas["phase"]
        if p == "Successful":
            r["successful"] += 1
            r["count"] += 1
            r["consecutiveError"] = 0
            r["consecutiveSuccess"] += 1
        elif p in ("Failed", "Inconclusive"):
            r["failed" if p == "Failed" else "inconclusive"] += 1
            r["count"] += 1
            r["consecutiveError"] = 0
            r["consecutiveSuccess"] = 0
        elif p == "Error":
            r["error"] += 1
            r["consecutiveError"] += 1
            r["consecutiveSuccess"] = 0
        r["measurements"].append(meas)
    return _assess_run(run, metrics, now)


def _assess_run(run: dict[str, Any], metrics: list[dict[str, Any]], now: float) -> float | None:
    st = run["status"]
    terminating = _terminating(run)
    results = {r["name"]: r for r in st["metricResults"]}
    worst, worst_msg, done = "", "", True
    summary = {"count": 0, "successful": 0, "failed": 0, "inconclusive": 0, "error": 0}
    for m in metrics:
        summary["count"] += 1
        r = results.get(m["name"])
        if r is None:
            done = False
            continue
        phase = _metric_status(m, r, terminating)
        if r["phase"] != phase:
            if r["measurements"] and r["measurements"][-1].get("message"):
                r["message"] = r["measurements"][-1]["message"]
            r["phase"] = phase
        if phase not in COMPLETED:
            done = False
            continue
        why_phase, why = _failure_or_error(m, r)
        if not worst or ORDER.index(phase) > ORDER.index(worst):
            worst = phase
            if why:
                worst_msg = f'Metric "{m["name"]}" assessed {phase} due to {why}'
                if r.get("message"):
                    worst_msg += f': "Error Message: {r["message"]}"'
        key = {"Error": "error", "Failed": "failed", "Inconclusive": "inconclusive"}.get(why_phase, "successful")
        summary[key] += 1
    st["runSummary"] = summary
    st["dryRunSummary"] = {"count": 0, "successful": 0, "failed": 0, "inconclusive": 0, "error": 0}
    if terminating and worst:
        new = worst
    elif not done or not worst:
        new = "Running"
    else:
        new = worst
    if new != st["phase"]:
        st["phase"] = new
        st["message"] = worst_msg.strip() if new in COMPLETED else ""
        if new in COMPLETED:
            st["completedAt"] = stamp(now)
            return None
    if not st.get("message"):
        st.pop("message", None)
    due = []
    for m in metrics:
        r = results.get(m["name"])
        if r is None or not r["measurements"]:
            due.append(now + 1)
            continue
        interval = (
            ERROR_RETRY_INTERVAL
            if r["measurements"][-1]["phase"] == "Error"
            else go_duration(m.get("interval") or "1s")
        )
        finished = datetime.fromisoformat(r["measurements"][-1]["finishedAt"].replace("Z", "+00:00")).timestamp()
        due.append(finished + interval)
    return min(due) if due else now + 1


def run_analysis(
    run: dict[str, Any],
    provider: PrometheusProvider,
    *,
    deadline: float,
    on_pass: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Reconcile until the run completes (or ``deadline``, a monotonic time, passes: AssertionError)."""
    while True:
        nxt = reconcile(run, provider, time.time())
        if on_pass is not None:
            on_pass(run)
        if nxt is None:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"analysis still {run['status']['phase']} at the deadline: {run['status']}")
        time.sleep(min(max(0.2, nxt - time.time() + 0.05), 2.0))


# ----------------------------------------------------------------------------------------- Rollout
def weighted_counts(replicas: int, weight: int, max_surge: int, max_weight: int = 100) -> tuple[int, int]:
    """utils/replicaset/canary.go approximateWeightedCanaryStableReplicaCounts: (canary, stable)."""
    if replicas == 0:
        return 0, 0
    ceil_c = math.ceil(replicas * weight / max_weight)
    floor_c = math.floor(replicas * weight / max_weight)

    def tied(total: int) -> bool:
        return math.modf(total * (weight / max_weight))[0] == 0.5

    zero_ok = weight == max_weight or weight == 0 or (replicas == 1 and max_surge == 0)
    options: list[tuple[int, int]] = []
    if ceil_c < replicas or zero_ok:
        options.append((ceil_c, replicas))
    if not tied(replicas) and (floor_c != 0 or zero_ok):
        options.append((floor_c, replicas))
    if max_surge > 0:
        options.append((ceil_c, replicas + 1))
        if not tied(replicas + 1) and (floor_c != 0 or zero_ok):
            options.append((floor_c, replicas + 1))
    if not options:
        return 0, replicas
    best = min(options, key=lambda o: abs(o[0] * max_weight / o[1] - weight))  # first of the closest wins
    return best[0], best[1] - best[0]


def _surge(rollout: dict[str, Any], replicas: int) -> int:
    v = rollout["spec"]["strategy"]["canary"].get("maxSurge", "25%")
    if isinstance(v, str) and v.endswith("%"):
        return math.ceil(replicas * int(v[:-1]) / 100)
    return int(v)


def _condition(ctype: str, status: str, reason: str, message: str, now: float) -> dict[str, str]:
    return {
        "type": ctype,
        "status": status,
        "reason": reason,
        "message": message,
        "lastUpdateTime": stamp(now),
        "lastTransitionTime": stamp(now),
    }


def canary(
    rollout: dict[str, Any],
    templates: dict[str, dict[str, Any]],
    provider: PrometheusProvider,
    *,
    stable_hash: str,
    canary_hash: str,
    deadline: float,
    on_step: Callable[[int, dict[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None, list[dict[str, str]]]:
    """Run the Rollout's canary steps for the new ReplicaSet ``canary_hash``; return the Rollout with its status,
    the AnalysisRun of its analysis step (if one ran) and the events it recorded."""
    ro = deepcopy(rollout)
    revision = int(ro["metadata"].setdefault("annotations", {}).setdefault("rollout.argoproj.io/revision", "2"))
    replicas = int(ro["spec"].get("replicas", 1))
    surge = _surge(ro, replicas)
    st: dict[str, Any] = {
        "stableRS": stable_hash,
        "currentPodHash": canary_hash,
        "currentStepIndex": 0,
        "observedGeneration": "1",
        "phase": "Progressing",
        "message": "more replicas need to be updated",
        "conditions": [],
    }
    ro["status"] = st
    events: list[dict[str, str]] = []
    run = None
    steps = ro["spec"]["strategy"]["canary"]["steps"]
    weight = 0
    for i, step in enumerate(steps):
        st["currentStepIndex"] = i
        if "setWeight" in step:
            weight = int(step["setWeight"])
            c, s = weighted_counts(replicas, weight, surge)
            st.update(replicas=c + s, updatedReplicas=c, readyReplicas=c + s, availableReplicas=c + s)
        elif "pause" in step:
            time.sleep(go_duration(str(step["pause"]["duration"])))
        elif "analysis" in step:
            names = [t["templateName"] for t in step["analysis"]["templates"]]
            run = new_analysis_run(
                ro, [templates[n] for n in names], canary_hash=canary_hash, stable_hash=stable_hash, step_index=i
            )
            if on_step is not None:
                on_step(i, run)
            run = run_analysis(run, provider, deadline=deadline)
            phase = run["status"]["phase"]
            st["canary"] = {
                "currentStepAnalysisRunStatus": {
                    "name": run["metadata"]["name"],
                    "status": phase,
                    **({"message": run["status"]["message"]} if run["status"].get("message") else {}),
                }
            }
            if phase in ("Failed", "Error"):
                now = time.time()
                detail = "Step-based analysis phase error/failed"
                if run["status"].get("message"):
                    detail += ": " + run["status"]["message"]
                message = f"Rollout aborted update to revision {revision}: {detail}"
                st.update(abort=True, abortedAt=stamp(now))
                st["conditions"].append(_condition("Progressing", "False", "RolloutAborted", message, now))
                events.append({"type": "Warning", "reason": "RolloutAborted", "message": message})
                st.update(phase="Degraded", message=f"RolloutAborted: {message}")
                # GetCurrentSetWeight is 0 when aborted: the canary scales down, the stable ReplicaSet up.
                c, s = weighted_counts(replicas, 0, surge)
                st.update(replicas=c + s, updatedReplicas=c, readyReplicas=c + s, availableReplicas=c + s)
                return ro, run, events
            if phase == "Inconclusive":
                st.update(phase="Paused", message="InconclusiveAnalysis")
                return ro, run, events
    st.update(stableRS=canary_hash, phase="Healthy", message="", currentStepIndex=len(steps))
    st.update(replicas=replicas, updatedReplicas=replicas, readyReplicas=replicas, availableReplicas=replicas)
    st["conditions"].append(
        _condition("Progressing", "True", "NewReplicaSetAvailable", "Rollout has completed rollout", time.time())
    )
    return ro, run, events
