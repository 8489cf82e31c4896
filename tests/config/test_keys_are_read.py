"""Every llmops.yaml key does something: a key nothing reads would be a setting that silently has no effect."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from llmops_cli.config.model import Settings

ROOT = Path(__file__).resolve().parents[2]


def _leaves(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, str]]:
    for name, field in model.model_fields.items():
        path = prefix + name
        nested = [a for a in (field.annotation, *typing.get_args(field.annotation)) if isinstance(a, type)]
        nested += [b for a in typing.get_args(field.annotation) for b in typing.get_args(a) if isinstance(b, type)]
        models = [m for m in nested if issubclass(m, BaseModel)]
        if models:
            yield from _leaves(models[0], path + ".")
        else:
            yield path, name


def test_every_settings_key_is_read_somewhere() -> None:
    model = ROOT / "llmops_cli" / "config" / "model.py"
    sources = [p.read_text() for p in [*(ROOT / "llmops_cli").rglob("*.py"), *(ROOT / "templates").rglob("*.j2")]]
    text = "\n".join(s for s in sources if s != model.read_text())
    in_model = model.read_text()  # a property of the model reading a field (VllmSettings.name) counts

    def read(name: str) -> bool:
        # `.name`, `["name"]`, or the name as a string of its own (getattr(settings, "name") through a table)
        pattern = rf"\.{name}\b|\[[\"']{name}[\"']\]|[\"']{name}[\"']"
        return bool(re.search(pattern, text) or re.search(rf"self\.{name}\b", in_model))

    unread = [path for path, name in _leaves(Settings) if not read(name)]
    assert unread == []
