"""`llmops up` as core functions: gather facts, render the inputs, build the plan and describe it with the
read-only checks (:func:`prepare_up`: what the CLI shows, and the known failures it stops on before asking);
then run it (:func:`execute_up`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from llmops_cli.cluster.model import AirgapBundle, BundledChart, Plan, PlanInputs, SecretSpec, SshKeysSpec, UpOptions
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
        self,
        settings: Settings,
        env: str,
        *,
        stacks: list[str] | None = None,
        gpu: bool | None = None,
        project_dir: Path | None = None,
        local_charts: Mapping[str, str] | None = None,
    ) -> dict[str, str]: ...

    def k3s_config(self, settings: Settings, *, gpu: bool, node_ip: str | None = None, **node: Any) -> str: ...

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
                fixed=((names.PGVECTOR_SECRET_USER_KEY, names.PGVECTOR_USER),),
            )
        )
    if stacks.gateway.enabled:
        out.append(SecretSpec(names.GATEWAY_SECRET, names.APPS_NAMESPACE, (names.GATEWAY_SECRET_ADMIN_KEY,)))
        out.append(SecretSpec(names.GATEWAY_AUDIT_SECRET, names.APPS_NAMESPACE, (names.GATEWAY_AUDIT_SECRET_KEY,)))
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


def render_inputs(
    settings: Settings,
    facts: HostFacts,
    env: str,
    *,
    renderer: Renderer | None = None,
    gpu: bool | None = None,
    project_dir: Path | None = None,
    airgap: AirgapBundle | None = None,
) -> PlanInputs:
    """What `up` (and `sync`) apply, rendered once; ``gpu`` overrides the decision from the facts (`sync` passes
    the one `up` made). ``project_dir``: llmops.yaml's folder, whose release record and incident index go into
    the tree as `llmops render` puts them there (the tree pushed is the tree committed). ``airgap``: in local
    GitOps mode, the bundle's chart archives go into the local Git repository with the tree, and the
    Applications of those charts read them there (a Git path source) instead of from their Helm repository."""
    r = renderer or default_renderer()
    use_gpu = decide_gpu(settings, facts) if gpu is None else gpu
    repo_url = settings.gitops.repo_url or local_git_url()
    charts = tuple(airgap.charts.values()) if airgap is not None and settings.gitops.local else ()
    local = {c.name: c.version for c in charts}
    return PlanInputs(
        env=env,
        k3s_config=r.k3s_config(settings, gpu=use_gpu, node_ip=settings.cluster.node_ip),
        k3s_registries=r.k3s_registries(settings),
        bootstrap=tuple(r.bootstrap_objects(settings, env, repo_url=repo_url, gpu=use_gpu)),
        repo_url=repo_url,
        smoke_job=r.gpu_smoke_job(settings) if use_gpu else None,
        tree=(
            r.render_environment(settings, env, gpu=use_gpu, project_dir=project_dir, local_charts=local)
            if local
            else r.render_environment(settings, env, gpu=use_gpu, project_dir=project_dir)
        )
        if settings.gitops.local
        else None,
        charts=charts,
        secrets=platform_secrets(settings),
        git_ssh=local_git_ssh(settings),
        git_client_image=git_client_image(),
        gpu=use_gpu,
    )


def _sha256_file(path: Path, *, holding: bytes = b"") -> tuple[str, bool]:
    """``(sha256, found)``: the file's hash and whether it contains ``holding``, in one read. k3s's release binary
    carries its version as a string (the ``-X github.com/k3s-io/k3s/pkg/version.Version=$VERSION`` link flag of
    k3s-io/k3s scripts/package-cli), so a binary of another release, even with a checksum file of its own, does
    not hold the pinned one."""
    import hashlib

    h = hashlib.sha256()
    found, tail = not holding, b""
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            if not found:
                found = holding in tail + chunk
                tail = chunk[-(len(holding) - 1) :] if len(holding) > 1 else b""
    return h.hexdigest(), found


def parse_sha256sums(text: str) -> dict[str, str]:
    """``sha256sum`` output (``<hash>  <name>`` or ``<hash> *<name>``) as name -> hash."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and len(parts[0]) == 64:
            out[parts[1].lstrip("*")] = parts[0].lower()
    return out


