"""`llmops govern verify`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    bundle: Annotated[
        Path,
        typer.Argument(metavar="BUNDLE", help="A run folder, or <evidence-dir>/<model>/<version> for its newest run."),
    ],
    project: Annotated[
        Path | None,
        typer.Option(
            "--project", metavar="DIR", help="Also re-hash the recorded inputs from DIR and trust its signing keys."
        ),
    ] = None,
    key: Annotated[
        list[Path] | None,
        typer.Option("--key", metavar="FILE", help="Trusted PEM public key (repeatable)."),
    ] = None,
    require_signature: Annotated[
        bool, typer.Option("--require-signature", help="Fail unless a trusted signer signed the bundle.")
    ] = False,
    cert_identity: Annotated[
        str | None,
        typer.Option("--cert-identity", metavar="ID", help="Sigstore: the signer's certificate identity."),
    ] = None,
    cert_oidc_issuer: Annotated[
        str | None,
        typer.Option("--cert-oidc-issuer", metavar="URL", help="Sigstore: the identity's OIDC issuer."),
    ] = None,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Check an evidence bundle's hashes, signature and signer, and fail naming what changed.

    Examples:

    \b
      llmops govern verify evidence/credit-model/1.2.0 --project . --require-signature
      llmops govern verify evidence/credit-model/1.2.0/3f2a9c0d1e4b5a6f --key signing.pub -o json
      llmops govern verify evidence/credit-model/1.2.0 --require-signature \\
          --cert-identity https://github.com/org/repo/.github/workflows/ci.yml@refs/heads/main \\
          --cert-oidc-issuer https://token.actions.githubusercontent.com
    """
    from llmops_cli.cli.govern._present import verify_outcome
    from llmops_cli.govern.api import trust_from_settings, verify

    session = get_session(ctx)
    session.start("govern verify", output)
    gov = None
    if project is not None:
        from llmops_cli.cli.govern._common import resolve_inputs

        _, settings = resolve_inputs(session, project)
        gov = settings.governance
    trust = trust_from_settings(
        gov,
        project,
        keys=key or [],
        identity=cert_identity,
        issuer=cert_oidc_issuer,
        require_signature=require_signature,
    )
    verify_outcome(session, verify(bundle, project, trust), project is not None)
