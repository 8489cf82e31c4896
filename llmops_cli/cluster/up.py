"""`llmops up` as core functions: render the inputs, build the plan, describe it (dry run) or run it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from llmops_cli.cluster.model import AirgapBundle, Plan, PlanInputs, SecretSpec, SshKeysSpec, UpOptions
from llmops_cli.cluster.plan import build_plan, decide_gpu
from llmops_cli.errors import InputError, UsageError

if TYPE_CHECKING:
    from llmops_cli.adapters.hosts import Host
    from llmops_cli.cluster.apply import PlannedStep, RunResult
    from llmops_cli.cluster.facts import HostFacts
    from llmops_cli.cluster.model import StepContext
    from llmops_cli.config.model import Settings
    from llmops_cli.reporting import Reporter


class Renderer(Protocol):
    """The render package's public functions `up` needs (``llmops_cli.render.api``)."""

    def render_environment(
        self, settings: Settings, env: str, *, stacks: list[str] | None = None, gpu: bool | None = None
    ) -> dict[str, str]: ...

    def k3s_config(self, settings: Settings, *, gpu: bool, node_ip: str | None = None) -> str: ...

    def k3s_registries(self, settings: Settings) -> str | None: ...

    def bootstrap_objects(
        self, settings: Settings, env: str, *, repo_url: str, gpu: bool | None = None
    ) -> list[dict[str, Any]]: ...

    def gpu_smoke_job(self, settings: Settings) -> dict[str, Any]: ...


def default_renderer() -> Renderer:
    from llmops_cli.render import api

    return api  # type: ignore[return-value]


def platform_secrets(settings: Settings) -> tuple[SecretSpec, ...]:
    """The generated secrets of the enabled stacks (names shared with render)."""
    from llmops_cli.render import names

    out = []
    stacks = settings.stacks
    if stacks.pgvector.enabled:
        out.append(
            SecretSpec(
                names.PGVECTOR_SECRET,
                names.APPS_NAMESPACE,
                (names.PGVECTOR_SECRET_PASSWORD_KEY,),
                fixed=((names.PGVECTOR_SECRET_USER_KEY, "llmops"),),
            )
        )
    if stacks.gateway.enabled:
        out.append(SecretSpec(names.GATEWAY_SECRET, names.APPS_NAMESPACE, (names.GATEWAY_SECRET_ADMIN_KEY,)))
        # Created with the gateway whatever the environment's profile: used where shared rate limits are on.
        out.append(
            SecretSpec(
                names.GATEWAY_REDIS_SECRET,
                names.APPS_NAMESPACE,
                (names.GATEWAY_REDIS_SECRET_PASSWORD_KEY,),
                derived=((names.GATEWAY_REDIS_SECRET_CONF_KEY, "requirepass {password}\n"),),
            )
        )
    if stacks.observability.enabled and stacks.observability.grafana:
        out.append(
            SecretSpec(
                names.GRAFANA_ADMIN_SECRET,
                names.MONITORING_NAMESPACE,
                (names.GRAFANA_SECRET_PASSWORD_KEY,),
                fixed=((names.GRAFANA_SECRET_USER_KEY, "admin"),),
            )
        )
    return tuple(out)


def local_git_ssh(settings: Settings) -> SshKeysSpec | None:
    """The local Git server's SSH key Secret (local GitOps mode only; names shared with render)."""
    from llmops_cli.render import names

    if not settings.gitops.local:
        return None
    return SshKeysSpec(
        name=names.GIT_SSH_SECRET,
        namespace=names.SYSTEM_NAMESPACE,
        host=names.git_ssh_host(),
        host_key=names.GIT_SSH_HOST_KEY,
        host_pub=names.GIT_SSH_HOST_PUB,
        admin_key=names.GIT_SSH_ADMIN_KEY,
        admin_pub=names.GIT_SSH_ADMIN_PUB,
        known_hosts=names.GIT_SSH_KNOWN_HOSTS,
    )


def local_git_url() -> str:
    from llmops_cli.render import names

    return names.LOCAL_GIT_URL


def git_client_image() -> str:
    from llmops_cli import versions

    return versions.GIT_CLIENT_IMAGE


def resolve_env(settings: Settings, env: str | None) -> str:
    if env is None:
        local = [name for name, e in settings.environments.items() if not e.remote]
        return "dev" if "dev" in local else (local[0] if local else next(iter(settings.environments)))
    if env not in settings.environments:
        raise UsageError(
            f"unknown environment {env!r}",
            hint=f"environments in llmops.yaml: {', '.join(settings.environments)}",
        )
    return env


def render_inputs(settings: Settings, facts: HostFacts, env: str, *, renderer: Renderer | None = None) -> PlanInputs:
    r = renderer or default_renderer()
    gpu = decide_gpu(settings, facts)
    repo_url = settings.gitops.repo_url or local_git_url()
    return PlanInputs(
        env=env,
        k3s_config=r.k3s_config(settings, gpu=gpu, node_ip=settings.cluster.node_ip),
        k3s_registries=r.k3s_registries(settings),
        bootstrap=tuple(r.bootstrap_objects(settings, env, repo_url=repo_url, gpu=gpu)),
        repo_url=repo_url,
        smoke_job=r.gpu_smoke_job(settings) if gpu else None,
        tree=r.render_environment(settings, env, gpu=gpu) if settings.gitops.local else None,
        secrets=platform_secrets(settings),
        git_ssh=local_git_ssh(settings),
        git_client_image=git_client_image(),
    )


