"""`llmops bundle`: fetch the pinned chart archives into an airgap bundle and write its SHA256SUMS."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="The bundle folder (created if missing).")],
    chart: Annotated[
        list[str] | None,
        typer.Option("--chart", metavar="NAME", help="Only this chart (repeatable; default: every chart)."),
    ] = None,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Fetch the pinned Helm chart archives into DIR/charts/ and write DIR/SHA256SUMS, on a connected machine.

    Add the k3s release files and image tarballs (DIR/images/) as docs/laptop.md says, run it again to list
    them in SHA256SUMS, then `llmops up --airgap-bundle DIR` on the offline host.

    Examples:
      llmops bundle ./bundle
      llmops bundle ./bundle --chart loki --chart alloy -o json
    """
    from llmops_cli.adapters.download import Downloader
    from llmops_cli.cluster.bundle import build_bundle

    session = get_session(ctx)
    session.start("bundle", output)
    with Downloader() as fetcher:
        data = build_bundle(directory.expanduser(), fetcher=fetcher, charts=chart)
    if session.machine:
        session.emit(data)
        return
    for c in data["charts"]:
        session.info(f"{c['status']:8} {c['chart']} {c['version']}  {c['sha256'][:12]}")
    session.info(f"SHA256SUMS lists {len(data['sha256sums'])} file(s) in {data['bundle']}")
