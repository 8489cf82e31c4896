"""Load llmops.yaml with line numbers, apply ``LLMOPS_*`` env and flag overrides, validate once.

Precedence: flag > ``LLMOPS_*`` env > file > default. Each leaf value remembers where it came from.

Env overrides use ``__`` between path parts, like pydantic-settings: ``LLMOPS_GPU__MODE=off``,
``LLMOPS_STACKS__VLLM__MODEL=org/name``. Values are parsed as YAML scalars/flow collections, so
``LLMOPS_CLUSTER__TLS_SAN='[a.example, b.example]'`` works.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops_cli.config.model import Settings
from llmops_cli.errors import ConfigError

DEFAULT_FILE = "llmops.yaml"
ENV_PREFIX = "LLMOPS_"
# LLMOPS_* variables that are not config paths.
ENV_RESERVED = {"LLMOPS_CONFIG"}

Path_ = tuple[str, ...]


@dataclass(frozen=True)
class Mark:
    line: int  # 1-based
    column: int  # 1-based


@dataclass(frozen=True)
class LoadedSettings:
    settings: Settings
    file: Path | None
    sources: dict[str, str] = field(default_factory=dict)
    # Things that did not stop the load but are likely mistakes (an LLMOPS_* variable that reads as a config
    # path with `_` where `__` separates levels); the CLI prints each once.
    warnings: tuple[str, ...] = ()

    @property
    def base_dir(self) -> Path:
        """Relative paths in the file (policies, inputs) resolve against the file's folder."""
        return self.file.parent if self.file else Path.cwd()

    def resolve(self, path: str | os.PathLike[str]) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p


# ----------------------------------------------------------------------------------------- YAML with marks
def _yaml_loader() -> Any:
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return base


def parse_yaml(text: str, filename: str) -> tuple[Any, dict[Path_, Mark], dict[Path_, Mark]]:
    """Parse one YAML document; return (data, value marks, key marks) keyed by path tuple.

    Duplicate keys are an error (PyYAML silently keeps the last one).
    """
    import yaml

    loader = _yaml_loader()(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}, {}
        values: dict[Path_, Mark] = {}
        keys: dict[Path_, Mark] = {}
        _walk(node, (), values, keys, filename)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = e.problem or e.context or "invalid YAML"
        raise ConfigError(
            f"invalid YAML: {problem}",
            file=filename,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
            hint="fix the syntax at that position",
        ) from e
    except yaml.YAMLError as e:
        raise ConfigError(f"invalid YAML: {e}", file=filename) from e
    finally:
        loader.dispose()
    return data, values, keys


def _walk(node: Any, path: Path_, values: dict[Path_, Mark], keys: dict[Path_, Mark], filename: str) -> None:
    import yaml

    values[path] = Mark(node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for knode, vnode in node.value:
            key = str(knode.value)
            if key in seen:
                raise ConfigError(
                    f"duplicate key {key!r}",
                    file=filename,
                    line=knode.start_mark.line + 1,
                    column=knode.start_mark.column + 1,
                    path=".".join((*path, key)),
                    hint="keep one of them",
                )
            seen.add(key)
            keys[(*path, key)] = Mark(knode.start_mark.line + 1, knode.start_mark.column + 1)
            _walk(vnode, (*path, key), values, keys, filename)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, str(i)), values, keys, filename)


# ----------------------------------------------------------------------------------------- overrides
def _set_path(data: dict[str, Any], path: Path_, value: Any) -> None:
    cur = data
    for part in path[:-1]:
        nxt = cur.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[part] = nxt
        cur = nxt
    cur[path[-1]] = value


def env_overrides(environ: Mapping[str, str]) -> dict[Path_, tuple[Any, str]]:
    """``LLMOPS_A__B=v`` → {("a", "b"): (v, "LLMOPS_A__B")}; values parsed as YAML.

    A name with ``__`` is a config path whatever its first part, so a misspelt section (``LLMOPS_GPUU__MODE``)
    is an unknown key like a misspelt field (``LLMOPS_GPU__MOD``). A name without ``__`` is a config path only
    when it names a top-level key (``LLMOPS_VERSION``); others (``LLMOPS_GIT_TOKEN``) are not config.
    """
    import yaml

    out: dict[Path_, tuple[Any, str]] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in ENV_RESERVED:
            continue
        rest = name[len(ENV_PREFIX) :]
        if "__" not in rest and rest.lower() not in Settings.model_fields:
            continue  # e.g. LLMOPS_GIT_TOKEN: not a config path
        path = tuple(p.lower() for p in rest.split("__"))
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        if isinstance(value, (int, float, bool)) is False and value is not None and not isinstance(value, (list, dict)):
            value = raw
        out[path] = (value, name)
    return out


