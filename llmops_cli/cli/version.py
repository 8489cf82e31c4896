"""`llmops version`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmops_cli.cli.output import OutputFormat, OutputOpt
from llmops_cli.cli.session import get_session


def command(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Also print every pinned upstream version.")] = False,
    check: Annotated[
        bool,
        typer.Option("--check", help="With --all: say which pins are behind their upstream's newest stable tag."),
    ] = False,
    releases: Annotated[
        Path | None,
        typer.Option(
            "--releases",
            help="Directory of tag lists, one file per repository named owner+name.tags "
            "(`git ls-remote --tags https://github.com/OWNER/NAME > DIR/OWNER+NAME.tags`); "
            "without it --check asks GitHub with git ls-remote.",
            file_okay=False,
        ),
    ] = None,
    offline: Annotated[bool, typer.Option("--offline", help="With --check: use no network.")] = False,
    output: OutputOpt = OutputFormat.text,
) -> None:
    """Print llmops's version, or every pinned upstream version and its source with --all.

    Examples:
      llmops version --all
      llmops version --all --check
      llmops version --all --check --releases ./release-tags
      llmops version -o json
    """
    from llmops_cli import __version__
    from llmops_cli.versions import RELEASES

    session = get_session(ctx)
    session.start("version", output)
    if (check or releases or offline) and not all_:
        raise typer.BadParameter("--check, --releases and --offline go with --all", param_hint="--check")
    if releases is not None and not releases.is_dir():
        raise typer.BadParameter(f"{releases} is not a directory", param_hint="--releases")
    data: dict[str, object] = {"llmops": __version__}
    checks = None
    if all_:
        data["pins"] = {p.name: p.value for p in RELEASES}
        data["sources"] = {p.name: f"{p.repo}@{p.tag}" for p in RELEASES}
    if check or releases is not None:
        from llmops_cli.render.releases import DirectoryTags, GitRemoteTags, NoTags, TagSource, check_pins

        source: TagSource = DirectoryTags(releases) if releases else NoTags() if offline else GitRemoteTags()
        checks = check_pins(source)
        data["check"] = [c.to_dict() for c in checks]
    if session.machine:
        session.emit(data)
        return
    print(f"llmops {__version__}")
    if not all_:
        return
    width = max(len(p.name) for p in RELEASES)
    vwidth = max(len(p.value) for p in RELEASES)
    status = {c.pin.name: c for c in checks or []}
    for p in RELEASES:
        line = f"{p.name:<{width}}  {p.value:<{vwidth}}  {p.repo}@{p.tag}"
        if p.name in status:
            c = status[p.name]
            line += f"  [{c.status}] {c.note}" if c.status in ("behind", "unknown") else f"  [{c.status}]"
        print(line.rstrip())
    if checks is not None:
        behind = sum(c.status == "behind" for c in checks)
        unknown = sum(c.status == "unknown" for c in checks)
        if unknown and not behind and all(c.status != "current" for c in checks if c.pin.tags):
            session.err.print("cannot tell which pins are behind: no release metadata (offline?)", markup=False)
        else:
            session.err.print(f"{behind} pin(s) behind, {unknown} unknown", markup=False)
