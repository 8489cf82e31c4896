"""Evidence bundles: every artefact and input hashed in ``manifest.json``, signed, kept per run, verifiable.

Layout under the evidence folder::

    index.json                              every run, oldest first (a convenience; verify never trusts it)
    <model>/<version>/<run>/manifest.json   <run> = the first 16 hex digits of the manifest's SHA-256
    <model>/<version>/<run>/<artefacts>     summary.md, results.json, junit.xml, model_card.md, ...
    <model>/<version>/<run>/manifest.dsse.json      a DSSE envelope over an in-toto Statement (key), or
    <model>/<version>/<run>/manifest.sigstore.json  a Sigstore bundle holding that envelope (keyless)

A run folder is content-addressed, so a re-run never replaces an earlier bundle: a different result lands
in a new folder, and the same result (same manifest bytes) is the same folder. Each is written in a
temporary folder next to its target and renamed into place, so nobody sees half a bundle. Everything is
deterministic apart from ``created_at`` (set ``SOURCE_DATE_EPOCH`` to pin that too).

The Statement's subjects are the manifest, every artefact and every input (data, llmops.yaml, policies,
model metadata, and the files stages read: evidence files, the FRIA, llm_eval suites) with their SHA-256;
its predicate repeats what decides the verdict (model, settings, policy, rule counts, status).
``verify_bundle`` recomputes every hash, derives the status from the signed ``results.json`` instead of
trusting the manifest, checks the signature against trusted keys or a Sigstore identity, and checks that
the bundle belongs where it lies (model and version of its folder, and of the project's model metadata with
``--project``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from llmops_cli.errors import InputError, LlmopsError
from llmops_cli.govern.io import sha256_bytes, sha256_file
from llmops_cli.govern.reports.jsonout import canonical_json
from llmops_cli.govern.signing import KEY_ENVELOPE, SIGNATURE_FILES, SIGSTORE_BUNDLE, SignatureError

MANIFEST = "manifest.json"
INDEX = "index.json"
MANIFEST_VERSION = 2
RUN_ID_LENGTH = 16
RUN_ID = re.compile(r"^[0-9a-f]{16}$")
RESULTS = "results.json"


class EvidenceMismatch(LlmopsError):
    """A bundle's files do not match its manifest or signature: exit 1."""

    code = "evidence_mismatch"


class Signer(Protocol):
    def sign(self, body: bytes) -> dict[str, Any]: ...

    @property
    def identity(self) -> str: ...


