"""The run-time governance commands' core functions (`govern release`, `govern incident ...`, `govern
review-time`): typed arguments in, data out; the CLI parses and prints."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops_cli.config.model import Settings
from llmops_cli.errors import InputError
from llmops_cli.riskdata import FormatError, Release, duration_seconds


@dataclass(frozen=True)
class Project:
    """Where a project's run-time records live (paths resolved against the folder of llmops.yaml)."""

    settings: Settings
    base: Path

    def resolve(self, path: str | Path) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base / p

    @property
    def incidents_dir(self) -> Path:
        return self.resolve(self.settings.governance.runtime.incidents_dir)

    @property
    def releases_dir(self) -> Path:
        return self.resolve(self.settings.governance.runtime.releases_dir)

    @property
    def evidence_dir(self) -> Path:
        return self.resolve(self.settings.governance.evidence_dir)

    def review_within(self) -> dict[str, float]:
        return {k: float(duration_seconds(v)) for k, v in self.settings.governance.runtime.review_within.items()}


# ----------------------------------------------------------------------------------------- release
def release(
    project: Project,
    bundle: Path,
    *,
    env: str,
    trust: Any,
    served_model: str | None,
    out: Path | None,
    now: float,
) -> Any:
    """Verify ``bundle`` and promote it: the release record (``<releases>/<env>.json`` unless ``out``) and a line in
    the promotion history."""
    from llmops_cli.errors import UsageError
    from llmops_cli.govern.evidence import verify_bundle
    from llmops_cli.govern.runtime.release import build_release, write_release

    if env not in project.settings.environments:
        known = ", ".join(sorted(project.settings.environments))
        raise UsageError(f"unknown environment {env!r}", hint=f"environments in llmops.yaml: {known}")
    report = verify_bundle(bundle, trust=trust)
    served = served_model or project.settings.stacks.vllm.name
    rel = build_release(bundle, report, served_model=served, env=env, now=now)
    return write_release(rel, out or project.releases_dir / f"{env}.json")


def read_release(path: Path) -> Release:
    try:
        return Release.from_json(path.read_text(encoding="utf-8"), where=str(path))
    except OSError as e:
        raise InputError(
            f"cannot read {path}: {e.strerror or e}", hint="pass a file `llmops govern release` wrote"
        ) from e
    except FormatError as e:
        raise InputError(str(e), hint="pass a file `llmops govern release` wrote") from e


def _read_json_or_yaml(path: Path, what: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise InputError(f"cannot read {what} {path}: {e}", hint="pass `kubectl get ... -o yaml` output") from e
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a {what}", hint="pass `kubectl get ... -o yaml` output")
    return data


# ----------------------------------------------------------------------------------------- incidents
def open_incident(
    project: Project,
    payload: Path,
    *,
    payload_text: str | None = None,
    notification: Any = None,
    audit_log: Path | None = None,
    lookback: str = "15m",
    release_file: Path | None = None,
    bundle: Path | None = None,
    trust: Any = None,
    analysis_run: Path | None = None,
    now: float,
) -> Any:
    from llmops_cli.govern.runtime.alerts import read_notification
    from llmops_cli.govern.runtime.incidents import OpenOptions
    from llmops_cli.govern.runtime.incidents import open_incident as open_

    if notification is None:  # `incident serve` parsed it already (a bad payload is the client's, 400)
        notification = read_notification(payload, payload_text)
    rel = read_release(release_file) if release_file is not None else None
    evidence = None
    if bundle is not None:
        from llmops_cli.govern.evidence import verify_bundle

        evidence = verify_bundle(bundle, trust=trust).to_dict()
    run = None
    if analysis_run is not None:
        run = _read_json_or_yaml(analysis_run, "AnalysisRun")
        if run.get("kind") != "AnalysisRun":
            raise InputError(
                f"{analysis_run}: kind {run.get('kind')!r}, expected AnalysisRun", hint="pass the AnalysisRun"
            )
    try:
        seconds = float(duration_seconds(lookback))
    except ValueError as e:
        raise InputError(f"--lookback {lookback!r}: not a duration", hint="e.g. 15m or 1h") from e
    opts = OpenOptions(
        incidents_dir=project.incidents_dir,
        review_within=project.review_within(),
        now=now,
        audit_log=audit_log,
        lookback=seconds,
        release=rel,
        evidence=evidence,
        analysis_run=run,
    )
    return open_(notification, opts)


def report_incident(project: Project, incident_id: str, *, force: bool = False) -> tuple[dict[str, Any], Path, bool]:
    from llmops_cli.govern.runtime.incidents import load_record, write_postmortem

    path, written = write_postmortem(project.incidents_dir, incident_id, force=force)
    return load_record(project.incidents_dir, incident_id), path, written


def close_incident(
    project: Project,
    incident_id: str,
    *,
    reviewer: str,
    resolution: str,
    actions: Sequence[str],
    reported_at: str | None,
    now: float,
) -> tuple[dict[str, Any], Path]:
    from llmops_cli.govern.runtime.incidents import close_incident as close_

    return close_(
        project.incidents_dir,
        incident_id,
        reviewer=reviewer,
        resolution=resolution,
        now=now,
        actions=actions,
        reported_at=reported_at,
    )


def list_incidents(project: Project, *, overdue_only: bool, now: float) -> list[dict[str, Any]]:
    from llmops_cli.govern.runtime.incidents import all_records, overdue, write_index

    records = all_records(project.incidents_dir)
    if project.incidents_dir.is_dir():
        write_index(project.incidents_dir)
    late = {r["id"] for r in overdue(records, now)}
    rows = [
        {
            "id": r["id"],
            "state": r["state"],
            "severity": r["severity"],
            "model": r["model"].get("name"),
            "version": r["model"].get("version"),
            "opened_at": r["opened_at"],
            "review_due": r["review"]["due"],
            "overdue": r["id"] in late,
            "title": r["title"],
        }
        for r in records
    ]
    return [r for r in rows if r["overdue"]] if overdue_only else rows


# ----------------------------------------------------------------------------------------- review time
def review_time(project: Project, *, env: str | None, history: Path | None) -> Any:
    from llmops_cli.govern.runtime.reviewtime import review_time as measure

    return measure(
        project.evidence_dir,
        history or project.releases_dir / "history.jsonl",
        env=env,
        committed=_committed_promotions(project.base),
    )


def _committed_promotions(base: Path) -> list[dict[str, Any]] | None:
    """The promotions `llmops promote` committed in the project's repository (every branch); None when the
    project is not in a Git repository or git is missing."""
    from llmops_cli.adapters import procs
    from llmops_cli.adapters.gitrepo import GitRepo
    from llmops_cli.govern.runtime.reviewtime import promotions_in_git

    if procs.which("git") is None:
        return None
    r = GitRepo(base).git("log", "--all", "--format=%cI%x1f%(trailers:only,unfold)%x1e", check=False)
    return promotions_in_git(r.stdout) if r.ok else None


def dumps(data: Any) -> str:
    return json.dumps(data, indent=1, sort_keys=True)
