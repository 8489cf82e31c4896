"""k3s on the host: the config drop-in, registries.yaml (merged), install / repair / upgrade with the pinned
installer (its hash checked) or an airgap bundle (every file checked), a datastore backup before an upgrade,
start, restart when the config changed, node Ready.

"Installed" means what install.sh leaves when it finished: the binary, the service unit (or OpenRC script) and
the uninstall script (it writes the binary first and the service last, so a run killed halfway leaves a binary
alone: that install is repaired by running the installer again, not adopted). Facts: k3s-io/k3s install.sh, see
:mod:`llmops_cli.adapters.upstream`.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from llmops_cli.adapters import hostfacts as hf
from llmops_cli.adapters import upstream
from llmops_cli.cluster.model import PlanInputs, Step, UpOptions, fingerprint
from llmops_cli.cluster.poll import wait_for
from llmops_cli.errors import InputError, LlmopsError

if TYPE_CHECKING:
    from llmops_cli.cluster.facts import HostFacts
    from llmops_cli.cluster.model import StepContext
    from llmops_cli.config.model import Settings

RESTART_FLAG = "k3s_restart_pending"
BACKUP_FLAG = "datastore_backup"
NODE_READY_TIMEOUT = 300.0
SERVICE_START_TIMEOUT = 120.0
REGISTRIES_BACKUP = f"{hf.K3S_REGISTRIES}.before-llmops"


# ------------------------------------------------------------------------------------------- service control
def service_argv(init_system: str, action: str, service: str = hf.K3S_SERVER_SERVICE) -> list[str]:
    if init_system == "systemd":
        return ["systemctl", action, service]
    if init_system == "openrc":
        return ["rc-service", service, action]
    raise LlmopsError(
        f"cannot {action} k3s: this host has no systemd or OpenRC",
        hint=f"{action} k3s by hand, then run `llmops up` again",
        code="no_init",
    )


def _service(ctx: StepContext) -> str:
    return ctx.facts.k3s.service_name


def restart_k3s(ctx: StepContext) -> None:
    argv = service_argv(ctx.facts.init_system, "restart", _service(ctx))
    ctx.host.run(argv, privileged=True, timeout=SERVICE_START_TIMEOUT)
    ctx.reset_kube()


def k3s_running(ctx: StepContext) -> bool:
    return hf.k3s_service_running(ctx.host, ctx.facts.init_system, _service(ctx))


def installed_now(ctx: StepContext) -> bool:
    """The binary, the service and the uninstall script exist (what a finished install.sh leaves)."""
    return (
        ctx.host.exists(hf.K3S_BIN)
        and hf.k3s_service_path(ctx.host, ctx.facts.init_system, _service(ctx)) is not None
        and ctx.host.exists(hf.k3s_uninstall(_service(ctx)))
    )


def installed_version(ctx: StepContext) -> str | None:
    if not ctx.host.exists(hf.K3S_BIN):
        return None
    r = ctx.host.run([hf.K3S_BIN, "--version"], check=False, readonly=True, timeout=30)
    return hf.parse_k3s_version(r.stdout) if r.ok else None


def install_mode(facts: HostFacts, pinned: str) -> str:
    """fresh | repair (half-finished) | adopt (the pinned version) | upgrade (older) | newer (refused)."""
    k = facts.k3s
    if k.partial:
        return "repair"
    if not k.installed:
        return "fresh"
    if not k.version or k.version == pinned:
        return "adopt"
    return "upgrade" if hf.k3s_version_key(k.version) < hf.k3s_version_key(pinned) else "newer"


# ------------------------------------------------------------------------------------------- environment
def proxy_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The user's proxy settings and CONTAINERD_* variables, as install.sh copies them into the service's
    environment file (sudo drops them; see ``upstream.K3S_PROXY_VARIABLES``)."""
    wanted = {v.lower() for v in upstream.K3S_PROXY_VARIABLES}
    return {k: v for k, v in environ.items() if v and (k.lower() in wanted or k.startswith(upstream.K3S_ENV_PREFIXES))}


def parse_env_file(text: str | None) -> dict[str, str]:
    """The ``KEY='value'`` lines install.sh writes (the output of ``export``), as a mapping."""
    out: dict[str, str] = {}
    for line in (text or "").splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        if words and words[0] == "export":
            words = words[1:]
        if len(words) == 1 and "=" in words[0]:
            key, _, value = words[0].partition("=")
            out[key] = value
    return out


