"""The Jinja2 environment over the packaged templates: StrictUndefined, YAML-safe filters, cached."""

from __future__ import annotations

from functools import cache
from typing import Any

from llmops_cli.errors import LlmopsError
from llmops_cli.render.yamlio import load_all, yaml_value


def _combine(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {**a, **b}


@cache
def environment() -> Any:
    import jinja2

    from llmops_cli.resources import templates_dir

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - YAML, not HTML; every value goes through the `y` filter
        keep_trailing_newline=True,
        trim_blocks=False,
        lstrip_blocks=False,
    )
    env.filters["y"] = yaml_value
    env.filters["combine"] = _combine
    return env


def render_text(name: str, **context: Any) -> str:
    import jinja2

    try:
        template = environment().get_template(name)
        m = environment().get_template("_macros.j2").module
        return str(template.render(m=m, **context))
    except jinja2.TemplateError as e:
        raise LlmopsError(f"template {name} failed to render: {e}", code="bug") from e


def render_objects(name: str, **context: Any) -> list[dict[str, Any]]:
    """Render a template and parse it into Kubernetes objects."""
    return load_all(render_text(name, **context), name)
