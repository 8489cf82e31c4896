"""k3s: config drop-in, registries, install (online or airgap) or adopt, restart on change, node Ready."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmops_cli.adapters.hostfacts import (
    K3S_BIN,
    K3S_DROPIN,
    K3S_IMAGES_DIR,
    K3S_REGISTRIES,
)
from llmops_cli.cluster.model import PlanInputs, Step, UpOptions, fingerprint
from llmops_cli.errors import LlmopsError

if TYPE_CHECKING:
    from llmops_cli.cluster.facts import HostFacts
    from llmops_cli.cluster.model import StepContext
    from llmops_cli.config.model import Settings

INSTALLER_URL = "https://get.k3s.io"
RESTART_FLAG = "k3s_restart_pending"
NODE_READY_TIMEOUT = 300.0


def restart_argv(init_system: str) -> list[str]:
    if init_system == "systemd":
        return ["systemctl", "restart", "k3s"]
    if init_system == "openrc":
        return ["rc-service", "k3s", "restart"]
    raise LlmopsError(
        "cannot restart k3s: this host has no systemd or OpenRC",
        hint="restart k3s by hand, then run `llmops up` again",
        code="no_init",
    )


def restart_k3s(ctx: StepContext) -> None:
    ctx.host.run(restart_argv(ctx.facts.init_system), privileged=True, timeout=180)
    ctx.reset_kube()


def _write_file_step(step_id: str, path: str, text: str, what: str, mode: int) -> Step:
    def check(ctx: StepContext) -> bool:
        return ctx.host.read_text(path, privileged=True) == text

    def apply(ctx: StepContext) -> None:
        existed = ctx.host.exists(K3S_BIN)
        ctx.host.write_text(path, text, mode=mode, privileged=True)
        if existed:
            # The installer does not restart k3s when only its config changed: we must.
            ctx.state.set_flag(RESTART_FLAG, True)

    return Step(
        id=step_id,
        phase="k3s",
        description=f"write {what}",
        changes=f"{path} ({len(text.splitlines())} lines, mode {mode:o})",
        check=check,
        apply=apply,
        verify=lambda ctx: None if check(ctx) else _raise(f"{path} does not hold what was written"),
        fingerprint=fingerprint(text),
    )


def _raise(message: str) -> None:
    raise LlmopsError(message)


def installer_env(settings: Settings, *, airgap: bool) -> dict[str, str]:
    env = {"INSTALL_K3S_VERSION": settings.cluster.k3s_version}
    if airgap:
        env["INSTALL_K3S_SKIP_DOWNLOAD"] = "true"
    return env


def _install_online(ctx: StepContext) -> None:
    tmp = ctx.host.run(["mktemp", "-t", "k3s-install.XXXXXX"]).stdout.strip()
    try:
        # Downloaded to a file and run as an argv: never `curl | sh`.
        ctx.host.run(
            ["curl", "-sfL", "--proto", "=https", "--tlsv1.2", "--retry", "3", "-o", tmp, INSTALLER_URL],
            timeout=120,
        )
        ctx.host.run(["sh", tmp], privileged=True, env=installer_env(ctx.settings, airgap=False), timeout=900)
    finally:
        ctx.host.run(["rm", "-f", tmp], check=False)
    ctx.state.set_flag(RESTART_FLAG, False)  # a fresh install starts with the drop-in already in place
    ctx.reset_kube()


def _install_airgap(ctx: StepContext) -> None:
    bundle = ctx.options.airgap
    assert bundle is not None
    for image in bundle.images:
        ctx.host.run(["install", "-D", "-m", "0644", str(image), f"{K3S_IMAGES_DIR}/{image.name}"], privileged=True)
    ctx.host.run(["install", "-D", "-m", "0755", str(bundle.k3s_binary), K3S_BIN], privileged=True)
    ctx.host.run(
        ["sh", str(bundle.installer)],
        privileged=True,
        env=installer_env(ctx.settings, airgap=True),
        timeout=900,
    )
    ctx.state.set_flag(RESTART_FLAG, False)
    ctx.reset_kube()


def steps(
    settings: Settings, facts: HostFacts, inputs: PlanInputs, options: UpOptions, warnings: list[str]
) -> list[Step]:
    out = [_write_file_step("write_k3s_config", K3S_DROPIN, inputs.k3s_config, "the llmops k3s config drop-in", 0o600)]
    if inputs.k3s_registries is not None:
        out.append(
            _write_file_step("write_k3s_registries", K3S_REGISTRIES, inputs.k3s_registries, "registries.yaml", 0o600)
        )
    pinned = settings.cluster.k3s_version
    if facts.k3s.installed:
        if facts.k3s.version and facts.k3s.version != pinned:
            warnings.append(
                f"k3s {facts.k3s.version} is already installed; llmops pins {pinned} and adopts the existing "
                "install without changing its version (run `llmops down --uninstall-k3s` first to reinstall)"
            )
        installed_note = f"adopt existing k3s {facts.k3s.version or '(unknown version)'}"
    else:
        installed_note = ""
    airgap = options.airgap
    if airgap is not None:
        changes = (
            f"copy {airgap.k3s_binary} to {K3S_BIN}, {len(airgap.images)} image tarball(s) to "
            f"{K3S_IMAGES_DIR}/, "
            f"run {airgap.installer} with INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_VERSION={pinned}"
        )
        apply = _install_airgap
    else:
        changes = f"download {INSTALLER_URL} to a temp file and run it with INSTALL_K3S_VERSION={pinned}"
        apply = _install_online

    def installed(ctx: StepContext) -> bool:
        return ctx.host.exists(K3S_BIN)

    def verify(ctx: StepContext) -> None:
        if not ctx.host.exists(K3S_BIN):
            raise LlmopsError(f"the k3s installer finished but {K3S_BIN} is missing", hint="see the output above")

    out.append(
        Step(
            id="install_k3s",
            phase="k3s",
            description=installed_note or f"install k3s {pinned}" + (" (airgap)" if airgap else ""),
            changes=changes if not installed_note else "nothing (already installed)",
            check=installed,
            apply=apply,
            verify=verify,
            fingerprint=fingerprint(pinned, bool(airgap)),
            will_fail=None if facts.k3s.installed else _install_blocker(facts),
        )
    )

    def no_restart_pending(ctx: StepContext) -> bool:
        # The flag is set by the write step (and survives a crash in the state file); before that step has
        # run (a dry run), a drop-in that differs from ours means a restart is coming.
        if ctx.state.flags.get(RESTART_FLAG, False):
            return False
        return ctx.host.read_text(K3S_DROPIN, privileged=True) == inputs.k3s_config

    def do_restart(ctx: StepContext) -> None:
        restart_k3s(ctx)
        ctx.state.set_flag(RESTART_FLAG, False)

    if not facts.k3s.installed:
        return out  # a fresh install starts k3s with the drop-in already in place
    out.append(
        Step(
            id="restart_k3s_on_config_change",
            phase="k3s",
            description="restart k3s if its drop-in changed",
            changes="restart the k3s service (only when the config changed)",
            check=no_restart_pending,
            apply=do_restart,
            record=False,
            fingerprint="",
        )
    )
    return out


def _install_blocker(facts: HostFacts) -> str | None:
    """Why the installer cannot work on this host, known from the facts alone."""
    if facts.init_system not in ("systemd", "openrc"):
        where = " (this is a container)" if facts.container else ""
        return f"no systemd or OpenRC on this host{where}: the k3s installer cannot set up its service"
    if facts.arch not in ("x86_64", "aarch64", "arm64", "armv7l"):
        return f"k3s has no build for {facts.arch}"
    return None


def node_ready(ctx: StepContext) -> list[dict[str, Any]] | None:
    nodes = ctx.kube().list("v1", "Node")
    if not nodes:
        return None
    for n in nodes:
        conds = {c.get("type"): c.get("status") for c in (n.get("status") or {}).get("conditions", [])}
        if conds.get("Ready") != "True":
            return None
    return nodes


def ready_steps(settings: Settings, facts: HostFacts, inputs: PlanInputs, options: UpOptions) -> list[Step]:
    def wait_ready(ctx: StepContext) -> None:
        kube = ctx.kube()

        def describe() -> list[str]:
            lines = []
            for n in kube.list("v1", "Node"):
                for c in (n.get("status") or {}).get("conditions", []):
                    if c.get("type") == "Ready":
                        lines.append(f"node {n['metadata']['name']}: Ready={c.get('status')} {c.get('message', '')}")
            return lines or ["no node has registered yet: check `journalctl -u k3s`"]

        nodes = kube.wait_until(
            lambda: node_ready(ctx),
            timeout=min(NODE_READY_TIMEOUT, ctx.options.timeout),
            what="the k3s node to be Ready",
            describe=describe,
        )
        ctx.results["nodes"] = [n["metadata"]["name"] for n in nodes]

    return [
        Step(
            id="wait_node_ready",
            phase="k3s",
            description="wait for the node to be Ready",
            changes="nothing (waits)",
            check=lambda ctx: node_ready(ctx) is not None,
            apply=wait_ready,
            mutating=False,
            record=False,
        )
    ]