def parse_exec_args(unit: str | None, init_system: str) -> list[str] | None:
    """The k3s arguments of an existing service (``server --flag ...``), so that re-running the installer keeps
    them: install.sh rewrites the unit from its own arguments (k3s-io/docs configuration.md: values set when
    installing are lost unless given again). None when the unit cannot be read that way."""
    if not unit:
        return None
    text = unit.replace("\\\n", " ")
    if init_system == "systemd":
        m = re.search(r"^ExecStart=(.*)$", text, re.MULTILINE)
    else:
        m = re.search(r'^command_args="(.*?)"\s*$', text, re.MULTILINE | re.DOTALL)
    if not m:
        return None
    body = re.sub(r">>\S+\s+2>&1", "", m.group(1)) if init_system != "systemd" else m.group(1)
    try:
        words = shlex.split(body)
    except ValueError:
        return None
    if init_system == "systemd":
        words = words[1:]  # the binary
    return words if words and words[0] in ("server", "agent") else None


def installer_env(
    settings: Settings, *, airgap: bool, keep: Mapping[str, str], proxies: Mapping[str, str]
) -> dict[str, str]:
    """What install.sh runs with: the pinned version; the K3S_*/CONTAINERD_* variables and proxies the service
    had (``keep``) and the user's current proxies (which win)."""
    env = {k: v for k, v in keep.items() if k.startswith(("K3S_", "CONTAINERD_")) or k.lower().endswith("_proxy")}
    env.update(proxies)
    env["INSTALL_K3S_VERSION"] = settings.cluster.k3s_version
    if airgap:
        env["INSTALL_K3S_SKIP_DOWNLOAD"] = "true"
    return env


# ------------------------------------------------------------------------------------------- config files
def _write_file_step(step_id: str, path: str, text: str, what: str, mode: int, facts: HostFacts) -> Step:
    def check(ctx: StepContext) -> bool:
        return ctx.host.read_text(path, privileged=True) == text

    def apply(ctx: StepContext) -> None:
        ctx.host.write_text(path, text, mode=mode, privileged=True)
        ctx.state.record_host("dropin", path)
        if installed_now(ctx):
            # The installer does not restart k3s when only its config changed: we must.
            ctx.state.set_flag(RESTART_FLAG, True)

    return Step(
        id=step_id,
        phase="k3s",
        description=f"write {what}",
        changes=f"{path} ({len(text.splitlines())} lines, mode {mode:o}; list settings appended with `key+:`, "
        "so config.yaml and other drop-ins keep theirs)",
        check=check,
        apply=apply,
        verify=lambda ctx: None if check(ctx) else _raise(f"{path} does not hold what was written"),
        fingerprint=fingerprint(text),
        writes=(path,),
        restarts=("k3s",) if facts.k3s.installed or facts.k3s.partial else (),
    )


def _raise(message: str) -> None:
    raise LlmopsError(message)


