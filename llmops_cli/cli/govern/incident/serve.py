"""`llmops govern incident serve`."""

from __future__ import annotations

from typing import Annotated

import typer

from llmops_cli.cli.govern._common import ProjectOpt
from llmops_cli.cli.govern.incident._options import AuditLogOpt, EvidenceOpt, LookbackOpt, ReleaseOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    project: ProjectOpt = None,
    host: Annotated[str, typer.Option("--host", metavar="ADDRESS", help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", metavar="PORT", help="Port (0: any free port).")] = 9095,
    token_env: Annotated[
        str | None,
        typer.Option(
            "--token-env",
            metavar="VAR",
            help="Environment variable holding the bearer token every request must carry (Alertmanager's "
            "webhook http_config.authorization); unset: no token asked for.",
        ),
    ] = None,
    commit: Annotated[
        bool,
        typer.Option("--commit", help="Commit the incidents folder after each write that changed it (Git)."),
    ] = False,
    receiver: Annotated[
        list[str] | None,
        typer.Option(
            "--receiver",
            metavar="NAME",
            help="Alertmanager receiver whose notifications open incidents (repeatable; default llmops-incidents, "
            "the one llmops renders). Others are answered 200 and ignored.",
        ),
    ] = None,
    audit_log: AuditLogOpt = None,
    lookback: LookbackOpt = "15m",
    release: ReleaseOpt = None,
    evidence: EvidenceOpt = None,
) -> None:
    """Receive Alertmanager's webhook and open an incident for each notification, as `govern incident open` does.

    POST / (or /alerts) with the payload: 200 with the incident ids, 400 for a malformed payload, 401 without
    the bearer token (--token-env), 413 over 1 MiB. Writes are serialised; the same notification again updates
    its incident, never duplicates it; a resolved one is noted on its open incident. Point
    stacks.observability.alerting.webhook.url at it, and run it beside the project's Git clone (an ops host or CI
    runner that Alertmanager can reach). One log line per notification; Ctrl-C stops it (exit 130).

    Examples:

    \b
      llmops govern incident serve --audit-log /var/log/llmops/audit.jsonl
      llmops govern incident serve --host 0.0.0.0 --token-env LLMOPS_WEBHOOK_TOKEN
      llmops govern incident serve --project ops/ --commit
    """
    from llmops_cli.cli.govern._runtime import now
    from llmops_cli.cli.govern._runtime import project as resolve
    from llmops_cli.errors import InputError, UsageError
    from llmops_cli.govern.runtime.api import read_release
    from llmops_cli.govern.runtime.webhook import Receiver, make_server, serve
    from llmops_cli.render.alerting import INCIDENT_RECEIVER
    from llmops_cli.riskdata import duration_seconds

    session = get_session(ctx)
    session.start("govern incident serve")
    proj = resolve(session, project)
    try:
        duration_seconds(lookback)
    except ValueError as e:
        raise InputError(f"--lookback {lookback!r}: not a duration", hint="e.g. 15m or 1h") from e
    token = None
    if token_env is not None:
        token = session.environ.get(token_env, "").strip()
        if not token:
            raise UsageError(
                f"--token-env {token_env}: the variable is unset or empty",
                hint=f"export {token_env}=<the token Alertmanager sends>",
            )
    rel = release
    if rel is None and proj.settings.stacks.gateway.release_file:
        candidate = proj.resolve(proj.settings.stacks.gateway.release_file)
        rel = candidate if candidate.is_file() else None
    if rel is not None:
        read_release(rel)  # a bad release file is refused now, not at the first alert
    trust = None
    if evidence is not None:
        from llmops_cli.govern.api import trust_from_settings

        if not evidence.exists():
            raise InputError(f"--evidence {evidence}: not found", hint="pass the release's evidence bundle")
        trust = trust_from_settings(proj.settings.governance, proj.base)
    repo = None
    if commit:
        from llmops_cli.adapters.gitrepo import GitRepo

        why = "--commit records each incident as a commit"
        repo = GitRepo.find(proj.base, why=why)
        incidents = proj.incidents_dir.resolve()
        if not incidents.is_relative_to(repo.root.resolve()):
            raise UsageError(
                f"{proj.incidents_dir} is outside the Git repository {repo.root}: {why}",
                hint="set governance.runtime.incidents_dir to a folder of the repository",
            )
        repo.ident(why="--commit records each incident as a commit")
    receiver_ = Receiver(
        project=proj,
        now=lambda: now(session),
        log=session.info,
        token=token,
        repo=repo,
        receivers=tuple(receiver or (INCIDENT_RECEIVER,)),
        audit_log=audit_log,
        lookback=lookback,
        release_file=rel,
        bundle=evidence,
        trust=trust,
    )
    try:
        server = make_server(receiver_, host, port)
    except OSError as e:
        raise UsageError(
            f"cannot listen on {host}:{port}: {e.strerror or e}", hint="pick another --port or --host"
        ) from e
    bound_host, bound_port = server.server_address[:2]
    if token is None and host not in ("127.0.0.1", "::1", "localhost"):
        session.warn(f"listening on {host} with no token: anyone who reaches the port can open incidents")
    commits = f", committing to {repo.root}" if repo else ""
    session.info(
        f"incident webhook: listening on http://{bound_host!s}:{bound_port}/ for receiver "
        f"{', '.join(receiver_.receivers)}, incidents in {proj.incidents_dir}{commits}"
    )
    serve(receiver_, server)