def inspect_airgap_bundle(path: str | Path) -> AirgapBundle:
    """Check an airgap folder before anything is planned: the k3s binary, install.sh, at least one
    k3s-airgap-images-* tarball and the release's ``sha256sum-<arch>.txt``; install.sh must be the pinned one
    (its hash), the binary and every images tarball must match the release's checksum file. Optional: platform
    images under ``images/`` (k3s imports every tarball in its images directory) and chart archives under
    ``charts/``, listed in a ``SHA256SUMS`` file next to them."""
    from llmops_cli.adapters import upstream

    root = Path(path).expanduser()
    if not root.is_dir():
        raise InputError(f"--airgap-bundle {root}: not a directory")
    binary = root / "k3s"
    installer = root / "install.sh"
    images = tuple(sorted(p for p in root.iterdir() if p.name.startswith("k3s-airgap-images") and p.is_file()))
    sums_files = sorted(root.glob("sha256sum-*.txt"))
    missing = [str(p.name) for p in (binary, installer) if not p.is_file()]
    if not images:
        missing.append("k3s-airgap-images-<arch>.tar[.zst|.gz]")
    if not sums_files:
        missing.append("sha256sum-<arch>.txt (from the same k3s release page)")
    if missing:
        raise InputError(
            f"--airgap-bundle {root} lacks {', '.join(missing)}",
            hint="download them from the k3s release page for the pinned version (https://docs.k3s.io/installation/airgap)",
        )
    sums: dict[str, str] = {}
    for f in sums_files:
        sums.update(parse_sha256sums(f.read_text(encoding="utf-8", errors="replace")))
    extra_dir, chart_dir = root / "images", root / "charts"
    extra = tuple(sorted(p for p in extra_dir.glob("*.tar*") if p.is_file())) if extra_dir.is_dir() else ()
    archives = tuple(sorted(p for p in chart_dir.glob("*.tgz") if p.is_file())) if chart_dir.is_dir() else ()
    local_sums = root / "SHA256SUMS"
    if extra or archives:
        if not local_sums.is_file():
            raise InputError(
                f"--airgap-bundle {root} has images/ or charts/ but no SHA256SUMS listing them",
                hint="write it where the files were fetched: (cd BUNDLE && sha256sum images/* charts/* > SHA256SUMS)",
            )
        listed = parse_sha256sums(local_sums.read_text(encoding="utf-8", errors="replace"))
        sums.update({Path(name).name: h for name, h in listed.items()})
    expected = {installer.name: upstream.K3S_INSTALLER_SHA256}
    for f in (binary, *images, *extra, *archives):
        want = sums.get(f.name)
        if want is None:
            raise InputError(
                f"--airgap-bundle: {f.name} is not listed in {', '.join(s.name for s in sums_files)}"
                + (" or SHA256SUMS" if extra or archives else ""),
                hint="take every file from the same release (its sha256sum-<arch>.txt lists them)",
            )
        expected[f.name] = want
    from llmops_cli.versions import K3S_VERSION

    for f in (installer, binary, *images, *extra, *archives):
        got, pinned = _sha256_file(f, holding=K3S_VERSION.encode("ascii") if f == binary else b"")
        if not pinned:
            raise InputError(
                f"--airgap-bundle: {binary} is not k3s {K3S_VERSION} (the version llmops pins): refusing it",
                hint=f"download k3s, the images and sha256sum-<arch>.txt from the {K3S_VERSION} release page",
            )
        if got != expected[f.name]:
            source = "the pinned installer" if f == installer else "its checksum file"
            raise InputError(
                f"--airgap-bundle: {f} has sha256 {got}, not {expected[f.name]} ({source}): refusing it",
                hint="download the file again from the k3s release page of the pinned version",
            )
    from llmops_cli.cluster.airgap import check_chart

    charts = {}
    for f in archives:
        name, version = check_chart(f)  # the pinned release of a chart llmops deploys, or refused
        charts[name] = BundledChart(name=name, version=version, archive=f, sha256=expected[f.name])
    return AirgapBundle(
        path=root,
        k3s_binary=binary,
        installer=installer,
        images=images,
        sha256=expected,
        extra_images=extra,
        charts=charts,
    )


