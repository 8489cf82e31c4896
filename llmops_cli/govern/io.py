"""Read tables (CSV, Parquet, JSONL) and YAML metadata files, turning every failure into an InputError.

Tables are read with pyarrow (multi-threaded CSV parser) and handed on as pandas DataFrames; the bias math
works on numpy arrays taken from them. Whatever the format, the frame follows the same rules:

- a blank text cell (empty or only whitespace) is missing, as an empty numeric cell is: pyarrow reads a blank
  CSV cell in a text column as ``""``, and a Parquet file may hold ``""`` where the CSV export had nothing;
- repeated column names (the raw COMPAS export has two ``decile_score`` and two ``priors_count``) are read as
  ``name``, ``name.1``, … (pandas' convention); the repeats are listed in ``df.attrs["duplicate_columns"]``
  and asking for the ambiguous plain name is an error that names the spellings to choose from;
- quoted values may hold line breaks in files of any size (pyarrow's block-parallel parser splits a quoted
  value at a block boundary and reports "Expected N columns": such a file is read again with line breaks
  allowed in values).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops_cli.errors import ConfigError, InputError

if TYPE_CHECKING:
    import pandas as pd

DUPLICATES = "duplicate_columns"
TABLE_TYPES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from e
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def table_kind(path: Path) -> str:
    kind = TABLE_TYPES.get(path.suffix.lower())
    if kind is None:
        raise InputError(
            f"{path}: unknown file type {path.suffix or '(no extension)'!r}",
            hint="use a .csv, .parquet or .jsonl file",
        )
    return kind


def read_table(path: Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Load a dataset; with ``columns`` only those are read (and each must exist)."""
    kind = table_kind(path)
    if not path.is_file():
        raise InputError(f"{path}: dataset not found", hint="check governance.inputs.data or --data")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty", hint="export the dataset again")
    import pyarrow as pa

    try:
        table = _read_arrow(path, kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"{path}: cannot read as {kind.upper()}: {first}", hint="check the file format") from e
    if table.num_rows == 0:
        raise InputError(f"{path}: the file has no data rows", hint="export the dataset again")
    names, duplicates = unique_names(table.column_names)
    table = table.rename_columns(names)
    if columns is not None:
        require_columns(path, table.column_names, columns, duplicates)
        table = table.select(list(dict.fromkeys(columns)))
    table = _blank_text_as_null(table)
    nested = [f.name for f in table.schema if pa.types.is_nested(f.type)]
    df = table.to_pandas()
    for name in nested:  # lists / objects (JSONL, Parquet) as canonical JSON text: hashable, comparable
        df[name] = df[name].map(_json_text)
    df.attrs[DUPLICATES] = {k: v for k, v in duplicates.items() if columns is None or k in columns}
    return df


def unique_names(names: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Column names made unique as pandas does (``x``, ``x.1``, …), and each repeated name's spellings."""
    taken = set(names)
    seen: dict[str, int] = {}
    out: list[str] = []
    spellings: dict[str, list[str]] = {}
    for name in names:
        if name not in seen:
            seen[name] = 0
            out.append(name)
            spellings[name] = [name]
            continue
        k = seen[name]
        while True:
            k += 1
            candidate = f"{name}.{k}"
            if candidate not in taken:
                break
        seen[name] = k
        taken.add(candidate)
        out.append(candidate)
        spellings[name].append(candidate)
    return out, {k: v for k, v in spellings.items() if len(v) > 1}


def _blank_text_as_null(table: Any) -> Any:
    """Blank text cells (``""`` or whitespace only) become nulls, in every file format alike."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, f in enumerate(table.schema):
        if not (pa.types.is_string(f.type) or pa.types.is_large_string(f.type)):
            continue
        col = table.column(i)
        blank = pc.equal(pc.utf8_trim_whitespace(col), "")
        if pc.any(blank).as_py():
            table = table.set_column(i, f.name, pc.if_else(blank, pa.scalar(None, f.type), col))
    return table


def _json_text(value: Any) -> Any:
    import json

    if value is None:
        return None
    if hasattr(value, "tolist"):
        value = value.tolist()
    return json.dumps(value, sort_keys=True, default=str)


def _read_arrow(path: Path, kind: str) -> Any:
    if kind == "csv":
        import pyarrow as pa
        import pyarrow.csv as pcsv

        read = pcsv.ReadOptions(use_threads=True)
        try:
            return pcsv.read_csv(path, read_options=read)
        except pa.ArrowInvalid:
            # A quoted line break split at one of the parallel parser's block boundaries ("Expected N columns"):
            # read again with line breaks allowed in values, which Arrow documents as slower, so not by default.
            return pcsv.read_csv(path, read_options=read, parse_options=pcsv.ParseOptions(newlines_in_values=True))
    if kind == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path)
    import pyarrow.json as pjson

    return pjson.read_json(path)


def require_columns(
    path: Path | str,
    available: Sequence[str],
    wanted: Sequence[str],
    duplicates: Mapping[str, Sequence[str]] | None = None,
) -> None:
    for c in wanted:
        if duplicates and c in duplicates:
            spellings = ", ".join(repr(s) for s in duplicates[c])
            raise InputError(
                f"{path}: column {c!r} appears {len(duplicates[c])} times; they are read as {spellings}",
                hint="name the one you mean (e.g. the second as " + repr(duplicates[c][1]) + "), or rename the columns",
            )
    missing = [c for c in wanted if c not in available]
    if missing:
        names = ", ".join(repr(c) for c in missing)
        raise InputError(
            f"{path}: missing column(s) {names}; available: {', '.join(available)}",
            hint="fix the column name in llmops.yaml or the flag",
        )


# ----------------------------------------------------------------------------------------- YAML files
@dataclass(frozen=True)
class YamlDoc:
    """A parsed YAML mapping with line marks, for errors that name file:line and the field."""

    path: Path
    data: dict[str, Any]
    values: dict[tuple[str, ...], Any]
    keys: dict[tuple[str, ...], Any]
    text: str

    def line(self, *path: str) -> int | None:
        """Line of the value at ``path`` (or of its nearest parent)."""
        p = tuple(str(x) for x in path)
        for i in range(len(p), -1, -1):
            mark = self.keys.get(p[:i]) or self.values.get(p[:i])
            if mark is not None:
                return int(mark.line)
        return None

    def error(self, message: str, *path: str, hint: str | None = None) -> ConfigError:
        dotted = ".".join(str(x) for x in path) or None
        return ConfigError(message, file=str(self.path), line=self.line(*path), path=dotted, hint=hint)


def read_yaml(path: Path, what: str) -> YamlDoc:
    """Parse a YAML mapping file (model metadata, risk register, answers, policies)."""
    from llmops_cli.config.load import parse_yaml

    if not path.is_file():
        raise InputError(f"{path}: {what} not found", hint="check the path in llmops.yaml or the flag")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read {what}: {e}") from e
    data, values, keys = parse_yaml(text, str(path))
    if data is None:
        raise ConfigError(f"the {what} is empty", file=str(path), line=1, hint="see policies/README.md for examples")
    if not isinstance(data, dict):
        raise ConfigError(
            f"expected a mapping at the top level of the {what}, got {type(data).__name__}",
            file=str(path),
            line=1,
        )
    return YamlDoc(path, data, values, keys, text)
