"""Evidence bundles: every artefact and input hashed in ``manifest.json``, written atomically, verifiable.

The bundle is built in a temporary folder next to its target and renamed into place, so a reader (or a
failed run) never sees half a bundle. Everything in it is deterministic apart from ``created_at`` in the
manifest (set ``SOURCE_DATE_EPOCH`` to pin that too).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmops_cli.errors import InputError, LlmopsError
from llmops_cli.govern.io import sha256_bytes, sha256_file
from llmops_cli.govern.reports.jsonout import canonical_json

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


class EvidenceMismatch(LlmopsError):
    """A bundle's files do not match its manifest: exit 1."""

    code = "evidence_mismatch"


def timestamp(environ: Mapping[str, str]) -> str:
    epoch = environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.strip().isdigit():
        moment = datetime.fromtimestamp(int(epoch), tz=UTC)
    else:
        moment = datetime.now(tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def git_commit(cwd: Path) -> str | None:
    """HEAD of the repository holding ``cwd``; None outside Git or without git installed."""
    from llmops_cli.adapters.procs import run
    from llmops_cli.errors import CommandFailed, ToolMissing

    try:
        res = run(["git", "rev-parse", "HEAD"], check=False, cwd=str(cwd), timeout=10)
    except (ToolMissing, CommandFailed):
        return None
    out = res.stdout.strip()
    return out if res.ok and len(out) in (40, 64) else None


def build_manifest(
    artefacts: Mapping[str, bytes],
    *,
    inputs: Mapping[str, Mapping[str, str]],
    policy: Mapping[str, str],
    model: Mapping[str, str],
    status: str,
    summary: Mapping[str, Any],
    llmops_version: str,
    commit: str | None,
    created_at: str,
) -> dict[str, Any]:
    return {
        "manifest_version": MANIFEST_VERSION,
        "created_at": created_at,
        "llmops_version": llmops_version,
        "git_commit": commit,
        "model": dict(model),
        "status": status,
        "rules": dict(summary),
        "policy": dict(policy),
        "inputs": {k: dict(v) for k, v in sorted(inputs.items())},
        "artefacts": {
            name: {"sha256": sha256_bytes(data), "bytes": len(data)} for name, data in sorted(artefacts.items())
        },
    }


def write_bundle(target: Path, artefacts: Mapping[str, bytes], manifest: Mapping[str, Any]) -> Path:
    """Write the artefacts and manifest into ``target`` atomically (replacing an older bundle)."""
    for name in artefacts:
        if "/" in name or name.startswith(".") or name == MANIFEST:
            raise ValueError(f"bad artefact name {name!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    old: Path | None = None
    try:
        tmp.chmod(0o755)  # a bundle is meant to be world-readable
        files = {**artefacts, MANIFEST: canonical_json(manifest).encode("utf-8")}
        for name, data in sorted(files.items()):
            with open(tmp / name, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            target.rename(old / "bundle")
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and (old / "bundle").exists() and not target.exists():
            (old / "bundle").rename(target)  # put the previous bundle back
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return target


@dataclass
class VerifyReport:
    bundle: Path
    checked: int = 0
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    inputs_checked: int = 0
    inputs_changed: list[str] = field(default_factory=list)
    inputs_missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.unexpected or self.inputs_changed or self.inputs_missing)

    def as_dict(self) -> dict[str, Any]:
        return {
            "bundle": str(self.bundle),
            "ok": self.ok,
            "checked": self.checked,
            "changed": self.changed,
            "missing": self.missing,
            "unexpected": self.unexpected,
            "inputs_checked": self.inputs_checked,
            "inputs_changed": self.inputs_changed,
            "inputs_missing": self.inputs_missing,
        }

    def problem(self) -> str:
        parts = []
        if self.changed:
            parts.append("changed: " + ", ".join(self.changed))
        if self.missing:
            parts.append("missing: " + ", ".join(self.missing))
        if self.unexpected:
            parts.append("not in the manifest: " + ", ".join(self.unexpected))
        if self.inputs_changed:
            parts.append("inputs changed: " + ", ".join(self.inputs_changed))
        if self.inputs_missing:
            parts.append("inputs missing: " + ", ".join(self.inputs_missing))
        return "; ".join(parts)


def read_manifest(bundle: Path) -> dict[str, Any]:
    path = bundle / MANIFEST
    if not bundle.is_dir():
        raise InputError(f"{bundle}: not an evidence bundle folder", hint="pass <evidence-dir>/<model>/<version>")
    if not path.is_file():
        raise InputError(f"{path}: manifest not found", hint="pass a folder written by `llmops govern check`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EvidenceMismatch(f"{path}: manifest is not valid JSON ({e})", hint="the bundle was modified") from e
    if not isinstance(data, dict) or not isinstance(data.get("artefacts"), dict):
        raise EvidenceMismatch(f"{path}: manifest has no artefact list", hint="the bundle was modified")
    return data


def verify_bundle(bundle: Path, *, project_dir: Path | None = None) -> VerifyReport:
    """Recompute every artefact hash (and, with ``project_dir``, every input hash)."""
    manifest = read_manifest(bundle)
    report = VerifyReport(bundle)
    listed = manifest["artefacts"]
    for name, entry in sorted(listed.items()):
        path = bundle / name
        if "/" in name or not path.is_file():
            report.missing.append(name)
            continue
        report.checked += 1
        want = entry.get("sha256") if isinstance(entry, dict) else None
        if sha256_file(path) != want:
            report.changed.append(name)
    for path in sorted(bundle.iterdir()):
        if path.name != MANIFEST and path.name not in listed:
            report.unexpected.append(path.name)
    if project_dir is not None:
        entries = dict(manifest.get("inputs") or {})
        if isinstance(manifest.get("policy"), dict):
            entries["policy"] = manifest["policy"]
        for key, entry in sorted(entries.items()):
            if not isinstance(entry, dict) or not entry.get("file"):
                continue
            path = _input_path(str(entry["file"]), project_dir)
            if not path.is_file():
                report.inputs_missing.append(f"{key} ({entry['file']})")
                continue
            report.inputs_checked += 1
            if sha256_file(path) != entry.get("sha256"):
                report.inputs_changed.append(f"{key} ({entry['file']})")
    return report


def _input_path(recorded: str, project_dir: Path) -> Path:
    if recorded.startswith("llmops:policies/"):
        from llmops_cli.resources import policies_dir

        return policies_dir() / recorded.removeprefix("llmops:policies/")
    path = Path(recorded)
    return path if path.is_absolute() else project_dir / path
