"""`llmops promote ENV`: provision the environment's hosts over SSH and promote a governed release through Git."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    env: Annotated[str, typer.Argument(metavar="ENV", help="Environment in llmops.yaml (environments.<ENV>).")],
    rev: Annotated[
        str | None,
        typer.Argument(metavar="REV", help="With --rollback: the commit whose release to restore."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print each host's plan and the release's Git diff; change nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before changing the hosts and Git.")] = False,
    push: Annotated[
        bool, typer.Option("--push", help="Push the release commit, then wait for Argo CD to sync it.")
    ] = False,
    rollback: Annotated[
        bool,
        typer.Option(
            "--rollback", help="Restore the release before the live one (or the one committed in REV) as a new commit."
        ),
    ] = False,
    accept_new_host_key: Annotated[
        bool,
        typer.Option(
            "--accept-new-host-key", help="Trust a host whose key is not in known_hosts yet (never a changed one)."
        ),
    ] = False,
    evidence: Annotated[
        Path | None,
        typer.Option("--evidence", metavar="DIR", help="The governance bundle (default: the newest for the model)."),
    ] = None,
    airgap_bundle: Annotated[
        str | None,
        typer.Option("--airgap-bundle", metavar="DIR", help="k3s binary, images tarball, install.sh (uploaded)."),
    ] = None,
    sudo_password_env: Annotated[
        str | None,
        typer.Option(
            "--sudo-password-env",
            metavar="NAME",
            help="Read the hosts' sudo password from this environment variable (else asked once on a terminal).",
        ),
    ] = None,
    api_via: Annotated[
        str,
        typer.Option(
            "--api-via",
            metavar="auto|direct|ssh",
            help="How to reach the cluster's API (port 6443 of the first server): directly, through an SSH "
            "tunnel to that server (ssh -L, with your ssh config and ProxyJump), or auto: directly when the port "
            "answers, else the tunnel.",
        ),
    ] = "auto",
    timeout: Annotated[float, typer.Option("--timeout", metavar="S", help="Seconds to wait for health.")] = 900.0,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Promote a release to ENV behind the governance gate: its hosts over SSH, the release through Git.

    The gate comes first (exit 4 naming the failed rules or the mismatch); then every host's plan and the
    release's diff are shown and, unless --dry-run, applied: k3s on each host by role, Argo CD on the first
    server, the release committed on the environment's branch (model version, evidence digest, risk, previous
    release, who promoted), pushed with --push, and Argo CD waited for until Synced and Healthy.

    Examples:
      llmops promote prod --dry-run
      llmops promote prod --yes --push
      llmops promote prod --rollback --yes --push
      llmops promote prod --rollback 3f2a9c0 --yes
      llmops promote staging --accept-new-host-key --airgap-bundle ./k3s-bundle -o json
      llmops promote prod --api-via ssh --yes    # hosts behind a bastion: the API through ssh -L
    """
    from llmops_cli.cli.hostopts import confirm
    from llmops_cli.cli.promote_view import print_prepared, print_report
    from llmops_cli.cluster.lock import run_lock
    from llmops_cli.cluster.up import inspect_airgap_bundle
    from llmops_cli.errors import UsageError
    from llmops_cli.promote.api import PromoteOptions, execute, prepare
    from llmops_cli.promote.gate import enforce

    if api_via not in ("auto", "direct", "ssh"):
        raise UsageError(f"--api-via {api_via!r}: use auto, direct or ssh")
    if rev is not None and not rollback:
        raise UsageError(
            f"unexpected argument {rev!r}", hint="a revision goes with --rollback: promote ENV --rollback REV"
        )
    session = get_session(ctx)
    session.start("promote", output)
    loaded = session.loaded()
    options = PromoteOptions(
        dry_run=dry_run,
        push=push,
        rollback=rollback,
        rollback_to=rev,
        evidence=evidence,
        accept_new_host_key=accept_new_host_key,
        airgap=inspect_airgap_bundle(airgap_bundle) if airgap_bundle else None,
        timeout=timeout,
        sudo_password=_password_source(session, sudo_password_env),
        api_via=api_via,
    )
    reporter = session.reporter()
    lock = run_lock(f"promote-{env}", "promote", session.environ) if not dry_run else _nothing()
    with lock:
        prepared = prepare(
            loaded.settings, env, base_dir=loaded.base_dir, options=options, reporter=reporter, environ=session.environ
        )
        try:
            failures = prepared.failures
            if dry_run or failures:
                gate_errors = (
                    [{"code": "gate", "message": r} for r in prepared.gate.reasons()] if not prepared.gate.ok else []
                )
                errors = gate_errors + [{"code": "preflight", "message": f} for f in failures]
                if session.machine:
                    session.emit(prepared.to_dict(), status="error" if errors else "ok", errors=errors)
                else:
                    print_prepared(session, prepared)
                if gate_errors:
                    if session.machine:
                        raise typer.Exit(4)
                    enforce(prepared.gate)
                if failures:
                    raise typer.Exit(1)
                return
            print_prepared(session, prepared, summary_only=True)
            confirm(session, f"Change {len(prepared.hosts)} host(s) and commit the release to {env}?", yes=yes)
            report = execute(prepared, reporter=reporter)
        finally:
            prepared.close()
    if session.machine:
        session.emit(report.to_dict())
    else:
        print_report(session, report)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _password_source(session: object, env_name: str | None):  # type: ignore[no-untyped-def]
    """The sudo password: from the named environment variable, else asked once on a terminal, else none (a host
    whose sudo needs one then fails naming --sudo-password-env)."""
    import sys

    from llmops_cli.cli.session import Session
    from llmops_cli.errors import UsageError

    assert isinstance(session, Session)
    if env_name is not None:
        value = session.environ.get(env_name)
        if not value:
            raise UsageError(f"--sudo-password-env {env_name}: that variable is not set", hint=f"export {env_name}")
        return lambda: value
    if not session.interactive:
        return None

    def ask() -> str:
        import getpass

        return getpass.getpass("sudo password for the hosts (asked once): ", stream=sys.stderr)

    return ask
