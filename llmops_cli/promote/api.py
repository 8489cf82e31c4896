"""`llmops promote ENV` as core functions: :func:`prepare` (the gate, the connections, every host's plan and the
release's diff: nothing changes) and :func:`execute` (the clusters, the release commit, the push, the wait for
Argo CD). `--rollback` goes through the same path with an earlier release's tree."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops_cli.errors import LlmopsError, UsageError

if TYPE_CHECKING:
    from llmops_cli.adapters.gitrepo import GitRepo
    from llmops_cli.adapters.hosts import Host
    from llmops_cli.adapters.kube import Kube
    from llmops_cli.cluster.model import AirgapBundle
    from llmops_cli.config.model import Settings
    from llmops_cli.promote.gate import GateResult
    from llmops_cli.promote.release import ReleaseChange
    from llmops_cli.promote.remote import ClusterPlan, ClusterRun
    from llmops_cli.reporting import Reporter

SYNC_TIMEOUT = 900.0
ROOT_REFRESH_ANNOTATION = "argocd.argoproj.io/refresh"  # argo-cd v3.4.4 docs/user-guide/annotations-and-labels.md


@dataclass(frozen=True)
class PromoteOptions:
    dry_run: bool = False
    push: bool = False
    rollback: bool = False
    rollback_to: str | None = None  # with rollback: the commit to restore (default: the release before)
    evidence: Path | None = None
    accept_new_host_key: bool = False
    airgap: AirgapBundle | None = None
    timeout: float = 900.0
    sudo_password: Callable[[], str] | None = field(default=None, repr=False)
    api_via: str = "auto"  # how the cluster's API is reached: auto | direct | ssh (promote.remote.ApiAccess)


@dataclass
class PreparedPromote:
    settings: Settings
    env: str
    base_dir: Path
    repo: GitRepo
    options: PromoteOptions
    gate: GateResult
    change: ReleaseChange
    cluster: ClusterPlan | None
    hosts: dict[str, Host]
    environ: Mapping[str, str]

    def close(self) -> None:
        from llmops_cli.promote.remote import close_hosts

        close_hosts(self.hosts)

    @property
    def failures(self) -> list[str]:
        return self.cluster.failures() if self.cluster else []

    def to_dict(self, *, with_diff: bool = True) -> dict[str, Any]:
        return {
            "environment": self.env,
            "dry_run": self.options.dry_run,
            "rollback": self.options.rollback,
            "gate": self.gate.to_dict(),
            "cluster": self.cluster.to_dict() if self.cluster else None,
            "release": self.change.to_dict(with_diff=with_diff),
            "preflight": self.failures,
        }


@dataclass
class PromoteReport:
    prepared: PreparedPromote
    run: ClusterRun | None = None
    commit: str | None = None
    pushed: bool = False
    synced: dict[str, str] | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = self.prepared.to_dict(with_diff=False)
        data.update(
            {
                "hosts_run": self.run.to_dict() if self.run else None,
                "commit": self.commit,
                "pushed": self.pushed,
                "applications": self.synced,
                "notes": self.notes,
            }
        )
        return data


def _check_env(settings: Settings, env: str) -> None:
    if env not in settings.environments:
        raise UsageError(
            f"unknown environment {env!r}", hint=f"environments in llmops.yaml: {', '.join(settings.environments)}"
        )


def prepare(
    settings: Settings,
    env: str,
    *,
    base_dir: Path,
    options: PromoteOptions,
    reporter: Reporter,
    environ: Mapping[str, str],
    connect: Callable[..., dict[str, Host]] | None = None,
    kube_factory: Callable[[], Kube] | None = None,
) -> PreparedPromote:
    """The gate, the release and its diff, and (for an environment with hosts) every host's plan, checked
    read-only. Nothing on the hosts, the cluster or in Git changes."""
    from llmops_cli.adapters.gitrepo import GitRepo
    from llmops_cli.promote import gate as gates
    from llmops_cli.promote import release as rel
    from llmops_cli.promote import remote
    from llmops_cli.promote.images import ImagePinner
    from llmops_cli.render.api import render_environment
    from llmops_cli.render.stacks.common import env_branch, resolve_backend

    _check_env(settings, env)
    e = settings.environments[env]
    repo = GitRepo.find(base_dir)
    folder = rel.folder_of(repo, settings, base_dir, env)
    branch = env_branch(settings, env)
    gov = settings.governance
    target = None
    if options.rollback:
        target = rel.rollback_target(repo, branch, folder, options.rollback_to)
        model = gates.ModelRef(**target.release.model) if target.release.model else None
        bundle = options.evidence
        if bundle is None and model is not None and target.release.evidence:
            evidence = Path(gov.evidence_dir).expanduser()
            evidence = evidence if evidence.is_absolute() else base_dir / evidence
            bundle = evidence / model.name / model.version / str(target.release.evidence.get("run"))
        gate = gates.evaluate(env, required=e.requires_evidence, model=model, gov=gov, base_dir=base_dir, bundle=bundle)
        recorded = (target.release.evidence or {}).get("digest")
        if gate.digest and recorded and gate.digest != recorded:
            gate.problems.append(f"the bundle's digest {gate.digest} is not the one the release recorded ({recorded})")
    else:
        model = gates.release_model(gov, base_dir)
        gate = gates.evaluate(
            env, required=e.requires_evidence, model=model, gov=gov, base_dir=base_dir, bundle=options.evidence
        )
    if not options.dry_run:
        gates.enforce(gate)  # refused before any host is touched; a dry run shows everything
    esettings = remote.environment_settings(settings, env) if e.hosts else settings
    pinner = ImagePinner(esettings, env)
    trees: dict[bool, dict[str, str]] = {}
    gateway_record: list[str | None] = []

    def gateway_release() -> str | None:
        if not gateway_record:
            gateway_record.append(rel.gateway_release(esettings, env, gate, repo, branch, folder))
        return gateway_record[0]

    def tree_for(gpu: bool) -> dict[str, str]:
        if gpu not in trees:
            if target is not None:
                trees[gpu] = dict(target.files)
            else:
                # The gateway serves under the promoted bundle's release record (its gauges are what the canary
                # analysis and the risk alerts read), in place of stacks.gateway.release_file.
                # Every image pinned to its digest (the registry's, or llmops.yaml's): what the release records.
                tree = render_environment(
                    esettings, env, gpu=gpu, project_dir=base_dir, release_json=gateway_release(), pin_images=pinner
                )
                record = rel.build_release(
                    esettings, env, gate, tree, resolve_backend(esettings, gpu), image_digests=pinner.record()
                )
                trees[gpu] = rel.with_release(tree, record)
        return trees[gpu]

    hosts: dict[str, Host] = {}
    cluster = None
    try:
        if e.hosts:
            from llmops_cli.cluster.model import UpOptions

            connect = connect or remote.connect_hosts
            hosts = connect(
                e.hosts,
                remote.ConnectOptions(options.accept_new_host_key, e.ssh_config),
                # One password for every host of the run: asked (or read) once, when a host first needs it.
                password=remote.SharedPassword(options.sudo_password).available,
                reporter=reporter,
                base_dir=base_dir,
            )
            cluster = remote.plan_cluster(
                settings,
                env,
                hosts,
                options=UpOptions(timeout=options.timeout, airgap=options.airgap),
                environ=environ,
                reporter=reporter,
                tree_for=tree_for,
                kube_factory=kube_factory,
                api_via=options.api_via,
            )
            files = tree_for(cluster.gpu)
        else:
            from llmops_cli.render.stacks.common import resolve_gpu

            files = tree_for(resolve_gpu(settings, env, None))
        record = rel.Release.parse(files.get(rel.RELEASE_FILE, ""))
        if record is None:
            raise LlmopsError(f"the tree to release has no {rel.RELEASE_FILE}", code="bug")
        gates.check_images(gate, record.image_digests)
        if not options.dry_run:
            gates.enforce(gate)
        change = rel.prepare_change(repo, branch, folder, files, record)
        who = str(repo.ident())
        if target is not None:
            change.restores = target.sha
            live = change.previous[0] if change.previous else "none"
            extra = {"Llmops-Rollback-Of": live, "Llmops-Restores": target.sha}
            subject = f"rollback {env} to {rel.subject_for(record)}"
            body = f"Restores the release of commit {target.sha[:12]} ({record.label}) on {env}, as it was committed."
        else:
            extra = {}
            subject = f"promote {env}: {rel.subject_for(record)}"
            body = f"Release of {record.label} to {env}, serving {record.serving.get('model')}."
        trailers = rel.record_trailers(record, previous=change.previous, who=who, extra=extra)
        change.message = rel.commit_message(subject, body, trailers)
    except BaseException:
        remote.close_hosts(hosts)
        raise
    return PreparedPromote(settings, env, base_dir, repo, options, gate, change, cluster, hosts, environ)


def execute(
    prepared: PreparedPromote, *, reporter: Reporter, kube_factory: Callable[[], Kube] | None = None
) -> PromoteReport:
    """The clusters, the release commit, the push, and (once Argo CD can see the commit) the wait until every
    Application is Synced and Healthy at that revision."""
    from llmops_cli.promote import gate as gates
    from llmops_cli.promote import release as rel
    from llmops_cli.promote import remote

    if prepared.options.dry_run:
        raise LlmopsError("execute called for a dry run", code="bug")
    gates.enforce(prepared.gate)
    report = PromoteReport(prepared)
    cp = prepared.cluster
    if cp is not None:
        report.run = remote.run_hosts(cp, reporter)
        report.notes += report.run.notes
    change = prepared.change
    if change.changed:
        report.commit = rel.commit_change(prepared.repo, change)
        short = report.commit[:12] if report.commit else "(nothing)"
        reporter.info(f"committed {short} on {change.branch}: {change.message.splitlines()[0]}")
    else:
        report.notes.append(f"{change.folder} on {change.branch} already holds this release: nothing to commit")
    revision = report.commit or change.tip
    local_gitops = prepared.settings.gitops.local
    remote_name = prepared.repo.remote_of(change.branch)
    if prepared.options.push:
        if remote_name is None:
            raise UsageError("--push: this repository has no remote", hint="git remote add origin URL")
        prepared.repo.push(remote_name, change.branch)
        report.pushed = True
        reporter.info(f"pushed {change.branch} to {remote_name}")
    published = bool(
        not change.changed
        and change.tip
        and remote_name
        and prepared.repo.rev(f"refs/remotes/{remote_name}/{change.branch}") == change.tip
    )
    if cp is not None and (report.pushed or local_gitops or published):
        kube = kube_factory or cp.kube_factory
        if not local_gitops and revision:
            wait_for_revision(cp, kube, revision, reporter)
        remote.run_waits(cp, reporter, report.run or remote.ClusterRun())
        report.synced = (report.run.results if report.run else {}).get("applications")
    elif cp is not None:
        report.notes.append(
            f"Argo CD on {prepared.env} reads {prepared.settings.gitops.repo_url} ({change.branch}): push the commit "
            f"(git push {prepared.repo.remote_of(change.branch) or 'origin'} {change.branch}), or rerun with --push to "
            "wait for it to sync"
        )
    return report


def wait_for_revision(cp: ClusterPlan, kube_factory: Callable[[], Kube], revision: str, reporter: Reporter) -> None:
    """Ask Argo CD to fetch now (the refresh annotation; it polls Git every few minutes otherwise), then wait until
    the root Application has compared against ``revision``."""
    from llmops_cli.cluster.poll import wait_for
    from llmops_cli.render import names

    kube = kube_factory()
    root = names.root_app_name(cp.env)
    ns = names.ARGOCD_NAMESPACE
    kube.merge_patch(
        "argoproj.io/v1alpha1",
        "Application",
        root,
        {"metadata": {"annotations": {ROOT_REFRESH_ANNOTATION: "normal"}}},
        ns,
    )

    def at_revision() -> bool | None:
        app = kube.get("argoproj.io/v1alpha1", "Application", root, ns) or {}
        got = ((app.get("status") or {}).get("sync") or {}).get("revision")
        reporter.progress(root, f"revision {str(got)[:12] if got else 'unknown'}")
        return True if got == revision else None

    wait_for(
        at_revision,
        timeout=min(SYNC_TIMEOUT, cp.options.timeout),
        what=f"Argo CD to read commit {revision[:12]}",
        clock=cp.clock,
        sleep=cp.sleep,
        describe=lambda: [f"Application {ns}/{root} has not compared against {revision[:12]} yet"],
        hint="check that Argo CD can read the repository (llmops status), then promote again",
    )
