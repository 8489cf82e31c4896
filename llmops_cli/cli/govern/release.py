"""`llmops govern release`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmops_cli.cli.govern._common import ProjectOpt
from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    bundle: Annotated[
        Path,
        typer.Argument(metavar="BUNDLE", help="A run folder, or <evidence-dir>/<model>/<version> for its newest run."),
    ],
    env: Annotated[str, typer.Option("--env", "-e", metavar="NAME", help="Environment the release is for.")],
    project: ProjectOpt = None,
    served_model: Annotated[
        str | None,
        typer.Option("--served-model", metavar="NAME", help="Name clients use (default: stacks.vllm's served name)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="FILE", help="Release record (default: <governance.runtime.releases_dir>/ENV.json)."
        ),
    ] = None,
    key: Annotated[
        list[Path] | None,
        typer.Option("--key", metavar="FILE", help="Trusted PEM public key (repeatable; adds to signing.public_keys)."),
    ] = None,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Promote a verified, passing evidence bundle into the release record the platform serves under.

    The gateway exports the record as metrics (risk class, fairness, evidence age and signature); set
    stacks.gateway.release_file to it and run `llmops render`. Unsigned evidence is refused unless
    governance.runtime.risk.require_signed_evidence is false.

    Examples:

    \b
      llmops govern release evidence/credit-approval/1.2.0 --env prod
      llmops govern release evidence/credit-approval/1.2.0/2da3d3c352ece40b --env dev --key signing.pub -o json
    """
    from llmops_cli.cli.govern._runtime import now
    from llmops_cli.cli.govern._runtime import project as resolve
    from llmops_cli.govern.api import trust_from_settings
    from llmops_cli.govern.runtime.api import release

    session = get_session(ctx)
    session.start("govern release", output)
    proj = resolve(session, project)
    gov = proj.settings.governance
    trust = trust_from_settings(
        gov, proj.base, keys=key or [], require_signature=gov.runtime.risk.require_signed_evidence
    )
    done = release(proj, bundle, env=env, trust=trust, served_model=served_model, out=out, now=now(session))
    rel = done.release
    if session.machine:
        session.emit({"record": str(done.path), "history": str(done.history), "release": rel.to_dict()})
        return
    session.info(
        f"released {rel.model} {rel.version} (run {rel.run}, signature {rel.signature}, risk "
        f"{rel.risk_level or 'unscored'}) to {rel.env}: {done.path}"
    )
    session.info(f"next: set stacks.gateway.release_file: {done.path} and run `llmops render`")