def timestamp(environ: Mapping[str, str]) -> str:
    epoch = environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.strip().isdigit():
        moment = datetime.fromtimestamp(int(epoch), tz=UTC)
    else:
        moment = datetime.now(tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class GitState:
    commit: str | None
    dirty: bool | None  # None outside Git

    def to_dict(self) -> dict[str, Any]:
        return {"commit": self.commit, "dirty": self.dirty}


def git_state(cwd: Path, *, exclude: Sequence[Path] = ()) -> GitState:
    """HEAD of the repository holding ``cwd`` and whether its tree has changes (tracked or untracked files,
    apart from ``exclude``: the evidence folder itself). Outside Git or without git: (None, None)."""
    from llmops_cli.adapters.procs import run
    from llmops_cli.errors import CommandFailed, ToolMissing

    try:
        head = run(["git", "rev-parse", "HEAD"], check=False, cwd=str(cwd), timeout=10)
        top = run(["git", "rev-parse", "--show-toplevel"], check=False, cwd=str(cwd), timeout=10)
        if not (head.ok and top.ok):
            return GitState(None, None)
        root = Path(top.stdout.strip())
        spec = ["."]
        for path in exclude:
            try:
                rel = path.resolve().relative_to(root.resolve())
            except ValueError:
                continue
            spec.append(f":(exclude){rel.as_posix()}")
        status = run(
            ["git", "status", "--porcelain", "--untracked-files=normal", "--", *spec],
            check=False,
            cwd=str(root),
            timeout=30,
        )
    except (ToolMissing, CommandFailed):
        return GitState(None, None)
    commit = head.stdout.strip()
    if len(commit) not in (40, 64):
        return GitState(None, None)
    return GitState(commit, bool(status.stdout.strip()) if status.ok else None)


def git_commit(cwd: Path) -> str | None:
    return git_state(cwd).commit


# ----------------------------------------------------------------------------------------- building
def build_manifest(
    artefacts: Mapping[str, bytes],
    *,
    inputs: Mapping[str, Mapping[str, str]],
    policy: Mapping[str, str],
    model: Mapping[str, str],
    status: str,
    summary: Mapping[str, Any],
    llmops_version: str,
    git: GitState,
    created_at: str,
    settings: Mapping[str, Any] | None = None,
    fail_on: str = "error",
) -> dict[str, Any]:
    commit = git.commit
    return {
        "manifest_version": MANIFEST_VERSION,
        "created_at": created_at,
        "llmops_version": llmops_version,
        # a dirty tree is never recorded as the commit alone: the evidence was not made from that commit
        "git_commit": f"{commit}-dirty" if commit and git.dirty else commit,
        "git": git.to_dict(),
        "model": dict(model),
        "status": status,
        "fail_on": fail_on,
        "rules": dict(summary),
        "settings": dict(settings or {}),
        "policy": dict(policy),
        "inputs": {k: dict(v) for k, v in sorted(inputs.items())},
        "artefacts": {
            name: {"sha256": sha256_bytes(data), "bytes": len(data)} for name, data in sorted(artefacts.items())
        },
    }


def statement_for(manifest: Mapping[str, Any], manifest_bytes: bytes) -> bytes:
    """The in-toto Statement over a manifest: subjects = manifest, artefacts, inputs and policy."""
    from llmops_cli.govern.signing import statement_bytes

    subjects: list[dict[str, Any]] = [
        {"name": MANIFEST, "digest": {"sha256": sha256_bytes(manifest_bytes)}, "annotations": {"role": "manifest"}}
    ]
    for name, entry in sorted(manifest["artefacts"].items()):
        subjects.append({"name": name, "digest": {"sha256": entry["sha256"]}, "annotations": {"role": "artefact"}})
    for key, entry in sorted(_input_entries(manifest).items()):
        subjects.append(
            {"name": entry["file"], "digest": {"sha256": entry["sha256"]}, "annotations": {"role": "input", "key": key}}
        )
    predicate = {
        k: manifest.get(k)
        for k in (
            "manifest_version",
            "created_at",
            "llmops_version",
            "git_commit",
            "git",
            "model",
            "status",
            "fail_on",
            "rules",
            "settings",
        )
    }
    predicate["run"] = run_id(manifest_bytes)
    return statement_bytes(subjects, predicate)


def _input_entries(manifest: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    entries = {k: v for k, v in (manifest.get("inputs") or {}).items() if isinstance(v, dict)}
    if isinstance(manifest.get("policy"), dict):
        entries["policy"] = manifest["policy"]
    return {k: v for k, v in entries.items() if v.get("file") and v.get("sha256")}


def run_id(manifest_bytes: bytes) -> str:
    return sha256_bytes(manifest_bytes)[:RUN_ID_LENGTH]


# ----------------------------------------------------------------------------------------- writing
@dataclass(frozen=True)
class WrittenRun:
    path: Path
    run: str
    signed_by: str | None
    created: bool  # False: an identical bundle was already there


def write_run(
    evidence_dir: Path,
    model: Mapping[str, str],
    artefacts: Mapping[str, bytes],
    manifest: Mapping[str, Any],
    signer: Signer | None = None,
) -> WrittenRun:
    """Write a run's bundle into ``<evidence>/<model>/<version>/<run>/`` and add it to the index."""
    for name in artefacts:
        if "/" in name or "\\" in name or name.startswith(".") or name in (MANIFEST, *SIGNATURE_FILES):
            raise ValueError(f"bad artefact name {name!r}")
    manifest_bytes = canonical_json(manifest).encode("utf-8")
    rid = run_id(manifest_bytes)
    target = evidence_dir / model["name"] / model["version"] / rid
    files = {**artefacts, MANIFEST: manifest_bytes}
    signed_by = None
    if signer is not None:
        envelope = signer.sign(statement_for(manifest, manifest_bytes))
        name = SIGSTORE_BUNDLE if "verificationMaterial" in envelope else KEY_ENVELOPE
        files[name] = canonical_json(envelope).encode("utf-8")
        signed_by = signer.identity
    created = _write_folder(target, files)
    _add_to_index(evidence_dir, target, rid, manifest, signed_by)
    return WrittenRun(target, rid, signed_by, created)


def _write_folder(target: Path, files: Mapping[str, bytes]) -> bool:
    if target.is_dir() and (target / MANIFEST).is_file():
        if (target / MANIFEST).read_bytes() != files[MANIFEST]:
            raise EvidenceMismatch(
                f"{target}: a different manifest is already filed under this content address",
                hint="that folder was edited; move it aside and run the check again",
            )
        # same content: keep the earlier bundle; add a signature it lacks, never replace one
        for name in SIGNATURE_FILES:
            if name in files and not any((target / n).exists() for n in SIGNATURE_FILES):
                from llmops_cli.fsutil import atomic_write

                atomic_write(target / name, files[name])
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        tmp.chmod(0o755)  # a bundle is meant to be world-readable
        for name, data in sorted(files.items()):
            with open(tmp / name, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return True


def _add_to_index(
    evidence_dir: Path, target: Path, rid: str, manifest: Mapping[str, Any], signed_by: str | None
) -> None:
    from filelock import FileLock

    from llmops_cli.fsutil import atomic_write

    index_path = evidence_dir / INDEX
    with FileLock(str(evidence_dir / ".index.lock"), timeout=60):
        index = read_index(evidence_dir)
        rel = target.relative_to(evidence_dir).as_posix()
        for entry in index["runs"]:
            if entry.get("path") == rel:
                if signed_by and not entry.get("signed_by"):
                    entry["signed_by"] = signed_by
                    atomic_write(index_path, canonical_json(index))
                return
        index["runs"].append(
            {
                "run": rid,
                "path": rel,
                "model": manifest["model"]["name"],
                "version": manifest["model"]["version"],
                "created_at": manifest["created_at"],
                "status": manifest["status"],
                "git_commit": manifest.get("git_commit"),
                "signed_by": signed_by,
            }
        )
        atomic_write(index_path, canonical_json(index))


def read_index(evidence_dir: Path) -> dict[str, Any]:
    path = evidence_dir / INDEX
    if not path.is_file():
        return {"index_version": 1, "runs": []}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: not valid JSON ({e})", hint="restore it from Git, or delete it to start anew") from e
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
        raise InputError(f"{path}: not an evidence index", hint="restore it from Git, or delete it to start anew")
    return data


def resolve_bundle(path: Path) -> Path:
    """A run folder, or the newest run of a ``<model>/<version>`` folder (by the index, else the only one)."""
    if (path / MANIFEST).is_file() or not path.is_dir():
        return path
    runs = [p for p in path.iterdir() if p.is_dir() and RUN_ID.match(p.name) and (p / MANIFEST).is_file()]
    if not runs:
        return path
    evidence_dir = path.parent.parent
    try:
        index = read_index(evidence_dir)
    except InputError:
        index = {"runs": []}
    rel = {p.relative_to(evidence_dir).as_posix(): p for p in runs}
    listed = [rel[e["path"]] for e in index["runs"] if isinstance(e, dict) and e.get("path") in rel]
    if listed:
        return listed[-1]
    if len(runs) == 1:
        return runs[0]
    raise InputError(
        f"{path}: holds {len(runs)} runs and no index names the newest",
        hint="pass one run folder: " + ", ".join(sorted(p.name for p in runs)),
    )


# ----------------------------------------------------------------------------------------- verifying
@dataclass
class Trust:
    """Whom a signature must come from, and whether one is required."""

    keys: dict[str, Any] = field(default_factory=dict)  # key id -> public key
    identity: str | None = None  # Sigstore certificate identity
    issuer: str | None = None  # Sigstore OIDC issuer
    require_signature: bool = False
    offline: bool = False


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
    signature: str = "none"  # none | verified | invalid
    signed_by: str | None = None
    signature_problem: str | None = None
    status: str | None = None  # derived from the signed results.json
    model: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # status, placement, statement mismatches

    @property
    def ok(self) -> bool:
        return not (
            self.changed
            or self.missing
            or self.unexpected
            or self.inputs_changed
            or self.inputs_missing
            or self.problems
            or self.signature == "invalid"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle": str(self.bundle),
            "ok": self.ok,
            "status": self.status,
            "model": self.model,
            "signature": self.signature,
            "signed_by": self.signed_by,
            "signature_problem": self.signature_problem,
            "checked": self.checked,
            "changed": self.changed,
            "missing": self.missing,
            "unexpected": self.unexpected,
            "inputs_checked": self.inputs_checked,
            "inputs_changed": self.inputs_changed,
            "inputs_missing": self.inputs_missing,
            "problems": self.problems,
        }

    def problem(self) -> str:
        parts = []
        if self.signature == "invalid" and self.signature_problem:
            parts.append(f"signature: {self.signature_problem}")
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
        parts.extend(self.problems)
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


def verify_bundle(bundle: Path, *, project_dir: Path | None = None, trust: Trust | None = None) -> VerifyReport:
    """Recompute every hash, check the signature and where the bundle lies; with ``project_dir`` re-hash the
    inputs and compare the model metadata's name and version with the signed ones."""
    trust = trust or Trust()
    bundle = resolve_bundle(bundle)
    manifest = read_manifest(bundle)
    manifest_bytes = (bundle / MANIFEST).read_bytes()
    report = VerifyReport(bundle)
    listed = manifest["artefacts"]
    _check_artefacts(bundle, listed, report)
    statement = _check_signature(bundle, manifest, manifest_bytes, trust, report)
    signed_model = statement["predicate"].get("model") if statement else manifest.get("model")
    report.model = dict(signed_model) if isinstance(signed_model, dict) else {}
    _derive_status(bundle, manifest, statement, report)
    _check_placement(bundle, manifest_bytes, report)
    if project_dir is not None:
        _check_inputs(manifest, project_dir, report)
    return report


def _check_artefacts(bundle: Path, listed: Mapping[str, Any], report: VerifyReport) -> None:
    for name, entry in sorted(listed.items()):
        path = bundle / name
        if "/" in name or "\\" in name or not path.is_file():
            report.missing.append(name)
            continue
        report.checked += 1
        want = entry.get("sha256") if isinstance(entry, dict) else None
        if sha256_file(path) != want:
            report.changed.append(name)
    for path in sorted(bundle.iterdir()):
        if path.name not in (MANIFEST, *SIGNATURE_FILES) and path.name not in listed:
            report.unexpected.append(path.name)


def _check_signature(
    bundle: Path, manifest: Mapping[str, Any], manifest_bytes: bytes, trust: Trust, report: VerifyReport
) -> dict[str, Any] | None:
    from llmops_cli.govern import signing

    present = [n for n in SIGNATURE_FILES if (bundle / n).is_file()]
    if not present:
        report.signature = "none"
        if trust.require_signature:
            report.problems.append("the bundle is not signed (--require-signature)")
        return None
    try:
        raw = (bundle / present[0]).read_bytes()
        if present[0] == KEY_ENVELOPE:
            body, who = signing.verify_envelope(raw, trust.keys)
        else:
            body, who = signing.verify_sigstore(
                raw, identity=trust.identity, issuer=trust.issuer, offline=trust.offline
            )
        statement = signing.parse_statement(body)
    except SignatureError as e:
        report.signature = "invalid"
        report.signature_problem = str(e) + (f" ({e.hint})" if e.hint else "")
        return None
    report.signature = "verified"
    report.signed_by = who
    # the signed statement must describe exactly these files
    subjects: dict[tuple[str, str], str] = {}
    for s in statement["subject"]:
        role = (s.get("annotations") or {}).get("role", "artefact")
        key = (s.get("annotations") or {}).get("key", s.get("name"))
        subjects[(role, str(key) if role == "input" else str(s.get("name")))] = str(
            (s.get("digest") or {}).get("sha256")
        )
    if subjects.get(("manifest", MANIFEST)) != sha256_bytes(manifest_bytes):
        report.problems.append("manifest.json is not the one that was signed")
    signed_artefacts = {name for (role, name) in subjects if role == "artefact"}
    for name, entry in sorted(manifest["artefacts"].items()):
        if subjects.get(("artefact", name)) != (entry.get("sha256") if isinstance(entry, dict) else None):
            report.problems.append(f"{name}: its hash is not the signed one")
    for name in sorted(signed_artefacts - set(manifest["artefacts"])):
        report.problems.append(f"{name}: signed but not in the manifest")
    for key, entry in sorted(_input_entries(manifest).items()):
        if subjects.get(("input", key)) != entry.get("sha256"):
            report.problems.append(f"input {key}: its hash is not the signed one")
    return statement


def _derive_status(
    bundle: Path, manifest: Mapping[str, Any], statement: Mapping[str, Any] | None, report: VerifyReport
) -> None:
    """The verdict, recomputed from the rule results (hashed and signed), never read from the manifest."""
    path = bundle / RESULTS
    if RESULTS not in manifest["artefacts"] or not path.is_file():
        return
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
        fail_on = results.get("fail_on", "error")
        failed = [
            r
            for r in results["results"]
            if r["outcome"] != "pass" and (r["severity"] == "error" or fail_on == "warning")
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        report.problems.append(f"{RESULTS} is not a governance result")
        return
    report.status = "fail" if failed else "pass"
    claimed = {"manifest": manifest.get("status"), RESULTS: results.get("status")}
    if statement is not None:
        claimed["signature"] = statement["predicate"].get("status")
    for where, value in claimed.items():
        if value != report.status:
            report.problems.append(f"status {value!r} in the {where} contradicts the rule results ({report.status})")


def _check_placement(bundle: Path, manifest_bytes: bytes, report: VerifyReport) -> None:
    """A run folder is named by its content and filed under the model and version it was made for."""
    if not RUN_ID.match(bundle.name):
        return
    if bundle.name != run_id(manifest_bytes):
        report.problems.append(
            f"folder {bundle.name} is not this manifest's content address ({run_id(manifest_bytes)})"
        )
    name, version = bundle.parent.parent.name, bundle.parent.name
    if report.model and (report.model.get("name"), report.model.get("version")) != (name, version):
        report.problems.append(
            f"the bundle is for {report.model.get('name')} {report.model.get('version')} "
            f"but is filed under {name}/{version}"
        )


def _check_inputs(manifest: Mapping[str, Any], project_dir: Path, report: VerifyReport) -> None:
    for key, entry in sorted(_input_entries(manifest).items()):
        path = _input_path(str(entry["file"]), project_dir)
        if not path.is_file():
            report.inputs_missing.append(f"{key} ({entry['file']})")
            continue
        report.inputs_checked += 1
        if sha256_file(path) != entry.get("sha256"):
            report.inputs_changed.append(f"{key} ({entry['file']})")
    model_entry = (manifest.get("inputs") or {}).get("model")
    if isinstance(model_entry, dict) and report.model:
        path = _input_path(str(model_entry.get("file")), project_dir)
        if path.is_file():
            from llmops_cli.govern.stages.model_card import load_model_meta

            meta = load_model_meta(path)
            if (meta.name, meta.version) != (report.model.get("name"), report.model.get("version")):
                report.problems.append(
                    f"the bundle is for {report.model.get('name')} {report.model.get('version')}, "
                    f"the project's model is {meta.name} {meta.version}"
                )


def _input_path(recorded: str, project_dir: Path) -> Path:
    if recorded.startswith("llmops:policies/"):
        from llmops_cli.resources import policies_dir

        return policies_dir() / recorded.removeprefix("llmops:policies/")
    path = Path(recorded)
    return path if path.is_absolute() else project_dir / path
