"""`llmops govern keygen`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    out: Annotated[
        Path, typer.Option("--out", metavar="FILE", help="Private key path; the public key goes to FILE.pub.")
    ] = Path("governance/signing.key"),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing key pair.")] = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Create an Ed25519 key pair that signs evidence bundles (private key 0600, public key to commit).

    Keep the private key out of Git (a CI secret); commit the public key and list it under
    governance.signing.public_keys so `govern verify --project .` trusts it.

    Examples:

    \b
      llmops govern keygen --out ~/.config/llmops/signing.key
      llmops govern check --sign-key ~/.config/llmops/signing.key
    """
    from llmops_cli.govern.signing import generate_key

    session = get_session(ctx)
    session.start("govern keygen", output)
    public = out.with_name(out.name + ".pub")
    kid = generate_key(out, public, force=force)
    if session.machine:
        session.emit({"private_key": str(out), "public_key": str(public), "key_id": kid})
        return
    session.info(f"wrote {out} (private, 0600) and {public} · key id {kid[:16]}")