def merge_registries(
    current: str | None, ours: Mapping[str, Any] | None, owned: Mapping[str, Any] | None
) -> tuple[str | None, dict[str, Any] | None, list[str]]:
    """(new registries.yaml text or None to remove it, what llmops owns in it afterwards, notes).

    k3s reads one registries.yaml (k3s-io/docs private-registry.md: ``mirrors`` and ``configs``, the latter
    holding auth and TLS). The user's entries are kept as they are; llmops adds its mirrors where the user has
    none for that registry, and removes exactly what it added (unless the user changed it since) when the
    setting goes away. Pure, so tests can hold it to these rules over any file.
    """
    import yaml

    notes: list[str] = []
    try:
        data = yaml.safe_load(current) if current and current.strip() else {}
    except yaml.YAMLError as e:
        raise InputError(
            f"{hf.K3S_REGISTRIES} is not valid YAML ({e})", hint="fix it: k3s cannot read it either"
        ) from e
    if not isinstance(data, dict):
        raise InputError(f"{hf.K3S_REGISTRIES} is not a mapping", hint="fix it: k3s cannot read it either")
    mirrors: dict[str, Any] = dict(data.get("mirrors") or {})
    owned_mirrors: dict[str, Any] = dict((owned or {}).get("mirrors") or {})
    created = bool((owned or {}).get("created")) or current is None
    for host, entry in list(owned_mirrors.items()):
        wanted = (ours or {}).get("mirrors", {}).get(host)
        if mirrors.get(host) == entry and wanted != entry:
            del mirrors[host]  # ours, unchanged, no longer wanted
            del owned_mirrors[host]
        elif mirrors.get(host) != entry:
            del owned_mirrors[host]  # changed by someone since: theirs now
    for host, entry in ((ours or {}).get("mirrors") or {}).items():
        if host in mirrors and host not in owned_mirrors:
            if mirrors[host] != entry:
                notes.append(f"{hf.K3S_REGISTRIES} already configures a mirror for {host}: kept as it is")
            continue
        mirrors[host] = entry
        owned_mirrors[host] = entry
    new = dict(data)
    if mirrors:
        new["mirrors"] = mirrors
    else:
        new.pop("mirrors", None)
    record = {"mirrors": owned_mirrors, "created": created} if owned_mirrors else None
    if not new and created:
        return None, record, notes
    if new == (data or {}) and current is not None:
        return current, record, notes
    return yaml.safe_dump(new, sort_keys=False, default_flow_style=False), record, notes


def registries_step(inputs: PlanInputs, facts: HostFacts) -> Step:
    import yaml

    ours = yaml.safe_load(inputs.k3s_registries) if inputs.k3s_registries else None

    def target(ctx: StepContext) -> tuple[str | None, str | None, dict[str, Any] | None, list[str]]:
        current = ctx.host.read_text(hf.K3S_REGISTRIES, privileged=True)
        new, owned, notes = merge_registries(current, ours, ctx.state.host.get("registries"))
        return current, new, owned, notes

    def check(ctx: StepContext) -> bool:
        current, new, _, _ = target(ctx)
        return current == new

    def apply(ctx: StepContext) -> None:
        current, new, owned, notes = target(ctx)
        ledger = ctx.state.host.get("registries") or {}
        if current is not None and not ledger.get("created") and not ctx.host.exists(REGISTRIES_BACKUP):
            # Parsing and writing drops comments: keep the file as the user wrote it, once.
            ctx.host.write_text(REGISTRIES_BACKUP, current, mode=0o600, privileged=True)
        if new is None:
            ctx.host.remove(hf.K3S_REGISTRIES, privileged=True)
        else:
            ctx.host.write_text(hf.K3S_REGISTRIES, new, mode=0o600, privileged=True)
        ctx.state.record_host("registries", owned)
        for n in notes:
            ctx.reporter.warn(n)
        if installed_now(ctx):
            ctx.state.set_flag(RESTART_FLAG, True)  # k3s reads registries.yaml when it starts

    wanted = ", ".join(sorted((ours or {}).get("mirrors", {}))) or "none"
    return Step(
        id="merge_k3s_registries",
        phase="k3s",
        description="merge llmops's registry mirrors into registries.yaml",
        changes=f"{hf.K3S_REGISTRIES}: add llmops's mirrors ({wanted}) where none is configured, remove the ones "
        "it added that are no longer wanted; the user's mirrors, auth and TLS stay (original kept as "
        f"{REGISTRIES_BACKUP})",
        check=check,
        apply=apply,
        fingerprint=fingerprint(ours),
        writes=(hf.K3S_REGISTRIES,),
        restarts=("k3s",) if facts.k3s.installed else (),
    )


# ------------------------------------------------------------------------------------------- install
def _sha256(ctx: StepContext, path: str) -> str:
    r = ctx.host.run(["sha256sum", "--", path], readonly=True, timeout=120)
    return r.stdout.split()[0] if r.stdout.split() else ""


def _refuse(what: str, got: str, want: str) -> LlmopsError:
    return LlmopsError(
        f"{what} has sha256 {got or '(none)'}, not the pinned {want}: refusing to run it",
        hint="something between here and github.com changed the file; retry on another network, or use an "
        "airgap bundle (docs/laptop.md)",
        code="integrity",
    )


