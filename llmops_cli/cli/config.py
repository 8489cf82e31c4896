"""`llmops config validate|show|schema`."""

from __future__ import annotations

from typing import Annotated

import typer

from llmops_cli.cli.output import OutputFormat, OutputOpt, dump, write_stdout
from llmops_cli.cli.session import Session, get_session

app = typer.Typer(no_args_is_help=True, help="Validate, show and describe llmops.yaml.")


@app.command("validate")
def validate(ctx: typer.Context, output: OutputOpt = OutputFormat.text) -> None:
    """Validate llmops.yaml (and LLMOPS_* overrides); exit 2 listing every problem.

    Examples:
      llmops config validate
      llmops -c prod.yaml config validate -o json
    """
    from llmops_cli.errors import ConfigError

    session = get_session(ctx)
    session.start("config validate", output)
    try:
        loaded = session.loaded()
    except ConfigError as e:
        lines = getattr(e, "all_errors", None) or [str(e)]
        if session.machine:
            session.emit(None, status="error", errors=[{"code": e.code, "message": m} for m in lines])
        else:
            for m in lines:
                session.err.print(f"error: {m}", markup=False)
        raise typer.Exit(int(e.exit_code)) from None
    where = str(loaded.file) if loaded.file else "built-in defaults (no llmops.yaml found)"
    if session.machine:
        session.emit({"file": str(loaded.file) if loaded.file else None, "valid": True})
    else:
        session.info(f"ok: {where} is valid")


@app.command("show")
def show(
    ctx: typer.Context,
    sources: Annotated[bool, typer.Option("--sources", help="Show where each value came from.")] = False,
    output: OutputOpt = OutputFormat.yaml,
) -> None:
    """Print the effective configuration (file + LLMOPS_* env + defaults).

    With --sources, also the settings `llmops gateway serve` would start with here (flags aside: flag > PAC_*
    variable > llmops.yaml > default), each with where it came from.

    Examples:
      llmops config show
      llmops config show --sources
      llmops config show -o json
    """
    session = get_session(ctx)
    session.start("config show", output)
    loaded = session.loaded()
    values = loaded.settings.model_dump(mode="json", by_alias=True)
    gateway = _gateway(session) if sources else None
    if output is OutputFormat.json:
        data: dict[str, object] = {"file": str(loaded.file) if loaded.file else None, "settings": values}
        if sources:
            data["sources"] = loaded.sources
            data["gateway_serve"] = gateway
        session.emit(data)
        return
    if not sources:
        write_stdout(dump(values, OutputFormat.yaml))
        return
    assert gateway is not None
    rows = [(path, _fmt(_lookup(values, path)), src) for path, src in loaded.sources.items()]
    rows += [(f"gateway serve: {name}", _fmt(v["value"]), str(v["source"])) for name, v in gateway.items()]
    width = max(len(r[0]) for r in rows)
    write_stdout("\n".join(f"{path:<{width}}  {value:<30}  # {src}" for path, value, src in rows) + "\n")


def _gateway(session: object) -> dict[str, dict[str, object]]:
    """The effective settings of `gateway serve` without flags, with their sources; secrets as `(set)`."""
    from llmops_cli.cli.gateway._common import configured
    from llmops_cli.gateway.settings import SECRET_FIELDS, resolve

    assert isinstance(session, Session)
    settings, sources = resolve({}, session.environ, configured(session))
    out: dict[str, dict[str, object]] = {}
    for name, value in settings.model_dump(mode="json").items():
        shown = "(set)" if name in SECRET_FIELDS and value else value
        out[name] = {"value": shown, "source": sources.get(name, "default")}
    return out


@app.command("schema")
def schema(ctx: typer.Context) -> None:
    """Print the JSON Schema of llmops.yaml (for editor completion).

    Examples:
      llmops config schema > llmops.schema.json
    """
    from llmops_cli.config.model import Settings

    get_session(ctx).start("config schema")
    doc = Settings.model_json_schema(by_alias=True)
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    doc["title"] = "llmops.yaml"
    write_stdout(dump(doc, OutputFormat.json))


def _lookup(values: dict[str, object], dotted: str) -> object:
    cur: object = values
    for part in dotted.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return None
    return cur


def _fmt(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)
