"""Output conventions: data to stdout, humans to stderr, ``-o json`` prints one versioned envelope."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Annotated, Any

import typer

RESULT_VERSION = "1"


class OutputFormat(str, Enum):
    text = "text"
    json = "json"
    yaml = "yaml"


OutputOpt = Annotated[
    OutputFormat,
    typer.Option("--output", "-o", help="Output format: text (for people), json (one envelope) or yaml."),
]


def envelope(
    command: str,
    data: Any,
    *,
    status: str = "ok",
    errors: Iterable[Mapping[str, str]] = (),
) -> dict[str, Any]:
    return {
        "llmops_result_version": RESULT_VERSION,
        "command": command,
        "status": status,
        "data": data,
        "errors": [dict(e) for e in errors],
    }


def dump(obj: Any, fmt: OutputFormat) -> str:
    if fmt is OutputFormat.yaml:
        import yaml

        return yaml.safe_dump(obj, sort_keys=False, allow_unicode=True)
    return json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n"


def write_stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
