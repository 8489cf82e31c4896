"""The Kubernetes API, through the official client's transport (kubeconfig auth, TLS) and plain REST paths.

- ``apply`` is server-side apply: ``PATCH`` with ``application/apply-patch+yaml``, ``fieldManager=llmops`` and
  ``force=true`` (llmops owns the fields it sets; a hand edit of the same field is overwritten, as ``kubectl
  apply --server-side --force-conflicts`` would).
- Every request has a timeout; 403/404/409 and connection failures become :class:`ClusterError` subclasses
  with a message for people, never an ``ApiException``.
- ``wait_until`` polls (no watches: they hang behind proxies, complicate timeouts) with an injectable clock.
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from llmops_cli.errors import ClusterError, WaitTimeout

FIELD_MANAGER = "llmops"
DEFAULT_TIMEOUT = (5.0, 30.0)  # connect, read

T = TypeVar("T")


class NotFound(ClusterError):
    code = "not_found"


class Conflict(ClusterError):
    code = "conflict"


class Forbidden(ClusterError):
    code = "forbidden"


class Unreachable(ClusterError):
    code = "unreachable"


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    plural: str
    namespaced: bool

    def base(self) -> str:
        return f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"


# Kinds llmops touches itself; anything else is resolved through API discovery once.
KNOWN: dict[tuple[str, str], ResourceType] = {
    ("v1", "Namespace"): ResourceType("", "v1", "namespaces", False),
    ("v1", "Node"): ResourceType("", "v1", "nodes", False),
    ("v1", "Secret"): ResourceType("", "v1", "secrets", True),
    ("v1", "ConfigMap"): ResourceType("", "v1", "configmaps", True),
    ("v1", "Service"): ResourceType("", "v1", "services", True),
    ("v1", "ServiceAccount"): ResourceType("", "v1", "serviceaccounts", True),
    ("v1", "Pod"): ResourceType("", "v1", "pods", True),
    ("v1", "Event"): ResourceType("", "v1", "events", True),
    ("v1", "PersistentVolumeClaim"): ResourceType("", "v1", "persistentvolumeclaims", True),
    ("apps/v1", "Deployment"): ResourceType("apps", "v1", "deployments", True),
    ("apps/v1", "StatefulSet"): ResourceType("apps", "v1", "statefulsets", True),
    ("apps/v1", "DaemonSet"): ResourceType("apps", "v1", "daemonsets", True),
    ("batch/v1", "Job"): ResourceType("batch", "v1", "jobs", True),
    ("helm.cattle.io/v1", "HelmChart"): ResourceType("helm.cattle.io", "v1", "helmcharts", True),
    ("argoproj.io/v1alpha1", "Application"): ResourceType("argoproj.io", "v1alpha1", "applications", True),
    ("argoproj.io/v1alpha1", "AppProject"): ResourceType("argoproj.io", "v1alpha1", "appprojects", True),
    ("node.k8s.io/v1", "RuntimeClass"): ResourceType("node.k8s.io", "v1", "runtimeclasses", False),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): ResourceType(
        "apiextensions.k8s.io", "v1", "customresourcedefinitions", False
    ),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): ResourceType(
        "rbac.authorization.k8s.io", "v1", "clusterroles", False
    ),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): ResourceType(
        "rbac.authorization.k8s.io", "v1", "clusterrolebindings", False
    ),
}


def _status_message(body: bytes | str | None) -> str:
    if not body:
        return ""
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        return text.strip()[:300]
    if isinstance(data, dict):
        return str(data.get("message") or data.get("reason") or "")
    return ""


class Transport:
    """Sends one HTTP request to the API server; the only class that touches the kubernetes package."""

    def __init__(self, kubeconfig: Mapping[str, Any], context: str | None = None) -> None:
        from kubernetes import client, config

        cfg = client.Configuration()
        try:
            config.load_kube_config_from_dict(
                dict(kubeconfig), context=context, client_configuration=cfg, persist_config=False
            )
        except (config.ConfigException, ValueError, KeyError, TypeError) as e:
            raise ClusterError(
                f"cannot use kubeconfig context {context or '(current)'}: {e}",
                hint="run `llmops up` to (re)create it, or check KUBECONFIG",
            ) from e
        cfg.retries = 0
        self.host = cfg.host
        self._api = client.ApiClient(cfg)

    @property
    def api_client(self) -> Any:
        """The configured ``kubernetes.client.ApiClient`` (for the port-forward adapter's websocket)."""
        return self._api

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> tuple[int, bytes]:
        import urllib3
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        url_path = path + ("?" + urlencode(dict(query)) if query else "")
        try:
            _, url, headers, _, _ = self._api.param_serialize(
                method=method, resource_path=url_path, header_params=headers, auth_settings=["BearerToken"]
            )
            resp = self._api.call_api(method, url, header_params=headers, body=body, _request_timeout=timeout)
            data = resp.read()
        except ApiException as e:
            if e.status:
                return int(e.status), (e.body or b"") if isinstance(e.body, bytes) else str(e.body or "").encode()
            raise Unreachable(f"cannot reach the Kubernetes API at {self.host}: {e.reason}") from e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            kind = "timed out" if "timed out" in str(e).lower() or "timeout" in type(e).__name__.lower() else "failed"
            raise Unreachable(
                f"request to the Kubernetes API at {self.host} {kind}: {method} {path}",
                hint="is k3s running? check `systemctl status k3s` and `llmops doctor`",
            ) from e
        return int(resp.status), data or b""


def status_error(status: int, method: str, what: str, message: str) -> ClusterError:
    """The error for an API server's non-2xx answer (shared with the test stand-ins, so they fail alike)."""
    detail = f": {message}" if message else ""
    if status == 404:
        return NotFound(f"{what} not found{detail}", hint="is the platform installed? run `llmops up`")
    if status == 409:
        return Conflict(
            f"conflict on {what}{detail}",
            hint="another client changed it at the same time or it is being deleted; retry in a moment",
        )
    if status in (401, 403):
        return Forbidden(
            f"the API server refused {method} on {what} ({status}){detail}",
            hint="the kubeconfig credentials lack permission, or the namespace is being deleted; "
            "re-run `llmops up` in a moment",
        )
    if status == 422:
        return ClusterError(f"the API server rejected {what}{detail}", hint="this is likely a bug in llmops")
    return ClusterError(f"{method} {what} failed with HTTP {status}{detail}")


def _ident(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj.get('kind')}/{meta.get('name')}" + (f" in namespace {ns}" if ns else "")


class Kube:
    """A small client for what llmops does: apply, get, list, delete, patch, logs, waits."""

    def __init__(
        self,
        transport: Transport,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        read_only: bool = False,
    ) -> None:
        self.t = transport
        self.read_only = read_only
        self.timeout = timeout
        self.clock = clock
        self.sleep = sleep
        self._types = dict(KNOWN)

    @classmethod
    def from_kubeconfig(cls, kubeconfig: Mapping[str, Any], context: str | None = None, **kw: Any) -> Kube:
        return cls(Transport(kubeconfig, context), **kw)

    # ------------------------------------------------------------------ plumbing
    def _call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str | None = None,
        ok404: bool = False,
    ) -> Any:
        payload: Any = body
        if body is not None and content_type is None:
            # The client's transport serialises dicts itself for plain JSON.
            content_type = "application/json"
        elif body is not None and not isinstance(body, str) and not (content_type or "").endswith("json"):
            payload = json.dumps(body)
        status, data = self.t.request(
            method, path, query=query, body=payload, content_type=content_type, timeout=self.timeout
        )
        if 200 <= status < 300:
            return json.loads(data) if data else {}
        if status == 404 and ok404:
            return None
        raise status_error(status, method, what, _status_message(data))

    def resource(self, api_version: str, kind: str) -> ResourceType:
        key = (api_version, kind)
        if key not in self._types:
            group, _, version = api_version.rpartition("/")
            base = f"/apis/{api_version}" if group else f"/api/{version}"
            found = self._call("GET", base, f"API group {api_version}", ok404=True)
            for r in (found or {}).get("resources", []):
                if r.get("kind") == kind and "/" not in r.get("name", ""):
                    self._types[key] = ResourceType(group, version, r["name"], bool(r.get("namespaced")))
                    break
            else:
                raise NotFound(
                    f"the cluster does not know {kind} ({api_version})",
                    hint="its CRD is not installed yet; wait for the component that provides it",
                )
        return self._types[key]

    def path(self, api_version: str, kind: str, name: str | None = None, namespace: str | None = None) -> str:
        rt = self.resource(api_version, kind)
        p = rt.base()
        if rt.namespaced:
            if not namespace:
                raise ValueError(f"{kind} is namespaced: a namespace is needed")
            p += f"/namespaces/{quote(namespace, safe='')}"
        p += f"/{rt.plural}"
        if name:
            p += f"/{quote(name, safe='')}"
        return p

    def _guard(self, what: str) -> None:
        if self.read_only:
            from llmops_cli.adapters.hosts import DryRunViolation

            raise DryRunViolation(what)

    # ------------------------------------------------------------------ verbs
    def apply(self, obj: Mapping[str, Any], *, force: bool = True) -> dict[str, Any]:
        self._guard(f"apply {_ident(obj)}")
        meta = obj.get("metadata") or {}
        path = self.path(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
        query = {"fieldManager": FIELD_MANAGER}
        if force:
            query["force"] = "true"
        return self._call(
            "PATCH",
            path,
            _ident(obj),
            query=query,
            body=json.dumps(obj, sort_keys=True),  # JSON is YAML: the apply-patch body
            content_type="application/apply-patch+yaml",
        )

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        what = f"{kind}/{name}" + (f" in namespace {namespace}" if namespace else "")
        try:
            path = self.path(api_version, kind, name, namespace)
        except NotFound:
            return None  # the type itself is unknown (CRD not installed yet)
        result: dict[str, Any] | None = self._call("GET", path, what, ok404=True)
        return result

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        try:
            rt = self.resource(api_version, kind)
        except NotFound:
            return []
        p = rt.base() + (f"/namespaces/{quote(namespace, safe='')}" if rt.namespaced and namespace else "")
        p += f"/{rt.plural}"
        query = {}
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        data = self._call("GET", p, f"{kind} list", query=query or None, ok404=True)
        return list((data or {}).get("items", []))

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str = "Foreground",
    ) -> bool:
        """Delete; return False when it was already gone."""
        self._guard(f"delete {kind}/{name}")
        try:
            path = self.path(api_version, kind, name, namespace)
        except NotFound:
            return False
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation}
        what = f"{kind}/{name}" + (f" in namespace {namespace}" if namespace else "")
        return self._call("DELETE", path, what, body=body, ok404=True) is not None

    def merge_patch(
        self, api_version: str, kind: str, name: str, patch: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        self._guard(f"patch {kind}/{name}")
        path = self.path(api_version, kind, name, namespace)
        what = f"{kind}/{name}"
        result: dict[str, Any] = self._call(
            "PATCH", path, what, body=dict(patch), content_type="application/merge-patch+json"
        )
        return result

    def logs(self, pod: str, namespace: str, *, tail: int = 50) -> str:
        path = self.path("v1", "Pod", pod, namespace) + "/log"
        status, data = self.t.request("GET", path, query={"tailLines": str(tail)}, timeout=self.timeout)
        if status >= 300:
            raise ClusterError(f"cannot read logs of pod {pod}: HTTP {status} {_status_message(data)}")
        return data.decode("utf-8", "replace")

    def events_for(self, namespace: str, name: str, kind: str | None = None, limit: int = 5) -> builtins.list[str]:
        """The newest events about one object, as 'Reason: message' lines."""
        sel = f"involvedObject.name={name}" + (f",involvedObject.kind={kind}" if kind else "")
        try:
            items = self.list("v1", "Event", namespace, field_selector=sel)
        except ClusterError:
            return []
        items.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
        return [f"{e.get('reason', '?')}: {e.get('message', '').strip()}" for e in items[-limit:]]

    # ------------------------------------------------------------------ waits
    def wait_until(
        self,
        probe: Callable[[], T | None],
        *,
        timeout: float,
        what: str,
        interval: float = 2.0,
        describe: Callable[[], Iterable[str]] | None = None,
    ) -> T:
        """Call ``probe`` until it returns a value (not None) or ``timeout`` seconds pass.

        Transient API failures (connection refused while k3s restarts) count as "not yet". On timeout,
        :class:`WaitTimeout` names ``what`` and the lines ``describe`` returns (unhealthy resources, events).
        """
        deadline = self.clock() + timeout
        last_error: str | None = None
        while True:
            try:
                value = probe()
            except (Unreachable, NotFound) as e:
                value = None
                last_error = e.message
            if value is not None:
                return value
            if self.clock() >= deadline:
                lines = list(describe()) if describe else []
                if last_error and not lines:
                    lines = [last_error]
                detail = ("\n  " + "\n  ".join(lines)) if lines else ""
                raise WaitTimeout(
                    f"timed out after {timeout:.0f}s waiting for {what}{detail}",
                    hint="raise --timeout, or inspect with `llmops status` / kubectl describe",
                )
            self.sleep(interval)