def _previous_service(ctx: StepContext) -> tuple[list[str], dict[str, str]]:
    """(k3s arguments, environment) of the service an install or upgrade replaces."""
    init = ctx.facts.init_system
    unit_path, env_path = hf.k3s_unit(init, _service(ctx)), hf.k3s_unit_env(init, _service(ctx))
    unit = ctx.host.read_text(unit_path, privileged=True) if unit_path else None
    env = ctx.host.read_text(env_path, privileged=True) if env_path else None
    args = parse_exec_args(unit, init)
    if unit and args is None:
        ctx.reporter.warn(
            f"cannot read the arguments of the existing k3s service ({unit_path}): "
            "the installer writes it anew without them"
        )
    return (args or []), parse_env_file(env)


def _run_installer(ctx: StepContext, script: str, *, airgap: bool) -> None:
    args, keep = _previous_service(ctx)
    if not args and ctx.inputs.node.kind == "agent":
        # install.sh takes the command from its first argument (server unless given, or K3S_URL is set: the
        # server URL is in our drop-in instead, so the token never reaches the service's environment file).
        args = ["agent"]
    env = installer_env(ctx.settings, airgap=airgap, keep=keep, proxies=ctx.options.proxy_env)
    ctx.host.run(["sh", script, *args], privileged=True, env=env, timeout=900)


def _install_online(ctx: StepContext) -> None:
    tmp = ctx.host.run(["mktemp", "-t", "k3s-install.XXXXXX"]).stdout.strip()
    try:
        # Downloaded to a file, its hash checked, then run as an argv: never `curl | sh`.
        ctx.host.run(
            ["curl", "-fsSL", "--proto", "=https", "--tlsv1.2", "--retry", "3", "-o", tmp, upstream.K3S_INSTALLER_URL],
            timeout=120,
        )
        got = _sha256(ctx, tmp)
        if got != upstream.K3S_INSTALLER_SHA256:
            raise _refuse(f"the k3s installer from {upstream.K3S_INSTALLER_URL}", got, upstream.K3S_INSTALLER_SHA256)
        _run_installer(ctx, tmp, airgap=False)
    finally:
        ctx.host.run(["rm", "-f", tmp], check=False)


def _install_airgap(ctx: StepContext) -> None:
    bundle = ctx.options.airgap
    assert bundle is not None
    # Checked when the bundle was read; checked again here, on the host, right before use.
    # On a remote host each file is uploaded first; the hash is checked where the file will be used.
    staged = {
        f: ctx.host.stage(str(f)) for f in (bundle.installer, bundle.k3s_binary, *bundle.images, *bundle.extra_images)
    }
    for f, there in staged.items():
        want = bundle.sha256.get(f.name, "")
        got = _sha256(ctx, there)
        if got != want:
            raise _refuse(str(f), got, want)
    for image in (*bundle.images, *bundle.extra_images):
        dest = f"{hf.K3S_IMAGES_DIR}/{image.name}"
        ctx.host.run(["install", "-D", "-m", "0644", staged[image], dest], privileged=True)
    ctx.host.run(["install", "-D", "-m", "0755", staged[bundle.k3s_binary], hf.K3S_BIN], privileged=True)
    _run_installer(ctx, staged[bundle.installer], airgap=True)


