"""The cluster part of `promote`: the very plan `up` runs, over SSH, on every host of an environment.

Roles come from ``environments.<env>.hosts``: the first ``server`` starts the cluster (``init``: k3s with
``tls-san`` = the servers' addresses, embedded etcd when more servers follow, GPU setup, the kubeconfig merged as
context ``llmops-<env>``, Argo CD and the platform); further servers join it for HA and agents join as workers,
each with the first server's token (read over SSH into a root-only file; never printed, never in an argv).

Order: the first server's host part (k3s up to the kubeconfig) → every joining node at once (they are
independent; each prints its own progress lines) → the first server's cluster part (Argo CD, the platform's
bootstrap) → [the release, see :mod:`llmops_cli.promote.release`] → the waits (Applications Synced and
Healthy, GPUs allocatable) and the Argo CD handover. Each host keeps its own state file, so a run stopped
anywhere (Ctrl-C, a lost connection, a kill) resumes where it stopped. Servers that join go one at a time,
each until its node is Ready (k3s adds a joining server to embedded etcd as a learner, k3s-io/k3s pkg/etcd/etcd.go
``join``: ``MemberAddAsLearner``; etcd admits one learner at a time by default: etcd-io/etcd
server/etcdserver/api/membership ``DefaultMaxLearners = 1``, else ``ErrTooManyLearners``), agents beside them.

The cluster's API (``https://<first server>:6443``, in the kubeconfig context) is reached directly where this
machine can open that port; where it cannot (a firewall, a host only reachable through a ``ProxyJump``
bastion), or always with ``--api-via ssh``, through ``ssh -N -L 127.0.0.1:<free port>:127.0.0.1:6443`` to the
first server for the run's duration. TLS is still checked against the cluster's CA: k3s's serving certificate
always names 127.0.0.1, ::1 and localhost (k3s-io/k3s pkg/cli/server/server.go, ``SANs = append(..., "127.0.0.1",
"::1", "localhost", nodeName)``), so the tunnel's end verifies as itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops_cli.cluster.model import NodeRole, Plan, PlanInputs, UpOptions
from llmops_cli.errors import LlmopsError, RemoteError, UsageError

if TYPE_CHECKING:
    from llmops_cli.adapters.hostfacts import HostFacts
    from llmops_cli.adapters.hosts import Host
    from llmops_cli.adapters.kube import Kube
    from llmops_cli.cluster.apply import PlannedStep, RunResult
    from llmops_cli.cluster.model import StepContext
    from llmops_cli.cluster.up import Renderer
    from llmops_cli.config.model import EnvironmentSettings, HostSpec, Settings
    from llmops_cli.reporting import Reporter, Status

# Where the first server's plan is cut: its host part ends with the kubeconfig; its waits start with the first
# of these (they need the release in Git, and every node joined).
HOST_PART_END = "merge_kubeconfig"
API_VIA = ("auto", "direct", "ssh")
# How long `auto` waits for the API's TCP port to answer before it tunnels instead (a firewall that drops).
DIRECT_PROBE_S = 3.0
# The local port the printed `ssh -L` hint uses (not 6443: a laptop's own `llmops up` cluster listens there).
HINT_LOCAL_PORT = 16443
WAIT_PART_START = ("wait_gpu_allocatable", "run_gpu_smoke_job", "wait_applications_healthy")


# ------------------------------------------------------------------------------------------------ settings
def environment_settings(settings: Settings, env: str) -> Settings:
    """The environment's cluster settings: render's own (so `llmops render` and `promote` write the same tree)."""
    from llmops_cli.render.api import environment_settings as of_environment

    return of_environment(settings, env)


def host_settings(settings: Settings, spec: HostSpec) -> Settings:
    """A host's own GPU choice (``gpu: true/false``) over the file's ``gpu.mode``."""
    if spec.gpu is None:
        return settings
    return settings.model_copy(update={"gpu": settings.gpu.model_copy(update={"mode": "on" if spec.gpu else "off"})})


def roles(env: EnvironmentSettings) -> list[tuple[HostSpec, NodeRole]]:
    """Each host with its role: the first server starts the cluster, the others join it."""
    from llmops_cli.adapters.hostfacts import K3S_API_PORT

    first = next(h for h in env.hosts if h.role == "server")
    url = f"https://{_bracket(first.address)}:{K3S_API_PORT}"
    out = [(first, NodeRole("init"))]
    for h in env.hosts:
        if h is first:
            continue
        out.append((h, NodeRole("server" if h.role == "server" else "agent", server_url=url)))
    return out


def _bracket(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def api_server(env: EnvironmentSettings) -> str:
    return roles(env)[0][1].server_url or f"https://{_bracket(roles(env)[0][0].address)}:6443"


def cluster_warnings(env: EnvironmentSettings) -> list[str]:
    servers = sum(h.role == "server" for h in env.hosts)
    if servers == 2:
        return ["2 servers: embedded etcd needs a majority, so losing either one stops the cluster; use 1 or 3 servers"]
    return []


# ------------------------------------------------------------------------------------------------ hosts
@dataclass(frozen=True)
class ConnectOptions:
    accept_new_host_key: bool = False
    ssh_config: str | None = None


def target_for(spec: HostSpec, options: ConnectOptions, base_dir: Path | None = None) -> Any:
    from llmops_cli.adapters.ssh import SshTarget

    key = spec.ssh_key
    if key and base_dir is not None and not Path(key).expanduser().is_absolute():
        key = str(base_dir / key)
    return SshTarget(
        address=spec.address,
        user=spec.user,
        port=spec.port,
        key=str(Path(key).expanduser()) if key else None,
        config=options.ssh_config,
        accept_new_host_key=options.accept_new_host_key,
        label=spec.address,
    )


def connect_hosts(
    specs: list[HostSpec],
    options: ConnectOptions,
    *,
    password: Callable[[], str] | None,
    reporter: Reporter,
    base_dir: Path | None = None,
) -> dict[str, Host]:
    """Connect to every host at once; every refusal (unknown or changed keys, unreachable hosts) is reported
    together, so one run names all of them."""
    from llmops_cli.adapters.ssh import connect

    def one(spec: HostSpec) -> Host:
        return connect(target_for(spec, options, base_dir), password_provider=password, on_new_key=reporter.info)

    hosts: dict[str, Host] = {}
    failures: list[LlmopsError] = []
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(specs)))) as pool:
        futures = {spec.address: pool.submit(one, spec) for spec in specs}
        for address, fut in futures.items():
            try:
                hosts[address] = fut.result()
            except LlmopsError as e:
                failures.append(e)
    if failures:
        close_hosts(hosts)
        if len(failures) == 1:
            raise failures[0]
        first = failures[0]
        raise RemoteError(
            f"{len(failures)} hosts refused: " + "; ".join(f.message for f in failures),
            hint=first.hint,
            code=first.code,
        )
    return hosts


def close_hosts(hosts: Mapping[str, Any]) -> None:
    for h in hosts.values():
        close = getattr(h, "close", None)
        if close is not None:
            close()


class SharedPassword:
    """One sudo password for every host of the run, asked (or read) once, when a host first needs it."""

    def __init__(self, source: Callable[[], str] | None) -> None:
        self._source = source
        self._value: str | None = None
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if self._value is None:
                if self._source is None:
                    from llmops_cli.adapters.hosts import SudoPasswordNeeded

                    raise SudoPasswordNeeded()
                self._value = self._source()
            return self._value

    @property
    def available(self) -> Callable[[], str] | None:
        return self if self._source is not None else None


# ------------------------------------------------------------------------------------------------ reporting
class HostReporter:
    """Every line a host's plan reports, prefixed with the host (hosts run at once; lines never interleave)."""

    _lock = threading.Lock()

    def __init__(self, inner: Reporter, host: str) -> None:
        self.inner = inner
        self.host = host

    def phase(self, name: str) -> None:
        with self._lock:
            self.inner.info(f"[{self.host}] » {name}")

    def step(self, description: str, status: Status, detail: str = "") -> None:
        with self._lock:
            self.inner.step(f"[{self.host}] {description}", status, detail)

    def progress(self, key: str, text: str) -> None:
        with self._lock:
            self.inner.progress(f"[{self.host}] {key}", text)

    def info(self, message: str) -> None:
        with self._lock:
            self.inner.info(f"[{self.host}] {message}")

    def warn(self, message: str) -> None:
        with self._lock:
            self.inner.warn(f"[{self.host}] {message}")