def env_warnings(environ: Mapping[str, str]) -> list[str]:
    """``LLMOPS_GPU_MODE``: not a config path (levels are separated by ``__``), but it reads like one."""
    from difflib import get_close_matches

    out = []
    sections = [n for n in Settings.model_fields if n != "version"]
    for name in sorted(environ):
        rest = name[len(ENV_PREFIX) :].lower() if name.startswith(ENV_PREFIX) else ""
        if not rest or "__" in rest or name in ENV_RESERVED or rest in Settings.model_fields:
            continue
        head, _, tail = rest.partition("_")
        section = next((sec for sec in sections if rest.startswith(sec + "_")), None)
        if section is None:
            close = get_close_matches(head, sections, n=1, cutoff=0.75)
            if not close or not tail:
                continue
            section, tail = close[0], tail
        else:
            tail = rest[len(section) + 1 :]
        meant = f"{ENV_PREFIX}{section.upper()}__{tail.upper()}"
        out.append(f"{name} is not read (config paths separate levels with `__`); did you mean {meant}?")
    return out


# ----------------------------------------------------------------------------------------- validation errors
def _known_keys(loc: Path_) -> list[str]:
    """Field names (aliases) accepted at ``loc`` (a path to a mapping), for 'unknown key' messages."""
    from pydantic import BaseModel

    model: Any = Settings
    for part in loc:
        if isinstance(model, type) and issubclass(model, BaseModel):
            fields = {(f.alias or n): f for n, f in model.model_fields.items()}
            f = fields.get(part)
            if f is None:
                return []
            model = f.annotation
        else:
            model = _dict_value_type(model)
        model = _unwrap(model)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return sorted((f.alias or n) for n, f in model.model_fields.items())
    return []