def _backup_step(settings: Settings, facts: HostFacts) -> Step:
    pinned = settings.cluster.k3s_version
    old = facts.k3s.version or "unknown"

    def check(ctx: StepContext) -> bool:
        done = ctx.state.flags.get(BACKUP_FLAG) or {}
        return done.get("to") == pinned and ctx.host.exists(str(done.get("path", "")))

    def apply(ctx: StepContext) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        path = f"{hf.BACKUP_DIR}/k3s-{old}-{stamp}.tar.gz".replace("+", "_")
        ctx.host.run(["install", "-d", "-m", "0700", hf.BACKUP_DIR], privileged=True)
        if ctx.facts.k3s.datastore == "etcd":
            # Embedded etcd: k3s's own snapshot (k3s-io/docs backup-restore.md), kept with the server's token/TLS.
            ctx.host.run([hf.K3S_BIN, "etcd-snapshot", "save", "--name", f"llmops-before-{stamp}"], privileged=True)
        else:
            # SQLite (kine): copy the server directory while k3s is stopped (k3s-io/docs backup-restore.md: "make
            # a copy of /var/lib/rancher/k3s/server"); the installer starts it again.
            argv = service_argv(ctx.facts.init_system, "stop", _service(ctx))
            ctx.host.run(argv, privileged=True, timeout=SERVICE_START_TIMEOUT)
            ctx.reset_kube()
        ctx.host.run(["tar", "-czf", path, "-C", "/var/lib/rancher/k3s", "server"], privileged=True, timeout=900)
        ctx.host.run(["chmod", "0600", path], privileged=True)
        ctx.state.set_flag(BACKUP_FLAG, {"to": pinned, "path": path})
        ctx.state.record_host("backups", [*ctx.state.host.get("backups", []), path])
        ctx.notes.append(f"k3s datastore backed up to {path} before the upgrade to {pinned}")

    return Step(
        id="backup_k3s_datastore",
        phase="k3s",
        description=f"back up the k3s datastore before upgrading {old} -> {pinned}",
        changes=f"{hf.BACKUP_DIR}/k3s-{old}-<time>.tar.gz (mode 600): the server directory"
        + (" and an etcd snapshot" if facts.k3s.datastore == "etcd" else ", copied with k3s stopped"),
        check=check,
        apply=apply,
        fingerprint=fingerprint(old, pinned),
        writes=(hf.BACKUP_DIR,),
        restarts=("k3s (stopped for the copy)",) if facts.k3s.datastore != "etcd" else (),
    )


def join_token_step(inputs: PlanInputs) -> Step:
    """A joining node's token file: the first server's token, read over SSH when the step runs, written root-only
    (never printed, never on a command line, never in the state file)."""

    def token(ctx: StepContext) -> str:
        if ctx.join_token is None:
            raise LlmopsError("a joining node has no way to read the cluster's token", code="bug")
        value = ctx.join_token().strip()
        if not value:
            raise LlmopsError(
                f"the first server's {hf.K3S_SERVER_TOKEN} is empty", hint="check k3s on the first server"
            )
        return value + "\n"

    def check(ctx: StepContext) -> bool:
        return ctx.host.read_text(hf.K3S_JOIN_TOKEN, privileged=True) == token(ctx)

    def apply(ctx: StepContext) -> None:
        ctx.host.write_text(hf.K3S_JOIN_TOKEN, token(ctx), mode=0o600, privileged=True)
        ctx.state.record_host("join_token", hf.K3S_JOIN_TOKEN)
        if installed_now(ctx):
            ctx.state.set_flag(RESTART_FLAG, True)  # k3s reads the token file when it starts

    return Step(
        id="write_join_token",
        phase="k3s",
        description=f"write the join token for {inputs.node.server_url}",
        changes=f"{hf.K3S_JOIN_TOKEN} (mode 600, root): the first server's token, read from its "
        f"{hf.K3S_SERVER_TOKEN} over SSH; never printed or on a command line",
        check=check,
        apply=apply,
        fingerprint=fingerprint("join-token", inputs.node.server_url),
        writes=(hf.K3S_JOIN_TOKEN,),
    )