# ------------------------------------------------------------------------------------------------ plans
@dataclass
class NodePlan:
    spec: HostSpec
    role: NodeRole
    host: Host
    facts: HostFacts
    settings: Settings
    inputs: PlanInputs
    plan: Plan
    state_path: Path
    planned: list[PlannedStep] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.address

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.spec.address,
            "user": self.spec.user,
            "role": self.role.kind,
            "hostname": self.facts.hostname,
            "os": self.facts.os_pretty,
            "gpu": self.plan.gpu,
            "k3s_installed": self.facts.k3s.version if self.facts.k3s.installed else None,
            "warnings": list(self.plan.warnings),
            "steps": [p.to_dict() for p in self.planned],
        }


@dataclass
class ClusterPlan:
    env: str
    settings: Settings
    nodes: list[NodePlan]
    api_server: str
    options: UpOptions
    environ: Mapping[str, str]
    kube_factory: Callable[[], Kube]
    warnings: list[str] = field(default_factory=list)
    gpu: bool = False
    api: ApiAccess | None = None  # whether any node serves on a GPU (the tree is rendered for it)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    @property
    def first(self) -> NodePlan:
        return self.nodes[0]

    @property
    def joiners(self) -> list[NodePlan]:
        return self.nodes[1:]

    @property
    def context(self) -> str:
        return self.settings.cluster.context_name

    def failures(self) -> list[str]:
        return [
            f"[{n.name}] {p.description}: {p.detail}" for n in self.nodes for p in n.planned if p.status == "will-fail"
        ]

    def summary(self) -> dict[str, list[str]]:
        todo = []
        for n in self.nodes:
            ids = {p.id for p in n.planned if p.status in ("todo", "pending") and p.mutating}
            todo += [f"[{n.name}] {s.description}" for s in n.plan.steps if s.id in ids]
        return {"steps": todo}

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.env,
            "context": self.context,
            "api_server": self.api_server,
            "api_via": self.api.describe() if self.api is not None else "direct",
            "warnings": self.warnings,
            "hosts": [n.to_dict() for n in self.nodes],
        }


