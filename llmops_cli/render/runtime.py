"""The project's documents that a render ships into the cluster: the gateway's policy file
(``stacks.gateway.policies_file``: its rules and API keys), the release record the gateway serves under
(``stacks.gateway.release_file``) and the incident index (``index.json`` in ``governance.runtime.incidents_dir``).
Read from the project folder when the CLI renders one; a render without a project (tests, in-memory renders), or
a project without its own policy file at the default path, ships the policy packaged with llmops, an empty
incident index and no release record.

A caller may hand the release record in itself (``release_json``): `llmops promote` renders the environment
with the record of the evidence bundle its gate passed, and that record replaces ``stacks.gateway.release_file``
(promote is the release; nothing is written into the project).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from llmops_cli.config.model import Settings
from llmops_cli.errors import InputError
from llmops_cli.riskdata import FormatError, IncidentIndex, Release

INCIDENT_INDEX = "index.json"


@dataclass(frozen=True)
class RuntimeDocs:
    gateway_policy: str | None = None  # the project's policy file, None: the packaged one
    release: Release | None = None
    release_json: str | None = None
    incidents: IncidentIndex = field(default_factory=IncidentIndex)


def _resolve(project_dir: Path, path: str) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else project_dir / p


def parse_release(text: str, *, where: str) -> Release:
    """A release record handed to render (``llmops govern release``'s format), or an InputError."""
    try:
        return Release.from_json(text, where=where)
    except FormatError as e:
        raise InputError(f"{where}: {e}", hint="write it again with `llmops govern release`") from e


def load_runtime(settings: Settings, project_dir: Path | None, *, release_json: str | None = None) -> RuntimeDocs:
    """The project's runtime documents; ``release_json`` (a release record) replaces stacks.gateway.release_file."""
    given = parse_release(release_json, where="the release record") if release_json is not None else None
    if project_dir is None:
        return RuntimeDocs(release=given, release_json=given.to_json() if given else None)
    policy = _gateway_policy(settings, project_dir)
    release = given
    text = given.to_json() if given else None
    if given is None and settings.stacks.gateway.release_file:
        path = _resolve(project_dir, settings.stacks.gateway.release_file)
        try:
            raw = path.read_text(encoding="utf-8")
            release = Release.from_json(raw, where=str(path))
        except OSError as e:
            raise InputError(
                f"stacks.gateway.release_file: cannot read {path}: {e.strerror or e}",
                hint="write it with `llmops govern release`, or unset stacks.gateway.release_file",
            ) from e
        except FormatError as e:
            raise InputError(
                f"stacks.gateway.release_file: {e}", hint="write it again with `llmops govern release`"
            ) from e
        text = release.to_json()
    incidents = IncidentIndex()
    index = _resolve(project_dir, settings.governance.runtime.incidents_dir) / INCIDENT_INDEX
    if index.is_file():
        try:
            incidents = IncidentIndex.from_json(index.read_text(encoding="utf-8"), where=str(index))
        except (OSError, FormatError) as e:
            raise InputError(
                f"{index}: {e}", hint="restore it from Git; `llmops govern incident list` rewrites it"
            ) from e
    return RuntimeDocs(policy, release, text, incidents)


def _gateway_policy(settings: Settings, project_dir: Path) -> str | None:
    gs = settings.stacks.gateway
    if not gs.enabled:
        return None
    path = _resolve(project_dir, gs.policies_file)
    if not path.exists() and gs.policies_file == type(gs).model_fields["policies_file"].default:
        return None  # a project without a policy of its own: the packaged one
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise InputError(
            f"stacks.gateway.policies_file: cannot read {path}: {why}",
            hint="write it with `llmops init` (or copy the packaged policies/gateway.yaml), or fix the path",
        ) from e