def inspect_airgap_bundle(path: str | Path) -> AirgapBundle:
    """Check an airgap folder: the k3s binary, install.sh and at least one k3s-airgap-images-* tarball."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise InputError(f"--airgap-bundle {root}: not a directory")
    binary = root / "k3s"
    installer = root / "install.sh"
    images = tuple(sorted(p for p in root.iterdir() if p.name.startswith("k3s-airgap-images") and p.is_file()))
    missing = [str(p.name) for p in (binary, installer) if not p.is_file()]
    if not images:
        missing.append("k3s-airgap-images-<arch>.tar[.zst|.gz]")
    if missing:
        raise InputError(
            f"--airgap-bundle {root} lacks {', '.join(missing)}",
            hint="download them from the k3s release page for the pinned version (https://docs.k3s.io/installation/airgap)",
        )
    return AirgapBundle(path=root, k3s_binary=binary, installer=installer, images=images)


def repo_credentials(settings: Settings, environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(HTTPS token, SSH private key) for a remote repo: from the environment / key file, never config."""
    token = environ.get(settings.gitops.token_env) or None
    key = None
    if settings.gitops.ssh_key_file:
        p = Path(settings.gitops.ssh_key_file).expanduser()
        try:
            key = p.read_text(encoding="utf-8")
        except OSError as e:
            raise InputError(f"gitops.ssh_key_file {p}: {e.strerror}", hint="point it at a deploy key") from e
    return token, key


def plan_up(settings: Settings, facts: HostFacts, inputs: PlanInputs, options: UpOptions) -> Plan:
    return build_plan(settings, facts, inputs, options)


@dataclass
class UpReport:
    plan: Plan
    dry_run: bool
    planned: list[PlannedStep] = field(default_factory=list)
    run: RunResult | None = None
    notes: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)

    def to_dict(self, *, show_secrets: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "dry_run": self.dry_run,
            "summary": dict(self.plan.summary),
            "warnings": list(self.plan.warnings),
        }
        if self.dry_run:
            data["steps"] = [p.to_dict() for p in self.planned]
        elif self.run is not None:
            data["steps"] = self.run.steps
            data["changed"] = self.run.changed
            data["seconds"] = round(self.run.seconds, 1)
            data["phases"] = [{"phase": p, "seconds": round(s, 1)} for p, s in self.run.phases]
            data["results"] = self.results
            data["notes"] = self.notes
            data["secrets"] = dict(self.secrets) if show_secrets else sorted(self.secrets)
        return data


def describe_up(plan: Plan, ctx: StepContext) -> UpReport:
    from llmops_cli.cluster.apply import describe_plan

    return UpReport(plan=plan, dry_run=True, planned=describe_plan(plan, ctx))


def run_up(plan: Plan, ctx: StepContext) -> UpReport:
    from llmops_cli.cluster.apply import apply_plan
    from llmops_cli.cluster.steps.argocd import admin_password, argocd_namespace

    run = apply_plan(plan, ctx)
    ns = argocd_namespace(ctx.inputs.bootstrap)
    name = ctx.settings.cluster.context_name
    notes = list(ctx.notes)
    notes.append(
        f"Argo CD UI: kubectl --context {name} -n {ns} port-forward svc/argo-cd-argocd-server 8080:443, "
        "then https://localhost:8080 (user admin)"
    )
    secrets = dict(ctx.secrets)
    if ctx.options.show_password:
        secrets.update(read_secrets(ctx))
        pw = admin_password(ctx, ns)
        if pw:
            secrets["argocd admin password"] = pw
    else:
        notes.append("passwords are not printed: re-run with --show-password to see them")
    return UpReport(plan=plan, dry_run=False, run=run, notes=notes, results=dict(ctx.results), secrets=secrets)


def read_secrets(ctx: StepContext) -> dict[str, str]:
    """The generated secrets as they are in the cluster (for --show-password on a re-run)."""
    import base64

    out = {}
    for spec in ctx.inputs.secrets:
        live = ctx.kube().get("v1", "Secret", spec.name, spec.namespace) or {}
        for key in spec.keys:
            raw = (live.get("data") or {}).get(key)
            if raw:
                out[f"{spec.namespace}/{spec.name}.{key}"] = base64.b64decode(raw).decode("utf-8", "replace")
    return out


def up(
    settings: Settings,
    *,
    host: Host,
    env: str | None,
    options: UpOptions,
    dry_run: bool,
    reporter: Reporter,
    environ: Mapping[str, str],
    renderer: Renderer | None = None,
    facts: HostFacts | None = None,
) -> UpReport:
    """Gather facts, render, plan; then describe (``dry_run``) or execute the plan on ``host``."""
    from llmops_cli.adapters.hostfacts import gather_facts
    from llmops_cli.adapters.hosts import DryRunHost
    from llmops_cli.cluster.context import k3s_kube_factory
    from llmops_cli.cluster.model import StepContext
    from llmops_cli.cluster.state import State

    run_host: Host = DryRunHost(host) if dry_run else host
    if facts is None:
        facts = gather_facts(run_host, sudo_mode=getattr(getattr(host, "sudo", None), "mode", None))
    env_name = resolve_env(settings, env)
    inputs = render_inputs(settings, facts, env_name, renderer=renderer)
    plan = plan_up(settings, facts, inputs, options)
    state = State.load(settings.cluster.name, environ)
    ctx = StepContext(
        host=run_host,
        settings=settings,
        facts=facts,
        inputs=inputs,
        options=options,
        reporter=reporter,
        state=state,
        kube_factory=k3s_kube_factory(run_host, read_only=dry_run),
        environ=dict(environ),
        dry_run=dry_run,
    )
    if dry_run:
        return describe_up(plan, ctx)
    return run_up(plan, ctx)