def state_path(env: str, host: str, environ: Mapping[str, str]) -> Path:
    from llmops_cli.cluster.state import state_dir

    return state_dir(environ) / f"promote-{env}" / f"{host.replace('/', '_')}.json"


def _gather(node_host: Host, role: NodeRole) -> HostFacts:
    from llmops_cli.adapters.hostfacts import gather_facts
    from llmops_cli.adapters.hosts import DryRunHost

    sudo = getattr(node_host, "sudo", None)
    return gather_facts(DryRunHost(node_host), sudo_mode=getattr(sudo, "mode", None), k3s_service=role.service)


def plan_cluster(
    settings: Settings,
    env: str,
    hosts: Mapping[str, Host],
    *,
    options: UpOptions,
    environ: Mapping[str, str],
    reporter: Reporter,
    renderer: Renderer | None = None,
    tree_for: Callable[[bool], Mapping[str, str]] | None = None,
    kube_factory: Callable[[], Kube] | None = None,
    api_via: str = "auto",
) -> ClusterPlan:
    """Facts of every host (at once), the inputs, one plan per host, and each plan's read-only checks.

    ``tree_for(gpu)`` gives the release's tree for the GPU decision the facts made: what the in-cluster Git
    server gets in local GitOps mode."""
    from llmops_cli.adapters.hostfacts import K3S_JOIN_TOKEN
    from llmops_cli.cluster.plan import build_plan, decide_gpu
    from llmops_cli.cluster.steps.k3s import proxy_env
    from llmops_cli.cluster.up import default_renderer, render_inputs, with_bundled_charts

    esettings = environment_settings(settings, env)
    e = settings.environments[env]
    layout = roles(e)
    for spec, _ in layout:
        if spec.address not in hosts:
            raise UsageError(f"no connection to {spec.address}", code="bug")
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(layout)))) as pool:
        facts_f = {spec.address: pool.submit(_gather, hosts[spec.address], role) for spec, role in layout}
        facts = {a: f.result() for a, f in facts_f.items()}
    if not options.proxy_env:
        options = replace(options, proxy_env=proxy_env(environ))
    r = renderer or default_renderer()
    node_gpu = {spec.address: decide_gpu(host_settings(esettings, spec), facts[spec.address]) for spec, _ in layout}
    first_spec = layout[0][0]
    gpu_any = any(node_gpu.values())
    base = render_inputs(esettings, facts[first_spec.address], env, renderer=r, gpu=gpu_any)
    tree = tree_for(gpu_any) if tree_for is not None else None
    if tree is not None and base.tree is not None:
        base = replace(base, tree=dict(tree))
    base = replace(base, api_server=api_server(e))
    base = with_bundled_charts(base, options.airgap)
    servers = [h.address for h in e.hosts if h.role == "server"]
    server = api_server(e)
    api = ApiAccess(hosts[first_spec.address], first_spec, server, api_via, ssh_config=e.ssh_config)
    kube = kube_factory or remote_kube_factory(api)
    nodes: list[NodePlan] = []
    for spec, role in layout:
        hs = host_settings(esettings, spec)
        gpu = node_gpu[spec.address]
        node: dict[str, Any] = {"role": "agent" if role.kind == "agent" else "server"}
        if role.joins:
            node.update(server_url=role.server_url, token_file=K3S_JOIN_TOKEN)
        else:
            node.update(cluster_init=len(servers) > 1)
        k3s_config = r.k3s_config(hs, gpu=gpu, node_ip=None, **node)
        inputs = replace(
            base,
            k3s_config=k3s_config,
            node=role,
            gpu=gpu,
            smoke_job=base.smoke_job if (gpu and not role.joins) else None,
        )
        plan = build_plan(hs, facts[spec.address], inputs, options)
        nodes.append(
            NodePlan(
                spec,
                role,
                hosts[spec.address],
                facts[spec.address],
                hs,
                inputs,
                plan,
                state_path(env, spec.address, environ),
            )
        )
    cp = ClusterPlan(
        env, esettings, nodes, server, options, environ, kube, warnings=cluster_warnings(e), gpu=gpu_any, api=api
    )
    describe_cluster(cp, reporter)
    return cp


