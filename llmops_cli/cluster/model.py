"""The types the plan and its steps share: a Step, the rendered inputs, the options and the Plan itself.

They live apart from :mod:`llmops_cli.cluster.plan` so that the steps (which build ``Step`` objects) and the
plan (which orders the steps) do not import each other.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from llmops_cli.versions import GIT_CLIENT_IMAGE

if TYPE_CHECKING:
    from llmops_cli.adapters.hosts import Host
    from llmops_cli.adapters.kube import Kube
    from llmops_cli.cluster.facts import HostFacts
    from llmops_cli.cluster.state import State
    from llmops_cli.config.model import Settings
    from llmops_cli.reporting import Reporter

StepFn = Callable[["StepContext"], None]
CheckFn = Callable[["StepContext"], bool]


@dataclass(frozen=True)
class Step:
    """One idempotent unit of work.

    ``check`` returns True when the step's effect is already in place; ``None`` means nothing on the host can
    tell (a restart, a smoke test), so the state file decides. ``mutating=False`` steps only read and wait.
    ``fingerprint`` changes when what the step would write changes, so a recorded step reruns after an edit.
    """

    id: str
    phase: str
    description: str
    changes: str
    apply: StepFn
    check: CheckFn | None = None
    verify: StepFn | None = None
    mutating: bool = True
    record: bool = True
    fingerprint: str = ""
    will_fail: str | None = None  # known up front: the reason this step cannot succeed on this host
    # For the consent summary: services it may restart, host files it writes, packages it installs.
    restarts: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    installs: tuple[str, ...] = ()


@dataclass(frozen=True)
class BundledChart:
    """A chart archive of an airgap bundle (``charts/<name>-<version>.tgz``): its hash listed in the bundle's
    SHA256SUMS and checked, its name and version read from the Chart.yaml inside and equal to the pin."""

    name: str
    version: str
    archive: Path
    sha256: str

    @property
    def repo_path(self) -> str:
        """Where the chart lies, unpacked, in the local Git repository Argo CD reads (a Git path source)."""
        return f"charts/{self.name}/{self.version}"


@dataclass(frozen=True)
class AirgapBundle:
    """A folder with the k3s binary, the images tarball(s), install.sh and the release's sha256sum file, every
    file checked against its hash before planning; optionally platform images (``images/*.tar``) for k3s to
    import and chart archives (``charts/*.tgz``)."""

    path: Path
    k3s_binary: Path
    installer: Path
    images: tuple[Path, ...]
    sha256: Mapping[str, str] = field(default_factory=dict)  # file name -> hash (checked)
    extra_images: tuple[Path, ...] = ()
    charts: Mapping[str, BundledChart] = field(default_factory=dict)  # chart name -> archive


@dataclass(frozen=True)
class SecretSpec:
    """A generated secret: created once at `up`, never in Git, never printed unless asked."""

    name: str
    namespace: str
    keys: tuple[str, ...]
    fixed: tuple[tuple[str, str], ...] = ()  # non-secret companion keys (e.g. a username)
    # Keys whose value is a template over the generated ones (``str.format``: "requirepass {password}\n"),
    # for a program that reads its secret only inside a config file.
    derived: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SshKeysSpec:
    """The local Git server's SSH keys: a host key, the push Job's admin key pair and a ``known_hosts`` line
    pinning the host key for ``host`` (``[<svc>.<ns>.svc]:<port>``). Created once at `up`, never rotated."""

    name: str
    namespace: str
    host: str
    host_key: str
    host_pub: str
    admin_key: str
    admin_pub: str
    known_hosts: str


@dataclass(frozen=True)
class NodeRole:
    """Where a host stands in its cluster. `up` runs one node that is everything (``single``); `promote` runs
    the first server (``init``: the cluster, Argo CD, the platform) and nodes that join it (``server`` for HA,
    ``agent`` for workers), which get only the host part of the plan: k3s, GPU runtime, their node Ready."""

    kind: Literal["single", "init", "server", "agent"] = "single"
    server_url: str | None = None  # joining nodes: the first server's API, https://ADDRESS:6443

    @property
    def joins(self) -> bool:
        return self.kind in ("server", "agent")

    @property
    def service(self) -> str:
        return "k3s-agent" if self.kind == "agent" else "k3s"


@dataclass(frozen=True)
class PlanInputs:
    """Everything rendered for this run; data only, so tests inject it directly."""

    env: str
    k3s_config: str
    k3s_registries: str | None
    bootstrap: tuple[dict[str, Any], ...]
    repo_url: str
    smoke_job: dict[str, Any] | None = None
    tree: Mapping[str, str] | None = None  # manifests/<env>/ files, for the local Git server
    charts: tuple[BundledChart, ...] = ()  # bundled chart archives the tree's Applications read from that server
    secrets: tuple[SecretSpec, ...] = ()
    git_ssh: SshKeysSpec | None = None  # local GitOps mode only
    git_client_image: str = GIT_CLIENT_IMAGE  # any pinned image with git, tar and ssh
    gpu: bool = False  # the GPU decision the inputs were rendered with (recorded for `sync`)
    node: NodeRole = field(default_factory=NodeRole)
    api_server: str | None = None  # the API address clients use (a remote host's), instead of k3s's 127.0.0.1


@dataclass(frozen=True)
class UpOptions:
    timeout: float = 900.0
    airgap: AirgapBundle | None = None
    show_password: bool = False
    git_token: str | None = field(default=None, repr=False)
    git_username: str = "x-access-token"
    ssh_key: str | None = field(default=None, repr=False)
    # The user's environment entries `up` passes to privileged commands (proxies; CONTAINERD_* for k3s).
    proxy_env: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    gpu: bool
    warnings: tuple[str, ...] = ()
    summary: Mapping[str, Any] = field(default_factory=dict)

    def ids(self) -> list[str]:
        return [s.id for s in self.steps]

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)


def fingerprint(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass
class StepContext:
    host: Host
    settings: Settings
    facts: HostFacts
    inputs: PlanInputs
    options: UpOptions
    reporter: Reporter
    state: State
    kube_factory: Callable[[], Kube]
    environ: Mapping[str, str] = field(default_factory=dict)
    # Joining nodes: reads the first server's token when a step needs it (never stored, printed or in an argv).
    join_token: Callable[[], str] | None = None
    dry_run: bool = False
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    # Results to show at the end: generated secrets (only printed with --show-password), hints, GPU line.
    secrets: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    _kube: Kube | None = None

    def kube(self) -> Kube:
        if self._kube is None:
            self._kube = self.kube_factory()
        return self._kube

    def reset_kube(self) -> None:
        """Forget the client (after k3s restarts or is installed, its certificates may be new)."""
        self._kube = None
