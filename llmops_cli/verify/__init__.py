"""`llmops verify`: offline checks CI runs before anything reaches a cluster, and live checks of the running
platform (gateway, vLLM, pgvector, Prometheus, Grafana, Loki, Argo CD).

Live checks run against a cluster (the kubeconfig context ``llmops-<cluster>``; verify opens and closes its own
port-forwards) or against endpoints given explicitly, which then select the components checked. Each check
reports ok / warn / fail / skip with a detail, a hint on failure and its time; one failing check never hides
the others. Nothing is written, except a scratch table in a temporary schema that is dropped again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmops_cli.errors import LlmopsError
from llmops_cli.verify.model import (
    COMPONENTS,
    CheckResult,
    Endpoints,
    Runner,
    VerifyOptions,
    failed,
    summary,
)

if TYPE_CHECKING:
    from llmops_cli.adapters.kube import Kube
    from llmops_cli.config.load import LoadedSettings
    from llmops_cli.config.model import Settings
    from llmops_cli.verify.expected import Expected


@dataclass
class Report:
    mode: str  # offline | endpoints | cluster
    env: str | None = None
    results: list[CheckResult] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return failed(self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "environment": self.env,
            "checks": [r.to_dict() for r in self.results],
            "summary": summary(self.results),
        }


def run_checks(loaded: LoadedSettings, envs: list[str] | None = None) -> list[CheckResult]:
    """The offline checks only (what CI runs)."""
    from llmops_cli.verify.offline import run_offline

    runner = Runner()
    run_offline(runner, loaded, envs or list(loaded.settings.environments))
    return runner.results


def _default_env(settings: Settings) -> str:
    return "dev" if "dev" in settings.environments else next(iter(settings.environments))


def run_verify(
    loaded: LoadedSettings,
    options: VerifyOptions,
    *,
    environ: Mapping[str, str],
    kube_factory: Callable[[], Kube] | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
) -> Report:
    """Run the checks ``options`` select and return them all.

    Without explicit endpoints and without ``--offline`` the live checks need a cluster: ``kube_factory`` or,
    when not given, the kubeconfig context ``llmops-<cluster>``; with neither, one ``cluster`` check is reported
    as skipped.
    """
    from llmops_cli.verify.offline import run_offline

    settings = loaded.settings
    if options.context is not None and kube_factory is None:
        kube_factory = _named_context(options.context, environ)  # a missing one is bad input, before any check
    runner = Runner(on_result)
    report = Report("offline", results=runner.results)
    if not options.live_only:
        run_offline(runner, loaded, list(options.envs) or list(settings.environments))
    if options.offline:
        return report
    explicit = options.endpoints.explicit_components()
    if explicit:
        report.mode = "endpoints"
        report.env = options.envs[0] if options.envs else _default_env(settings)
        expected = _expected(runner, settings, report.env)
        if expected is not None:
            _live(runner, expected, options.endpoints, explicit, options.timeout)
        return report
    factory = kube_factory or _context_factory(settings, environ)
    if factory is None:
        runner.skip(
            "cluster",
            "cluster",
            f"no kubeconfig context {settings.cluster.context_name}: live checks not run",
            "run `llmops up`, or give endpoints (--gateway-url, --vllm-url, --pg-dsn, --prometheus-url, ...)",
        )
        return report
    report.mode = "cluster"
    _cluster(runner, report, settings, options, factory)
    return report


def _named_context(name: str, environ: Mapping[str, str]) -> Callable[[], Kube]:
    """The cluster of kubeconfig context ``name`` (a remote environment's ``llmops-<env>``, say)."""
    from llmops_cli.adapters import kubeconfig
    from llmops_cli.cluster.context import user_kube_factory
    from llmops_cli.errors import InputError

    if kubeconfig.find_context(name, environ) is None:
        known = kubeconfig.context_names(environ)
        where = ", ".join(str(p) for p in kubeconfig.kubeconfig_paths(environ))
        raise InputError(
            f"--context {name}: no such context (with its cluster and user) in {where}",
            hint=("contexts: " + ", ".join(known) if known else "the kubeconfig has no contexts")
            + "; set KUBECONFIG, or run `llmops up` / `llmops promote ENV` to merge one",
        )
    return user_kube_factory(name, environ)


def _context_factory(settings: Settings, environ: Mapping[str, str]) -> Callable[[], Kube] | None:
    from llmops_cli.adapters import kubeconfig
    from llmops_cli.cluster.context import user_kube_factory

    name = settings.cluster.context_name
    if kubeconfig.find_context(name, environ) is None:
        return None
    return user_kube_factory(name, environ)


def _expected(runner: Runner, settings: Settings, env: str) -> Expected | None:
    from llmops_cli.verify.expected import expected_for
    from llmops_cli.verify.model import ok

    out: list[Expected] = []

    def render() -> Any:
        out.append(expected_for(settings, env))
        return ok(f"rendered {env}: {len(out[0].applications)} Applications, {len(out[0].dashboards)} dashboards")

    r = runner.run("cluster", "expected state", render)
    return out[0] if r.status == "ok" else None


def _cluster(
    runner: Runner, report: Report, settings: Settings, options: VerifyOptions, factory: Callable[[], Kube]
) -> None:
    from llmops_cli.verify.cluster import ClusterAccess, argocd, detect_env
    from llmops_cli.verify.model import ok

    kubes: list[Kube] = []
    detected: list[str | None] = []

    def connect() -> Any:
        kube = factory()
        detected.append(detect_env(kube, settings))
        kubes.append(kube)
        return ok(f"reached the Kubernetes API at {getattr(kube.t, 'host', '?')}")

    if runner.run("cluster", "cluster", connect).status != "ok":
        return
    kube = kubes[0]
    report.env = options.envs[0] if options.envs else detected[0] or _default_env(settings)
    expected = _expected(runner, settings, report.env)
    if expected is None:
        return
    with ClusterAccess(kube, expected, settings, options.endpoints) as access:
        runner.extra_hint = access.hint
        try:
            _live(runner, expected, access.endpoints, list(COMPONENTS[:-1]), options.timeout, access.unavailable)
        finally:
            runner.extra_hint = None
    argocd(runner, kube, expected)


def _live(
    runner: Runner,
    expected: Expected,
    endpoints: Endpoints,
    components: list[str],
    timeout: float,
    unavailable: Mapping[str, LlmopsError] | None = None,
) -> None:
    import functools

    from llmops_cli.adapters.web import Web
    from llmops_cli.verify.live import LIVE_CHECKS, Live
    from llmops_cli.verify.model import fail

    setting = {
        "gateway": "stacks.gateway.enabled",
        "vllm": "stacks.vllm.enabled",
        "pgvector": "stacks.pgvector.enabled",
        "prometheus": "stacks.observability.enabled",
        "grafana": "stacks.observability.grafana",
        "loki": "stacks.observability.loki",
    }
    with Web(timeout=timeout) as web:
        live = Live(expected, endpoints, web, runner, timeout)
        for component in components:
            if not expected.stacks.get(component, True):
                # Grafana and Loki are also off when the whole observability stack is: name the key that is.
                whole = component in ("grafana", "loki") and not expected.stacks.get("prometheus", True)
                key = setting["prometheus"] if whole else setting[component]
                runner.skip(component, component, f"disabled ({key} is false)")
                continue
            err = (unavailable or {}).get(component)
            if err is not None:
                runner.run(component, f"{component} reachable", functools.partial(fail, err.message, err.hint))
                continue
            LIVE_CHECKS[component](live)


__all__ = ["CheckResult", "Endpoints", "Report", "VerifyOptions", "failed", "run_checks", "run_verify"]