class ApiAccess:
    """How this run reaches the cluster's API: ``server`` (the first server's address, port 6443) directly, or
    a forward over SSH to the first server's own 127.0.0.1:6443. ``via`` says which, once a client was built:
    ``auto`` decides then (k3s runs by then), by whether the port answers within :data:`DIRECT_PROBE_S`."""

    def __init__(
        self,
        first: Host,
        spec: HostSpec,
        server: str,
        mode: str = "auto",
        *,
        ssh_config: str | None = None,
        reachable: Callable[[str, int, float], bool] | None = None,
    ) -> None:
        if mode not in API_VIA:
            raise UsageError(f"--api-via {mode!r}: use one of {', '.join(API_VIA)}")
        self.first = first
        self.spec = spec
        self.server = server
        self.mode = mode
        self.ssh_config = ssh_config
        self.via: str | None = None
        self._reachable = reachable
        self._forward: Any = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        if self.via is not None:
            return self.via
        return {"auto": "direct, else ssh", "direct": "direct", "ssh": "ssh"}[self.mode]

    def _can_tunnel(self) -> bool:
        return callable(getattr(self.first, "forward", None))

    def _direct_ok(self) -> bool:
        from urllib.parse import urlsplit

        if self._reachable is None:
            from llmops_cli.adapters.ssh import tcp_reachable

            self._reachable = tcp_reachable
        u = urlsplit(self.server)
        return self._reachable(u.hostname or "", u.port or 443, DIRECT_PROBE_S)

    def url(self) -> str:
        """The API's URL for a client built now (opening the forward the first time one is needed, and again
        when its ssh ended, a lost connection)."""
        from llmops_cli.adapters.hostfacts import K3S_API_PORT

        with self._lock:
            if self.via is None:
                direct = self.mode == "direct" or not self._can_tunnel()
                if not direct and self.mode == "auto":
                    direct = self._direct_ok()
                self.via = "direct" if direct else "ssh"
            if self.via == "direct":
                return self.server
            if self._forward is None or not self._forward.alive:
                self._forward = self.first.forward(K3S_API_PORT)  # type: ignore[attr-defined]
            return f"https://127.0.0.1:{self._forward.port}"

    def kube_factory(self) -> Kube:
        """A client from the first server's admin kubeconfig, read over SSH each time (a rebuilt cluster's new
        certificates are used at once), pointed at :meth:`url`; the CA stays the cluster's."""
        from llmops_cli.adapters import kubeconfig
        from llmops_cli.adapters.hostfacts import K3S_KUBECONFIG
        from llmops_cli.adapters.kube import Kube
        from llmops_cli.errors import ClusterError

        text = self.first.read_text(K3S_KUBECONFIG, privileged=True)
        if not text:
            raise ClusterError(
                f"{K3S_KUBECONFIG} does not exist yet on {self.spec.address}: k3s is not installed or has not started",
                hint="run `llmops promote` again",
                code="unreachable",
            )
        entry = kubeconfig.entry_from_k3s(text, "llmops", server=self.url())
        return Kube.from_kubeconfig(entry, "llmops")

    def tunnel_command(self) -> list[str]:
        """The ``ssh -L`` a user runs to reach the API where port 6443 is closed to them."""
        from llmops_cli.adapters.hostfacts import K3S_API_PORT

        argv = ["ssh", "-N"]
        if self.ssh_config:
            argv += ["-F", self.ssh_config]
        if self.spec.port and self.spec.port != 22:
            argv += ["-p", str(self.spec.port)]
        argv += ["-L", f"127.0.0.1:{HINT_LOCAL_PORT}:127.0.0.1:{K3S_API_PORT}"]
        argv.append(f"{self.spec.user}@{self.spec.address}" if self.spec.user else self.spec.address)
        return argv

    def note(self, context: str) -> str | None:
        """What to tell the user after a run that tunnelled: how to reach the API with kubectl."""
        import shlex

        if self.via != "ssh":
            return None
        why = "" if self.mode == "ssh" else f"{self.server} did not answer from this machine, so "
        return (
            f"{why}promote reached the API through SSH; context {context} names {self.server}. Where that port is "
            f"closed to you, open a tunnel ({shlex.join(self.tunnel_command())}) and run kubectl with "
            f"--context {context} --server https://127.0.0.1:{HINT_LOCAL_PORT} (k3s's certificate names 127.0.0.1)"
        )


