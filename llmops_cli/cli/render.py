"""`llmops render`: Settings → the GitOps tree Argo CD syncs (manifests/<env>/...)."""

from __future__ import annotations

from typing import Annotated

import typer

from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session, user_path


def command(
    ctx: typer.Context,
    env: Annotated[
        list[str] | None,
        typer.Option("--env", "-e", metavar="ENV", help="Environment to render (repeatable; default: all)."),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Render every environment (the default).")] = False,
    out: Annotated[
        str | None, typer.Option("--out", metavar="DIR", help="Output directory (default: gitops.path).")
    ] = None,
    stack: Annotated[
        list[str] | None, typer.Option("--stack", metavar="NAME", help="Render only this stack (repeatable).")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 with a diff summary when DIR differs.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Write into a directory that holds other files.")] = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Render the platform as a GitOps tree, or check a tree for drift.

    Examples:
      llmops render
      llmops render --env dev --stack vllm --out /tmp/tree
      llmops render --all --check
    """
    from llmops_cli.errors import UsageError
    from llmops_cli.render.tree import render_tree

    session = get_session(ctx)
    session.start("render", output)
    if env and all_:
        raise UsageError("--env and --all exclude each other", hint="pass one of them")
    loaded = session.loaded()
    settings = loaded.settings
    envs = list(dict.fromkeys(env)) if env else list(settings.environments)
    target = user_path(out) if out else loaded.resolve(settings.gitops.path)
    result = render_tree(
        settings, envs, target, stacks=stack or None, check=check, force=force, project_dir=loaded.base_dir
    )
    if session.machine:
        session.emit(result.to_data(), status="drift" if check and result.drift else "ok")
    else:
        _print_human(session, result)
    if check and result.drift:
        raise typer.Exit(1)


def _print_human(session: object, result: object) -> None:
    from llmops_cli.cli.session import Session
    from llmops_cli.render.tree import RenderResult

    assert isinstance(session, Session) and isinstance(result, RenderResult)
    s = result.summary()
    counts = f"{s['added']} added, {s['changed']} changed, {s['removed']} removed"
    envs = ", ".join(result.environments)
    if result.checked:
        if not result.drift:
            session.info(f"ok: {result.out} matches the rendered tree ({envs}; {result.files} files)")
            return
        session.err.print(f"drift: {result.out} differs from `llmops render` ({counts}):", markup=False)
        for c in result.changes[:20]:
            mark = {"added": "+", "changed": "~", "removed": "-"}[c.status]
            session.err.print(f"  {mark} {c.path} (+{c.added_lines} -{c.removed_lines})", markup=False)
        if len(result.changes) > 20:
            session.err.print(f"  ... and {len(result.changes) - 20} more", markup=False)
        session.err.print("run `llmops render` and commit the result", markup=False)
        return
    session.info(f"rendered {envs} into {result.out}: {result.files} files ({counts})")
