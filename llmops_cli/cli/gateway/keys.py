"""`llmops gateway keys create|list|revoke`."""

from __future__ import annotations

from typing import Annotated

import typer

from llmops_cli.cli.gateway._common import PoliciesOpt, policy_file
from llmops_cli.cli.output import OutputFormat, OutputOpt, write_stdout
from llmops_cli.cli.session import get_session

app = typer.Typer(no_args_is_help=True, help="Create, list and revoke gateway API keys.")


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Who or what the key is for.")],
    models: Annotated[
        str | None,
        typer.Option("--models", metavar="M,...", help="Models the key may use (fnmatch patterns; default all)."),
    ] = None,
    policies: PoliciesOpt = None,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Create an API key: print it once and store only its hash in the policy file.

    Examples:
      llmops gateway keys create team-a
      llmops gateway keys create ci --models 'llama-*,qwen2' -o json
    """
    from llmops_cli.gateway.keyfile import create_key

    session = get_session(ctx)
    session.start("gateway keys create", output)
    wanted = [m.strip() for m in models.split(",") if m.strip()] if models else None
    created = create_key(policy_file(session, policies, for_write=True), name, wanted)
    data = {
        "id": created.id,
        "name": created.name,
        "key": created.key,
        "models": created.models,
        "file": created.file,
    }
    if session.machine:
        session.emit(data)
        return
    write_stdout(created.key + "\n")
    session.info(
        f"created key {created.id} for {name!r} (models: {', '.join(created.models)}) in {created.file}; "
        "it is shown only once. Reload the gateway (SIGHUP) if it does not watch the file."
    )


@app.command("list")
def list_(ctx: typer.Context, policies: PoliciesOpt = None, output: OutputOpt = OutputFormat.text) -> None:
    """List API keys (ids, names, models, state; never the keys).

    Examples:
      llmops gateway keys list
      llmops gateway keys list -o json
    """
    from llmops_cli.gateway.keyfile import list_keys

    session = get_session(ctx)
    session.start("gateway keys list", output)
    keys = list_keys(policy_file(session, policies))
    rows = [{"id": k.id, "name": k.name, "models": k.models, "created": k.created, "revoked": k.revoked} for k in keys]
    if session.machine:
        session.emit(rows)
        return
    if not rows:
        session.info("no keys; create one with `llmops gateway keys create NAME`")
        return
    lines = [f"{k.id:<28} {'revoked' if k.revoked else 'active':<8} {','.join(k.models):<20} {k.name}" for k in keys]
    write_stdout("\n".join([f"{'ID':<28} {'STATE':<8} {'MODELS':<20} NAME", *lines]) + "\n")


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(metavar="KEY_ID", help="The id shown by `keys list`.")],
    policies: PoliciesOpt = None,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Revoke an API key (kept in the file, marked revoked).

    Examples:
      llmops gateway keys revoke team-a
    """
    from llmops_cli.gateway.keyfile import revoke_key

    session = get_session(ctx)
    session.start("gateway keys revoke", output)
    done = revoke_key(policy_file(session, policies, for_write=True), key_id)
    if session.machine:
        session.emit({"id": done.key.id, "revoked": done.key.revoked, "already_revoked": done.already})
        return
    if done.already:
        session.info(f"key {done.key.id} is already revoked; nothing changed")
        return
    session.info(f"revoked key {done.key.id}; reload the gateway (SIGHUP) if it does not watch the file")