def remote_kube_factory(api: ApiAccess) -> Callable[[], Kube]:
    """The cluster's API from here (see :class:`ApiAccess`); the seam tests replace with a simulated cluster."""
    return api.kube_factory


def _context(cp: ClusterPlan, node: NodePlan, reporter: Reporter, *, dry_run: bool) -> StepContext:
    from llmops_cli.adapters.hostfacts import K3S_SERVER_TOKEN
    from llmops_cli.adapters.hosts import DryRunHost
    from llmops_cli.cluster.model import StepContext
    from llmops_cli.cluster.state import State

    first = cp.first.host

    def token() -> str:
        text = first.read_text(K3S_SERVER_TOKEN, privileged=True)
        if not text:
            raise LlmopsError(
                f"{K3S_SERVER_TOKEN} does not exist on {cp.first.name} yet: the first server has not started",
                hint="run `llmops promote` again once it runs",
            )
        return text

    host: Host = DryRunHost(node.host) if dry_run else node.host
    return StepContext(
        host=host,
        settings=node.settings,
        facts=node.facts,
        inputs=node.inputs,
        options=cp.options,
        reporter=HostReporter(reporter, node.name),
        state=State.memory() if dry_run else State.from_path(node.state_path),
        kube_factory=_read_only(cp.kube_factory) if dry_run else cp.kube_factory,
        environ=dict(cp.environ),
        join_token=token,
        dry_run=dry_run,
        sleep=cp.sleep,
        clock=cp.clock,
    )


class _ReadOnlyKube:
    """A client that reads and refuses every change (dry runs)."""

    _WRITES = frozenset({"apply", "delete", "merge_patch", "create"})

    def __init__(self, inner: Kube) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name in self._WRITES:
            from llmops_cli.adapters.hosts import DryRunViolation

            def refuse(*args: Any, **kw: Any) -> Any:
                raise DryRunViolation(f"{name} in a dry run")

            return refuse
        return getattr(self._inner, name)


def _read_only(factory: Callable[[], Kube]) -> Callable[[], Kube]:
    from typing import cast

    return lambda: cast("Kube", _ReadOnlyKube(factory()))


def describe_cluster(cp: ClusterPlan, reporter: Reporter) -> None:
    """Each host's plan through the read-only checks (a host and a client that refuse any change). A dry run
    reads the state file (what earlier runs finished) but never writes it."""
    from llmops_cli.cluster.apply import describe_plan
    from llmops_cli.cluster.state import State

    def one(node: NodePlan) -> list[PlannedStep]:
        ctx = _context(cp, node, reporter, dry_run=True)
        ctx.state = State.from_path(node.state_path)
        ctx.state.path = None  # read, never written
        return describe_plan(node.plan, ctx)

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(cp.nodes)))) as pool:
        results = list(pool.map(one, cp.nodes))
    for node, planned in zip(cp.nodes, results, strict=True):
        node.planned = planned


