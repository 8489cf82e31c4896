"""Deterministic YAML in and out, and the YAML-safe filter templates use for every value.

Templates never paste a value as raw text: ``{{ value | y }}`` emits a YAML flow scalar/collection (a
JSON-compatible double-quoted string, number, list or mapping), so no value can add keys or documents.
Output is dumped with sorted keys and a fixed width, so the same objects give byte-identical files.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from llmops_cli.errors import LlmopsError

# Characters safe unescaped in a double-quoted scalar: YAML's printable set minus the characters a YAML 1.1
# reader folds as line breaks (NEL, LS, PS) and the BOM. Everything else is written as an escape.
_NOT_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)


def _escape(ch: re.Match[str]) -> str:
    cp = ord(ch.group(0))
    return f"\\u{cp:04x}" if cp <= 0xFFFF else f"\\U{cp:08x}"


def _float(x: float) -> str:
    if x != x or x in (float("inf"), float("-inf")):
        raise LlmopsError(f"cannot render {x!r} as YAML", code="bug")
    text = repr(x)
    mantissa, e, exp = text.partition("e")
    # YAML 1.1 (PyYAML, Argo CD's Go parser) needs a dot in the mantissa to read a float: 5e-324 is a string.
    if "." not in mantissa:
        mantissa += ".0"
    return mantissa + e + exp


def _flow(value: Any) -> str:
    if isinstance(value, str):
        return _NOT_PRINTABLE.sub(_escape, json.dumps(value, ensure_ascii=False))
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return "{" + ", ".join(f"{_flow(str(k))}: {_flow(v)}" for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    raise LlmopsError(f"cannot render value {value!r} ({type(value).__name__}) as YAML", code="bug")


def yaml_value(value: Any) -> str:
    """One value as YAML flow text that parses back to exactly ``value`` (the ``y`` template filter).

    Strings become double-quoted scalars with every non-printable character escaped, so nothing a user
    types can end the scalar, start a key or open a document.
    """
    return _flow(value)


@cache
def _dumper() -> Any:
    import yaml

    base = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

    class Dumper(base):  # type: ignore[misc,valid-type]
        pass

    def str_rep(dumper: Any, data: str) -> Any:
        # Multi-line text (dashboards, SQL, policies) as literal blocks when YAML allows it.
        style = "|" if "\n" in data else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    Dumper.add_representer(str, str_rep)
    return Dumper


def dump(obj: Any) -> str:
    import yaml

    text: str = yaml.dump(
        obj, Dumper=_dumper(), sort_keys=True, default_flow_style=False, allow_unicode=True, width=4096
    )
    return text


def load_all(text: str, source: str) -> list[dict[str, Any]]:
    """Parse rendered template output into objects; empty documents are dropped."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        docs = [d for d in yaml.load_all(text, Loader=loader) if d is not None]
    except yaml.YAMLError as e:
        raise LlmopsError(f"template {source} rendered invalid YAML: {e}", code="bug") from e
    for d in docs:
        if not isinstance(d, dict) or "kind" not in d or "apiVersion" not in d:
            raise LlmopsError(f"template {source} rendered a document that is not a Kubernetes object", code="bug")
    return docs


def with_header(body: str, source: str) -> str:
    from llmops_cli.render.names import HEADER_MARK

    return f"{HEADER_MARK}\n# source: {source}\n{body}"