def steps(
    settings: Settings, facts: HostFacts, inputs: PlanInputs, options: UpOptions, warnings: list[str]
) -> list[Step]:
    out = [join_token_step(inputs)] if inputs.node.joins else []
    out += [
        _write_file_step(
            "write_k3s_config", hf.K3S_DROPIN, inputs.k3s_config, "the llmops k3s config drop-in", 0o600, facts
        ),
        registries_step(inputs, facts),
    ]
    pinned = settings.cluster.k3s_version
    mode = install_mode(facts, pinned)
    if mode == "upgrade" and inputs.node.kind != "agent":  # an agent holds no datastore
        out.append(_backup_step(settings, facts))
    airgap = options.airgap
    if airgap is not None:
        how = (
            f"check every file against {airgap.path.name}'s sha256 sums, copy {airgap.k3s_binary.name} to "
            f"{hf.K3S_BIN} and {len(airgap.images) + len(airgap.extra_images)} image tarball(s) to "
            f"{hf.K3S_IMAGES_DIR}/, run {airgap.installer} with INSTALL_K3S_SKIP_DOWNLOAD=true "
            f"INSTALL_K3S_VERSION={pinned}"
        )
        apply = _install_airgap
    else:
        how = (
            f"download install.sh of k3s commit {upstream.K3S_INSTALLER_COMMIT[:12]} to a temp file, check its sha256, "
            f"run it with INSTALL_K3S_VERSION={pinned}"
        )
        apply = _install_online
    proxies = ", ".join(sorted(options.proxy_env)) or "none set"
    description, changes = {
        "fresh": (f"install k3s {pinned}" + (" (airgap)" if airgap else ""), f"{how} (proxies passed on: {proxies})"),
        "repair": (
            f"finish the half-done k3s install ({pinned})",
            f"{how}: the binary is there but not the service and uninstall script",
        ),
        "adopt": (f"adopt existing k3s {facts.k3s.version or '(unknown version)'}", "nothing (already installed)"),
        "upgrade": (
            f"upgrade k3s {facts.k3s.version} -> {pinned} in place",
            f"{how}, keeping the service's arguments and K3S_*/CONTAINERD_*/proxy environment; restarts k3s",
        ),
        "newer": (f"k3s {facts.k3s.version} is newer than the pinned {pinned}", "nothing"),
    }[mode]
    if mode == "adopt" and not facts.k3s.version:
        warnings.append("cannot tell the version of the installed k3s (`k3s --version` failed); adopting it as is")

    def check(ctx: StepContext) -> bool:
        if mode == "adopt":
            return installed_now(ctx)
        return installed_now(ctx) and installed_version(ctx) == pinned

    def do_install(ctx: StepContext) -> None:
        apply(ctx)
        if mode in ("fresh", "repair") and not ctx.state.host.get("k3s"):
            ctx.state.record_host("k3s", {"installed_by": "llmops", "version": pinned})
        elif mode == "upgrade":
            ctx.state.record_host("k3s", {**(ctx.state.host.get("k3s") or {}), "version": pinned})
        ctx.state.set_flag(RESTART_FLAG, False)  # the installer (re)started k3s with the drop-in in place
        ctx.reset_kube()

    def verify(ctx: StepContext) -> None:
        if not installed_now(ctx):
            raise LlmopsError(
                f"the k3s installer finished but {hf.K3S_BIN}, the service or "
                f"{hf.k3s_uninstall(_service(ctx))} is missing",
                hint="see the installer's output above",
            )
        got = installed_version(ctx)
        if mode != "adopt" and got != pinned:
            raise LlmopsError(f"k3s reports version {got}, not the pinned {pinned}", code="k3s_version")

    will_fail = None
    if mode == "newer":
        will_fail = (
            f"k3s {facts.k3s.version} is installed, newer than the pinned {pinned}: llmops does not downgrade "
            f"Kubernetes (set cluster.k3s_version: {facts.k3s.version} in llmops.yaml to keep it)"
        )
    elif mode != "adopt":
        will_fail = _install_blocker(facts)
    out.append(
        Step(
            id="install_k3s",
            phase="k3s",
            description=description,
            changes=changes,
            check=check,
            apply=do_install,
            verify=verify,
            fingerprint=fingerprint(pinned, bool(airgap), mode),
            will_fail=will_fail,
            writes=("/usr/local/bin/k3s", hf.k3s_unit(facts.init_system, inputs.node.service) or "the k3s service")
            if mode != "adopt"
            else (),
            installs=(f"k3s {pinned}",) if mode in ("fresh", "repair", "upgrade") else (),
            restarts=("k3s",) if mode == "upgrade" else (),
        )
    )
    out.append(start_step(facts))

    def no_restart_pending(ctx: StepContext) -> bool:
        # The flag is set by the write steps (and survives a crash in the state file); before they ran (a dry
        # run), a drop-in that differs from ours means a restart is coming.
        if ctx.state.flags.get(RESTART_FLAG, False):
            return False
        return not installed_now(ctx) or ctx.host.read_text(hf.K3S_DROPIN, privileged=True) == inputs.k3s_config

    def do_restart(ctx: StepContext) -> None:
        restart_k3s(ctx)
        ctx.state.set_flag(RESTART_FLAG, False)

    out.append(
        Step(
            id="restart_k3s_on_config_change",
            phase="k3s",
            description="restart k3s if its config changed",
            changes="restart the k3s service (only when the drop-in or registries.yaml changed)",
            check=no_restart_pending,
            apply=do_restart,
            record=False,
            restarts=("k3s",) if facts.k3s.installed else (),
        )
    )
    return out