# ------------------------------------------------------------------------------------------------ running
def _slices(plan: Plan) -> tuple[Plan, Plan, Plan]:
    """The first server's plan as (host part, cluster part, waits)."""
    ids = plan.ids()
    cut1 = ids.index(HOST_PART_END) + 1 if HOST_PART_END in ids else len(ids)
    waits = [ids.index(i) for i in WAIT_PART_START if i in ids]
    cut2 = min(waits) if waits else len(ids)
    cut2 = max(cut2, cut1)
    return (
        replace(plan, steps=plan.steps[:cut1]),
        replace(plan, steps=plan.steps[cut1:cut2], warnings=()),
        replace(plan, steps=plan.steps[cut2:], warnings=()),
    )


@dataclass
class ClusterRun:
    runs: dict[str, RunResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "hosts": {
                h: {"changed": r.changed, "seconds": round(r.seconds, 1), "steps": r.steps}
                for h, r in self.runs.items()
            },
            "notes": self.notes,
            "results": self.results,
        }


def _apply(cp: ClusterPlan, node: NodePlan, plan: Plan, reporter: Reporter, out: ClusterRun) -> None:
    from llmops_cli.cluster.apply import apply_plan

    ctx = _context(cp, node, reporter, dry_run=False)
    result = apply_plan(plan, ctx)
    with out.lock:
        _merge(out, node, result, ctx)


def _merge(out: ClusterRun, node: NodePlan, result: RunResult, ctx: StepContext) -> None:
    prev = out.runs.get(node.name)
    if prev is not None:
        prev.steps += result.steps
        prev.changed += result.changed
        prev.seconds += result.seconds
    else:
        out.runs[node.name] = result
    out.notes += [n for n in ctx.notes if n not in out.notes]
    out.results.update(ctx.results)


def run_hosts(cp: ClusterPlan, reporter: Reporter) -> ClusterRun:
    """The first server's host part; then the joining servers one after another (each until its node is Ready:
    embedded etcd takes one learner at a time) beside every agent at once; then the first server's cluster part."""
    out = ClusterRun()
    host_part, cluster_part, _ = _slices(cp.first.plan)
    for w in cp.warnings:
        reporter.warn(w)
    _apply(cp, cp.first, host_part, reporter, out)
    if cp.joiners:
        servers = [n for n in cp.joiners if n.role.kind == "server"]
        lanes: list[list[NodePlan]] = ([servers] if servers else []) + [
            [n] for n in cp.joiners if n.role.kind != "server"
        ]
        failures: list[tuple[str, BaseException]] = []

        def lane(nodes: list[NodePlan]) -> None:
            for n in nodes:
                try:
                    _apply(cp, n, n.plan, reporter, out)
                except BaseException as e:
                    # A server that did not join stops the servers after it: they would join a cluster
                    # missing a member it expects.
                    failures.append((n.name, e))
                    return

        with ThreadPoolExecutor(max_workers=max(1, min(8, len(lanes)))) as pool:
            for fut in [pool.submit(lane, nodes) for nodes in lanes]:
                fut.result()  # every host's outcome is known before one is reported
        if failures:
            _, first = failures[0]
            if len(failures) == 1:
                raise first
            raise LlmopsError(
                f"{len(failures)} hosts failed: " + "; ".join(f"{n}: {e}" for n, e in failures),
                hint="fix them and run `llmops promote` again: every host resumes where it stopped",
            )
    _apply(cp, cp.first, cluster_part, reporter, out)
    note = cp.api.note(cp.context) if cp.api is not None else None
    if note and note not in out.notes:
        out.notes.append(note)
    return out


def run_waits(cp: ClusterPlan, reporter: Reporter, out: ClusterRun) -> None:
    """After the release is where Argo CD reads it: GPUs allocatable, every Application Synced and Healthy,
    Argo CD handed over to its own Application."""
    _, _, waits = _slices(cp.first.plan)
    _apply(cp, cp.first, waits, reporter, out)
    from llmops_cli.cluster.plan import build_plan
    from llmops_cli.cluster.steps import gpu

    for node in cp.joiners:
        if node.plan.gpu:
            steps = gpu.cluster_steps(node.settings, node.facts, replace(node.inputs, smoke_job=None), cp.options)
            _apply(
                cp,
                node,
                replace(build_plan(node.settings, node.facts, node.inputs, cp.options), steps=tuple(steps)),
                reporter,
                out,
            )