def with_bundled_charts(inputs: PlanInputs, bundle: AirgapBundle | None) -> PlanInputs:
    """Use a chart archive from the bundle for the bootstrap HelmChart (helm-controller's chartContent: the
    archive itself, base64, instead of the repository)."""
    if bundle is None or not bundle.charts:
        return inputs
    import base64
    import copy

    objs = []
    for o in inputs.bootstrap:
        if o.get("kind") == "HelmChart":
            spec = o.get("spec") or {}
            chart = bundle.charts.get(spec.get("chart", ""))
            if chart is not None and chart.version == spec.get("version"):
                o = copy.deepcopy(o)
                o["spec"]["chartContent"] = base64.b64encode(chart.archive.read_bytes()).decode()
        objs.append(o)
    return replace(inputs, bootstrap=tuple(objs))


def remembered_bundle(path: Any) -> AirgapBundle | None:
    """The airgap bundle `up` took charts from (recorded in the state file), checked again: `sync` pushes the
    same local chart sources, never Applications that would pull those charts from the internet."""
    if not path:
        return None
    if not Path(str(path)).is_dir():
        raise InputError(
            f"`llmops up` took charts from the airgap bundle {path}, which is gone",
            hint="put the bundle back there, or run `llmops up --airgap-bundle DIR` with its new place",
        )
    return inspect_airgap_bundle(str(path))


def airgap_warnings(settings: Settings, inputs: PlanInputs) -> list[str]:
    """What an airgap `up` still fetches from the internet: each Application chart the bundle does not carry
    (Argo CD pulls it from its Helm repository, which an offline host cannot reach)."""
    from llmops_cli.cluster.airgap import internet_charts

    if not settings.gitops.local:
        return [
            f"gitops.repo_url is {settings.gitops.repo_url}: Argo CD reads the tree and its charts over the "
            "network; the bundle's chart archives are used only in local GitOps mode"
        ]
    pulled = internet_charts(inputs.tree or {})
    if not pulled:
        return []
    listed = ", ".join(f"{name} {version} ({repo})" for name, version, repo in pulled)
    return [
        f"the airgap bundle has no archive of {listed}: Argo CD fetches them from the internet "
        "(`llmops bundle DIR` on a connected machine fetches them into the bundle)"
    ]


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
    from llmops_cli.cluster.steps.argocd import admin_password, argocd_namespace, ui_hint

    # What `sync` must render with: the same environment and GPU decision (never the opposite GPU tree).
    choices: dict[str, Any] = {"env": ctx.inputs.env, "gpu": plan.gpu, "repo_url": ctx.inputs.repo_url}
    if ctx.options.airgap is not None and ctx.inputs.charts:
        choices["airgap"] = str(ctx.options.airgap.path)  # `sync` pushes the same bundled charts
    ctx.state.remember_choices(**choices)
    run = apply_plan(plan, ctx)
    ns = argocd_namespace(ctx.inputs.bootstrap)
    notes = list(ctx.notes)
    notes.append(ui_hint(ctx.settings.cluster.context_name, ctx.inputs.bootstrap))
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