def start_step(facts: HostFacts) -> Step:
    def start(ctx: StepContext) -> None:
        argv = service_argv(ctx.facts.init_system, "start", _service(ctx))
        ctx.host.run(argv, privileged=True, timeout=SERVICE_START_TIMEOUT)
        ctx.reset_kube()

    def verify(ctx: StepContext) -> None:
        wait_for(
            lambda: True if k3s_running(ctx) else None,
            timeout=SERVICE_START_TIMEOUT,
            what="the k3s service to run",
            clock=ctx.clock,
            sleep=ctx.sleep,
            describe=lambda: [f"see {hf.k3s_log_hint(ctx.facts.init_system, _service(ctx))}"],
            hint=f"check {hf.k3s_log_hint(ctx.facts.init_system, _service(ctx))}",
        )

    stopped = facts.k3s.installed and not facts.k3s.running
    return Step(
        id="start_k3s",
        phase="k3s",
        description="start k3s" if stopped else "make sure k3s is running",
        changes="start the k3s service" if stopped else "nothing unless it stopped",
        check=lambda ctx: not installed_now(ctx) or k3s_running(ctx),
        apply=start,
        verify=verify,
        record=False,
        restarts=("k3s (start)",) if stopped else (),
    )


def _install_blocker(facts: HostFacts) -> str | None:
    """Why the installer cannot work on this host, known from the facts alone."""
    if facts.init_system not in ("systemd", "openrc"):
        where = " (this is a container)" if facts.container else ""
        return f"no systemd or OpenRC on this host{where}: the k3s installer cannot set up its service"
    if facts.arch not in ("x86_64", "aarch64", "arm64", "armv7l"):
        return f"k3s has no build for {facts.arch}"
    return None


# ------------------------------------------------------------------------------------------- node Ready
def is_node(node: dict[str, Any], hostname: str) -> bool:
    """k3s names a node after its host name (lower case) and labels it kubernetes.io/hostname."""
    labels = node["metadata"].get("labels") or {}
    return hostname.lower() in (labels.get("kubernetes.io/hostname"), node["metadata"]["name"])


def node_ready(ctx: StepContext, hostname: str | None = None) -> list[dict[str, Any]] | None:
    """Every node Ready (``hostname``: that node, present and Ready)."""
    nodes = ctx.kube().list("v1", "Node")
    if hostname is not None:
        nodes = [n for n in nodes if is_node(n, hostname)]
    if not nodes:
        return None
    for n in nodes:
        conds = {c.get("type"): c.get("status") for c in (n.get("status") or {}).get("conditions", [])}
        if conds.get("Ready") != "True":
            return None
    return nodes


def ready_steps(settings: Settings, facts: HostFacts, inputs: PlanInputs, options: UpOptions) -> list[Step]:
    own = facts.hostname if inputs.node.joins else None  # a joining node waits for itself, in the whole cluster

    def wait_ready(ctx: StepContext) -> None:
        log = hf.k3s_log_hint(ctx.facts.init_system, _service(ctx))

        def describe() -> list[str]:
            lines = [f"the k3s service is {'running' if k3s_running(ctx) else 'not running'} (see {log})"]
            for n in ctx.kube().list("v1", "Node"):
                for c in (n.get("status") or {}).get("conditions", []):
                    if c.get("type") == "Ready":
                        lines.append(f"node {n['metadata']['name']}: Ready={c.get('status')} {c.get('message', '')}")
            return lines

        nodes = wait_for(
            lambda: node_ready(ctx, own),
            timeout=min(NODE_READY_TIMEOUT, ctx.options.timeout),
            what=f"node {own} to be Ready" if own else "the k3s node to be Ready",
            clock=ctx.clock,
            sleep=ctx.sleep,
            describe=describe,
            hint=f"check {log}",
        )
        ctx.results["nodes"] = [n["metadata"]["name"] for n in nodes]

    return [
        Step(
            id="wait_node_ready",
            phase="k3s",
            description=f"wait for node {own} to join and be Ready" if own else "wait for the node to be Ready",
            changes="nothing (waits)",
            check=lambda ctx: node_ready(ctx, own) is not None,
            apply=wait_ready,
            mutating=False,
            record=False,
        )
    ]