def _unwrap(tp: Any) -> Any:
    import typing

    args = typing.get_args(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        non_none = [a for a in args if a is not type(None)]
        return non_none[0] if len(non_none) == 1 else tp
    return tp


def _dict_value_type(tp: Any) -> Any:
    import typing

    if typing.get_origin(tp) is dict:
        return typing.get_args(tp)[1]
    if typing.get_origin(tp) is list:
        return typing.get_args(tp)[0]
    return None


def describe_error(err: Mapping[str, Any], loc: Path_, patterns: Mapping[str, str] | None = None) -> str:
    """One pydantic error in words: "expected …, got …", a pattern by what it means (``PATTERN_HELP`` and
    ``patterns``), never the regular expression."""
    kind = err.get("type", "")
    msg = str(err.get("msg", "invalid value"))
    if kind == "extra_forbidden":
        from difflib import get_close_matches

        known = _known_keys(loc[:-1])
        close = get_close_matches(loc[-1], known, n=1, cutoff=0.6)
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        listing = f"; known keys: {', '.join(known)}" if known else ""
        return f"unknown key {loc[-1]!r}{guess}{listing}"
    if kind == "missing":
        return "required value is missing"
    got = err.get("input")
    msg = msg.removeprefix("Value error, ")
    if msg.startswith("Input should be"):
        msg = "expected" + msg[len("Input should be") :]
    if kind == "string_pattern_mismatch":
        from llmops_cli.config.model import PATTERN_HELP

        pattern = (err.get("ctx") or {}).get("pattern", "")
        meaning = {**PATTERN_HELP, **(patterns or {})}.get(pattern)
        msg = f"expected {meaning}" if meaning else "not an accepted value"
    if got is not None and not isinstance(got, (dict, list)) and kind not in ("value_error",):
        msg += f", got {got!r}"
    return msg


def _locate(loc: Path_, values: dict[Path_, Mark], keys: dict[Path_, Mark], kind: str) -> tuple[Mark | None, bool]:
    """Best mark for an error at ``loc``; second item tells whether the location exists in the file."""
    if kind == "extra_forbidden" and loc in keys:
        return keys[loc], True
    if loc in values:
        return values[loc], True
    for i in range(len(loc) - 1, -1, -1):
        if loc[:i] in values:
            return values[loc[:i]], False
    return None, False


def _validation_errors(
    exc: Any,
    filename: str | None,
    values: dict[Path_, Mark],
    keys: dict[Path_, Mark],
    origin: dict[Path_, str],
) -> list[ConfigError]:
    out: list[ConfigError] = []
    for err in exc.errors(include_url=False):
        loc: Path_ = tuple(str(p) for p in err["loc"] if not str(p).startswith("function-"))
        dotted = ".".join(loc) or "(top level)"
        message = describe_error(err, loc)
        src = _origin_of(loc, origin)
        if src and src != "file":
            out.append(ConfigError(message, path=dotted, hint=f"set by {src}"))
            continue
        mark, _ = _locate(loc, values, keys, err.get("type", ""))
        out.append(
            ConfigError(
                message,
                file=filename,
                line=mark.line if mark else None,
                column=mark.column if mark else None,
                path=dotted,
            )
        )
    return out


def _origin_of(loc: Path_, origin: dict[Path_, str]) -> str | None:
    for i in range(len(loc), 0, -1):
        if loc[:i] in origin:
            return origin[loc[:i]]
    # An unknown key that only an override made (LLMOPS_GPUU__MODE makes `gpuu`): the override named it.
    return next((src for path, src in sorted(origin.items()) if loc and path[: len(loc)] == loc), None)


# ----------------------------------------------------------------------------------------- public API
def find_config(explicit: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> tuple[Path | None, bool]:
    """The file to read and whether the user named it (a named file must exist)."""
    if explicit:
        return Path(explicit), True
    if environ.get("LLMOPS_CONFIG"):
        return Path(environ["LLMOPS_CONFIG"]), True
    default = Path(DEFAULT_FILE)
    return (default, False) if default.is_file() else (None, False)


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
    explicit: bool = True,
) -> LoadedSettings:
    """Build validated Settings. Raises ConfigError (exit 2) with file:line:col and the dotted path."""
    from pydantic import ValidationError

    environ = os.environ if environ is None else environ
    file = Path(path) if path is not None else None
    filename = str(file) if file else None
    data: Any = {}
    values: dict[Path_, Mark] = {}
    keys: dict[Path_, Mark] = {}
    if file is not None:
        if not file.is_file():
            if explicit:
                raise ConfigError(
                    "config file not found", file=str(file), hint="create it with `llmops init` or fix --config"
                )
            file = None
            filename = None
        else:
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise ConfigError(f"cannot read config: {e}", file=str(file)) from e
            data, values, keys = parse_yaml(text, str(file))
            if data is None:
                data = {}
            if not isinstance(data, dict):
                raise ConfigError(
                    f"expected a mapping at the top level, got {type(data).__name__}",
                    file=str(file),
                    line=1,
                    column=1,
                    hint="llmops.yaml holds keys like `cluster:` and `stacks:`",
                )

    file_data = _deepcopy(data)
    origin: dict[Path_, str] = {}
    for p, (value, var) in sorted(env_overrides(environ).items()):
        _set_path(data, p, value)
        origin[p] = f"env {var}"
    for dotted, value in (flags or {}).items():
        if value is None:
            continue
        p = tuple(dotted.split("."))
        _set_path(data, p, value)
        origin[p] = "flag"

    try:
        settings = Settings.model_validate(data)
    except ValidationError as e:
        errors = _validation_errors(e, filename, values, keys, origin)
        all_lines = [str(x) for x in errors]
        first = errors[0]
        if len(errors) > 1:
            first.hint = (first.hint + "; " if first.hint else "") + (
                f"{len(errors) - 1} more problem(s): run `llmops config validate`"
            )
        first.all_errors = all_lines  # type: ignore[attr-defined]
        raise first from e

    sources = compute_sources(settings, file_data, origin, values)
    return LoadedSettings(settings=settings, file=file, sources=sources, warnings=tuple(env_warnings(environ)))


def _deepcopy(data: Any) -> Any:
    import copy

    return copy.deepcopy(data)


def _flatten(obj: Any, prefix: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    if isinstance(obj, dict) and obj:
        for k, v in obj.items():
            yield from _flatten(v, (*prefix, str(k)))
    else:
        yield prefix, obj


def _has_path(data: Any, path: Path_) -> bool:
    cur = data
    for part in path:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return False
    return True


def compute_sources(
    settings: Settings, file_data: Any, origin: dict[Path_, str], values: dict[Path_, Mark]
) -> dict[str, str]:
    """Map each leaf's dotted path to 'default', 'file:LINE', 'env NAME' or 'flag'."""
    dumped = settings.model_dump(mode="json", by_alias=True)
    out: dict[str, str] = {}
    for path, _ in _flatten(dumped):
        src = _origin_of(path, origin)
        if src is None:
            if _has_path(file_data, path):
                mark = values.get(path)
                src = f"file:{mark.line}" if mark else "file"
            else:
                src = "default"
        out[".".join(path)] = src
    return out