@dataclass
class PreparedUp:
    """Everything `up` knows before it changes anything: the plan, and what its read-only checks say."""

    settings: Settings
    host: Host
    facts: HostFacts
    inputs: PlanInputs
    plan: Plan
    options: UpOptions
    planned: list[PlannedStep]
    environ: Mapping[str, str]

    @property
    def failures(self) -> list[PlannedStep]:
        """Steps known to fail on this host (not already done): `up` stops before asking."""
        return [p for p in self.planned if p.status == "will-fail"]

    def report(self) -> UpReport:
        return UpReport(plan=self.plan, dry_run=True, planned=self.planned)

    def summary(self) -> dict[str, list[str]]:
        """What consent is asked for: the steps that will change something, services they restart, host files
        they write, packages they install."""
        todo = {p.id for p in self.planned if p.status in ("todo", "pending") and p.mutating}
        steps = [s for s in self.plan.steps if s.id in todo]
        return {
            "steps": [s.description for s in steps],
            "restarts": sorted({r for s in steps for r in s.restarts}),
            "writes": sorted({w for s in steps for w in s.writes}),
            "installs": [i for s in steps for i in s.installs],
        }


def prepare_up(
    settings: Settings,
    *,
    host: Host,
    env: str | None,
    options: UpOptions,
    reporter: Reporter,
    environ: Mapping[str, str],
    renderer: Renderer | None = None,
    facts: HostFacts | None = None,
    project_dir: Path | None = None,
) -> PreparedUp:
    """Gather facts, render, plan, and run the plan's read-only checks (through a host and a client that refuse
    any change): nothing on the host or the cluster changes."""
    from llmops_cli.adapters.hostfacts import gather_facts
    from llmops_cli.adapters.hosts import DryRunHost
    from llmops_cli.cluster.apply import describe_plan
    from llmops_cli.cluster.context import k3s_kube_factory, user_kube_factory
    from llmops_cli.cluster.model import StepContext
    from llmops_cli.cluster.state import State
    from llmops_cli.cluster.steps.k3s import proxy_env

    dry: Host = DryRunHost(host)
    if facts is None:
        facts = gather_facts(dry, sudo_mode=getattr(getattr(host, "sudo", None), "mode", None))
    if not options.proxy_env:
        options = replace(options, proxy_env=proxy_env(environ))
    env_name = resolve_env(settings, env)
    inputs = with_bundled_charts(
        render_inputs(settings, facts, env_name, renderer=renderer, project_dir=project_dir, airgap=options.airgap),
        options.airgap,
    )
    plan = plan_up(settings, facts, inputs, options)
    if options.airgap is not None:
        plan = replace(plan, warnings=(*plan.warnings, *airgap_warnings(settings, inputs)))
    name = settings.cluster.context_name
    ctx = StepContext(
        host=dry,
        settings=settings,
        facts=facts,
        inputs=inputs,
        options=options,
        reporter=reporter,
        state=State.load(settings.cluster.name, environ),
        kube_factory=user_kube_factory(name, environ, fallback=k3s_kube_factory(dry, read_only=True), read_only=True),
        environ=dict(environ),
        dry_run=True,
    )
    return PreparedUp(settings, host, facts, inputs, plan, options, describe_plan(plan, ctx), environ)


def execute_up(prepared: PreparedUp, *, reporter: Reporter) -> UpReport:
    from llmops_cli.cluster.context import k3s_kube_factory
    from llmops_cli.cluster.model import StepContext
    from llmops_cli.cluster.state import State

    settings = prepared.settings
    ctx = StepContext(
        host=prepared.host,
        settings=settings,
        facts=prepared.facts,
        inputs=prepared.inputs,
        options=prepared.options,
        reporter=reporter,
        state=State.load(settings.cluster.name, prepared.environ),
        kube_factory=k3s_kube_factory(prepared.host),
        environ=dict(prepared.environ),
    )
    return run_up(prepared.plan, ctx)


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
    """Prepare (facts, render, plan, read-only checks); then describe it (``dry_run``) or execute it."""
    prepared = prepare_up(
        settings,
        host=host,
        env=env,
        options=options,
        reporter=reporter,
        environ=environ,
        renderer=renderer,
        facts=facts,
    )
    if dry_run:
        return prepared.report()
    return execute_up(prepared, reporter=reporter)
