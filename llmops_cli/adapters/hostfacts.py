"""What a host is: OS, kernel, cgroups, resources, ports, k3s, other Kubernetes, NVIDIA driver and toolkit.

Facts are gathered through a :class:`~llmops_cli.adapters.hosts.Host` with read-only commands, so the same
code describes this machine and an SSH host, and is safe in ``--dry-run``. Every parser is a pure function of
the command's text (tested against outputs of real machines in ``tests/adapters/fixtures``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from llmops_cli.adapters.hosts import Host
from llmops_cli.adapters.upstream import (
    NVIDIA_KEYRING,
    NVIDIA_REPO,
    NVIDIA_TOOLKIT_PACKAGES,
    NVIDIA_TOOLKIT_VERSION,
    SECURE_BOOT_EFIVAR,
)
from llmops_cli.errors import LlmopsError

K3S_BIN = "/usr/local/bin/k3s"
K3S_KUBECONFIG = "/etc/rancher/k3s/k3s.yaml"
K3S_CONFIG = "/etc/rancher/k3s/config.yaml"
K3S_CONFIG_DIR = "/etc/rancher/k3s/config.yaml.d"
K3S_DROPIN = f"{K3S_CONFIG_DIR}/50-llmops.yaml"
K3S_REGISTRIES = "/etc/rancher/k3s/registries.yaml"
K3S_CONTAINERD_CONFIG = "/var/lib/rancher/k3s/agent/etc/containerd/config.toml"
K3S_UNINSTALL = "/usr/local/bin/k3s-uninstall.sh"
# The server token every server writes (secure format K10<ca hash>::server:<secret>); it joins servers and agents
# alike (k3s-io/docs docs/cli/token.md "Server"). Joining nodes read it from a file only root can read
# (`token-file` in their config drop-in: docs/cli/agent.md, docs/cli/server.md "--token-file").
K3S_SERVER_TOKEN = "/var/lib/rancher/k3s/server/token"  # noqa: S105 - a path, not a secret
K3S_JOIN_TOKEN = "/etc/rancher/k3s/llmops-join-token"  # noqa: S105 - a path, not a secret
K3S_API_PORT = 6443
K3S_IMAGES_DIR = "/var/lib/rancher/k3s/agent/images"
K3S_SERVER_DIR = "/var/lib/rancher/k3s/server"
K3S_SQLITE_DB = f"{K3S_SERVER_DIR}/db/state.db"
K3S_ETCD_DIR = f"{K3S_SERVER_DIR}/db/etcd"
# Where install.sh puts the service and its environment (setup_env: systemd or OpenRC).
K3S_SERVICE = {"systemd": "/etc/systemd/system/k3s.service", "openrc": "/etc/init.d/k3s"}
K3S_SERVICE_ENV = {"systemd": "/etc/systemd/system/k3s.service.env", "openrc": "/etc/rancher/k3s/k3s.env"}
K3S_LOG_HINT = {"systemd": "journalctl -u k3s", "openrc": "/var/log/k3s.log (rc-service k3s status)"}
# An agent's service is named k3s-agent: install.sh names it SYSTEM_NAME=k3s-${CMD_K3S} for any command but
# server, and derives the unit, its environment file and the uninstall script from that name (setup_env:
# ${SYSTEMD_DIR}/${SYSTEM_NAME}.service(.env), /etc/init.d/${SYSTEM_NAME}, /etc/rancher/k3s/${SYSTEM_NAME}.env,
# ${BIN_DIR}/${SYSTEM_NAME}-uninstall.sh; k3s-io/k3s install.sh).
K3S_SERVER_SERVICE = "k3s"
K3S_AGENT_SERVICE = "k3s-agent"


def k3s_unit(init_system: str, service: str = K3S_SERVER_SERVICE) -> str | None:
    """The service file install.sh writes for ``service`` (k3s or k3s-agent)."""
    return {"systemd": f"/etc/systemd/system/{service}.service", "openrc": f"/etc/init.d/{service}"}.get(init_system)


def k3s_unit_env(init_system: str, service: str = K3S_SERVER_SERVICE) -> str | None:
    return {"systemd": f"/etc/systemd/system/{service}.service.env", "openrc": f"/etc/rancher/k3s/{service}.env"}.get(
        init_system
    )


def k3s_uninstall(service: str = K3S_SERVER_SERVICE) -> str:
    return f"/usr/local/bin/{service}-uninstall.sh"


def k3s_log_hint(init_system: str, service: str = K3S_SERVER_SERVICE) -> str:
    if init_system == "systemd":
        return f"journalctl -u {service}"
    if init_system == "openrc":
        return f"/var/log/{service}.log (rc-service {service} status)"
    return "the k3s log"


BACKUP_DIR = "/var/backups/llmops"  # datastore backups before an upgrade; outside /var/lib/rancher (uninstall)
PORTS = (6443, 10250, 80, 443)
OTHER_KUBERNETES = ("kind", "k3d", "minikube", "microk8s", "kubelet")
WSL_NVIDIA_SMI = "/usr/lib/wsl/lib/nvidia-smi"  # WSL2: the Windows driver's tools, mounted by WSL


def _pinned(pm: str) -> str:
    sep = "=" if pm == "apt" else "-"
    return " ".join(f"{p}{sep}{NVIDIA_TOOLKIT_VERSION}" for p in NVIDIA_TOOLKIT_PACKAGES)


# NVIDIA's install guide for the pinned toolkit (NVIDIA/cloud-native-docs container-toolkit/install-guide.md for
# 1.20.0, see ``upstream``), the version pinned, printed for people who install it themselves.
TOOLKIT_INSTALL_DOCS: dict[str, list[str]] = {
    "apt": [
        f"curl -fsSL {NVIDIA_REPO}/gpgkey | sudo gpg --dearmor -o {NVIDIA_KEYRING}",
        f"curl -s -L {NVIDIA_REPO}/stable/deb/nvidia-container-toolkit.list | "
        f"sed 's#deb https://#deb [signed-by={NVIDIA_KEYRING}] https://#g' | "
        "sudo tee /etc/apt/sources.list.d/nvidia-container-toolkit.list",
        "sudo apt-get update",
        f"sudo apt-get install -y {_pinned('apt')}",
    ],
    "dnf": [
        f"curl -s -L {NVIDIA_REPO}/stable/rpm/nvidia-container-toolkit.repo | "
        "sudo tee /etc/yum.repos.d/nvidia-container-toolkit.repo",
        f"sudo dnf install -y {_pinned('dnf')}",
    ],
    "zypper": [
        f"sudo zypper ar {NVIDIA_REPO}/stable/rpm/nvidia-container-toolkit.repo",
        f"sudo zypper --gpg-auto-import-keys install -y {_pinned('zypper')}",
    ],
}


def toolkit_commands(package_manager: str | None) -> list[str]:
    return TOOLKIT_INSTALL_DOCS.get(package_manager or "", [])


def toolkit_hint(package_manager: str | None) -> str:
    cmds = toolkit_commands(package_manager)
    if not cmds:
        return (
            "install the NVIDIA container toolkit for your distribution "
            "(https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html)"
        )
    return "install it with:\n    " + "\n    ".join(cmds) + "\n  or re-run with --install-toolkit"


@dataclass(frozen=True)
class GpuInfo:
    name: str
    memory_mib: int
    driver_version: str


@dataclass(frozen=True)
class NvidiaFacts:
    smi_present: bool = False
    gpus: tuple[GpuInfo, ...] = ()
    driver_version: str | None = None
    cuda_version: str | None = None
    error: str | None = None  # nvidia-smi present but failing (driver not loaded, ...)
    toolkit_version: str | None = None  # nvidia-ctk --version
    runtime_path: str | None = None  # nvidia-container-runtime on PATH
    smi_path: str | None = None  # where nvidia-smi was found (WSL2: /usr/lib/wsl/lib)
    secure_boot: bool | None = None  # UEFI Secure Boot on; None = not a UEFI boot or unreadable
    module_present: bool = False  # an nvidia kernel module is installed (modinfo finds it)
    module_signer: str | None = None  # its signer ("" = unsigned)
    module_loaded: bool = False  # /sys/module/nvidia
    nouveau_loaded: bool = False  # /sys/module/nouveau: the open driver holds the GPU

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpus)

    @property
    def toolkit_present(self) -> bool:
        return self.runtime_path is not None


@dataclass(frozen=True)
class K3sFacts:
    binary: bool = False  # /usr/local/bin/k3s
    service: str | None = None  # the unit install.sh writes (systemd) or its init script (OpenRC)
    uninstall: bool = False  # k3s-uninstall.sh
    version: str | None = None
    running: bool = False
    dropin: str | None = None  # current text of our config drop-in
    containerd_nvidia: bool = False  # nvidia runtime present in k3s's generated containerd config
    datastore: str | None = None  # "sqlite" | "etcd" | None (none yet)
    config_files: tuple[str, ...] = ()  # config.yaml and drop-ins present (ours included)
    service_name: str = K3S_SERVER_SERVICE  # k3s (a server) or k3s-agent (an agent node)

    @property
    def installed(self) -> bool:
        """Installed and complete: install.sh writes the binary first and the service last, so a run killed
        halfway leaves a binary without a service (k3s-io/k3s install.sh, main block)."""
        return self.binary and self.service is not None and self.uninstall

    @property
    def partial(self) -> bool:
        return (self.binary or self.service is not None or self.uninstall) and not self.installed


@dataclass(frozen=True)
class HostFacts:
    hostname: str = "localhost"
    os_id: str = "unknown"
    os_like: tuple[str, ...] = ()
    os_version: str = ""
    os_pretty: str = "unknown"
    arch: str = "unknown"
    kernel: str = "unknown"
    is_root: bool = False
    sudo: str = "root"  # root | passwordless | password | unavailable
    init_system: str = "unknown"  # systemd | openrc | none
    cpus: int = 0
    memory_mib: int = 0
    disk_free_mib: int = 0
    swap_mib: int = 0
    cgroup_v2: bool = False
    cgroup_controllers: tuple[str, ...] = ()
    ports_in_use: tuple[int, ...] = ()
    other_kubernetes: tuple[str, ...] = ()
    node_ip: str | None = None
    container: bool = False
    wsl: bool = False  # Windows Subsystem for Linux 2
    k3s: K3sFacts = field(default_factory=K3sFacts)
    nvidia: NvidiaFacts = field(default_factory=NvidiaFacts)

    @property
    def package_manager(self) -> str | None:
        ids = (self.os_id, *self.os_like)
        if any(i in ("debian", "ubuntu") for i in ids):
            return "apt"
        if any(i in ("rhel", "fedora", "centos", "rocky", "almalinux", "amzn") for i in ids):
            return "dnf"
        if any(i.startswith(("suse", "opensuse", "sles")) for i in ids):
            return "zypper"
        return None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["k3s"].update(installed=self.k3s.installed, partial=self.k3s.partial)
        return data


# --------------------------------------------------------------------------------------------- parsers
def parse_os_release(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def parse_meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo values in KiB."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+(?:\(\w+\))?):\s+(\d+)", line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def parse_nvidia_smi_query(text: str) -> list[GpuInfo]:
    """``nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader,nounits``."""
    gpus: list[GpuInfo] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        parts = [p.strip() for p in line.rsplit(",", 2)]
        if len(parts) != 3:
            raise ValueError(f"unexpected nvidia-smi line: {line!r}")
        name, mem, driver = parts
        mem_num = re.match(r"^(\d+)", mem)
        if not mem_num:
            raise ValueError(f"unexpected memory.total {mem!r} in nvidia-smi line {line!r}")
        gpus.append(GpuInfo(name=name, memory_mib=int(mem_num.group(1)), driver_version=driver))
    return gpus


def parse_nvidia_smi_header(text: str) -> tuple[str | None, str | None]:
    """(driver version, CUDA version) from the plain ``nvidia-smi`` table header.

    Drivers up to R580 print ``Driver Version: X  CUDA Version: Y``; R610+ print ``KMD Version: X  CUDA UMD
    Version: Y``.
    """
    driver = re.search(r"(?:Driver|KMD) Version:\s*([0-9][0-9.]*)", text)
    cuda = re.search(r"CUDA(?: UMD)? Version:\s*([0-9][0-9.]*)", text)
    return (driver.group(1) if driver else None, cuda.group(1) if cuda else None)


def k3s_version_key(version: str) -> tuple[int, ...]:
    """``v1.33.5+k3s1`` -> (1, 33, 5, 1), for ordering k3s releases."""
    return tuple(int(n) for n in re.findall(r"\d+", version))


def parse_k3s_version(text: str) -> str | None:
    """``k3s --version`` → ``v1.33.5+k3s1``."""
    m = re.search(r"k3s version (v[0-9]+\.[0-9]+\.[0-9]+\+k3s[0-9]+)", text)
    return m.group(1) if m else None


def parse_nvidia_ctk_version(text: str) -> str | None:
    """``nvidia-ctk --version`` → ``1.17.8``."""
    m = re.search(r"version\s+v?([0-9]+\.[0-9]+\.[0-9]+)", text, re.IGNORECASE)
    return m.group(1) if m else None


def parse_listening_ports(text: str) -> set[int]:
    """Local TCP ports in LISTEN state (st 0A) from /proc/net/tcp or /proc/net/tcp6."""
    ports: set[int] = set()
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 4 or parts[3] != "0A":
            continue
        _, _, port_hex = parts[1].rpartition(":")
        try:
            ports.add(int(port_hex, 16))
        except ValueError:
            continue
    return ports


def parse_proc_cgroups(text: str) -> tuple[str, ...]:
    """cgroup v1 controllers that are enabled and mounted (hierarchy != 0) from /proc/cgroups."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4 and not line.startswith("#") and parts[1] != "0" and parts[3] == "1":
            out.append(parts[0])
    return tuple(out)


def parse_swaps(text: str) -> int:
    """Total swap in MiB from /proc/swaps."""
    total_kib = 0
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 3 and parts[2].isdigit():
            total_kib += int(parts[2])
    return total_kib // 1024


def parse_route_src(text: str) -> str | None:
    """``ip -4 route get 1.1.1.1`` → the source address the kernel would use (no packet is sent)."""
    m = re.search(r"\bsrc\s+([0-9.]+)", text)
    return m.group(1) if m else None


def containerd_has_nvidia(config_toml: str | None) -> bool:
    """k3s writes a runtime section per detected runtime, e.g. ``[plugins."io.containerd.cri.v1.runtime".
    containerd.runtimes."nvidia"]`` (containerd 2) or ``...grpc.v1.cri".containerd.runtimes."nvidia"]``."""
    if not config_toml:
        return False
    return re.search(r'containerd\.runtimes\.["\']?nvidia["\']?\]', config_toml) is not None


# --------------------------------------------------------------------------------------------- gathering
def _read(host: Host, path: str) -> str:
    try:
        return host.read_text(path) or ""
    except (LlmopsError, OSError):
        return ""


def _cmd(host: Host, argv: list[str], timeout: float = 15) -> tuple[bool, str, str]:
    if host.which(argv[0]) is None and not argv[0].startswith("/"):
        return False, "", ""
    try:
        r = host.run(argv, check=False, readonly=True, timeout=timeout)
    except LlmopsError as e:
        return False, "", str(e)
    return r.ok, r.stdout, r.stderr


def parse_secure_boot(raw: str | None) -> bool | None:
    """The SecureBoot EFI variable as efivarfs shows it: 4 attribute bytes, then 1 (on) or 0 (off)."""
    if not raw or len(raw) < 5:
        return None
    return raw[4] == "\x01"


def nvidia_smi_command(host: Host) -> str | None:
    """How to call nvidia-smi: from PATH, else where WSL2 mounts the Windows driver's tools."""
    if host.which("nvidia-smi") is not None:
        return "nvidia-smi"
    return WSL_NVIDIA_SMI if host.exists(WSL_NVIDIA_SMI) else None


def gather_nvidia(host: Host) -> NvidiaFacts:
    smi = nvidia_smi_command(host)
    ctk_ok, ctk_out, _ = _cmd(host, ["nvidia-ctk", "--version"])
    toolkit_version = parse_nvidia_ctk_version(ctk_out) if ctk_ok else None
    runtime = host.which("nvidia-container-runtime")
    kernel = _kernel_facts(host)
    base = NvidiaFacts(toolkit_version=toolkit_version, runtime_path=runtime, **kernel)
    if smi is None:
        return base
    path = host.which("nvidia-smi") or smi
    query = [smi, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"]
    ok, out, err = _cmd(host, query)
    if not ok:
        detail = (err or out).strip().splitlines()
        return replace(base, smi_present=True, smi_path=path, error=detail[-1] if detail else "nvidia-smi failed")
    try:
        gpus = parse_nvidia_smi_query(out)
    except ValueError as e:
        return replace(base, smi_present=True, smi_path=path, error=str(e))
    _, header, _ = _cmd(host, [smi])
    driver, cuda = parse_nvidia_smi_header(header)
    return replace(
        base,
        smi_present=True,
        smi_path=path,
        gpus=tuple(gpus),
        driver_version=driver or (gpus[0].driver_version if gpus else None),
        cuda_version=cuda,
    )


def _kernel_facts(host: Host) -> dict[str, Any]:
    """Secure Boot, the nvidia module's signature and whether nouveau holds the GPU (read-only probes)."""
    try:
        raw = host.read_text(SECURE_BOOT_EFIVAR) if host.exists(SECURE_BOOT_EFIVAR) else None
    except (LlmopsError, OSError, UnicodeDecodeError):
        raw = None
    present, signer = False, None
    if host.which("modinfo") is not None:
        ok, out, _ = _cmd(host, ["modinfo", "-F", "signer", "nvidia"])
        if ok:
            present, signer = True, out.strip()
    return {
        "secure_boot": parse_secure_boot(raw),
        "module_present": present,
        "module_signer": signer,
        "module_loaded": host.exists("/sys/module/nvidia"),
        "nouveau_loaded": host.exists("/sys/module/nouveau"),
    }


def k3s_service_running(host: Host, init_system: str, service: str = K3S_SERVER_SERVICE) -> bool:
    """Whether the k3s service runs, asked the way each init system answers it."""
    if init_system == "systemd":
        return _cmd(host, ["systemctl", "is-active", "--quiet", service])[0]
    if init_system == "openrc":
        return _cmd(host, ["rc-service", service, "status"])[0]
    process = "k3s-agent" if service == K3S_AGENT_SERVICE else "k3s-server"
    return _cmd(host, ["pgrep", "-x", process])[0] or _cmd(host, ["pgrep", "-f", f"k3s {process[4:]}"])[0]


def k3s_service_path(host: Host, init_system: str, service: str = K3S_SERVER_SERVICE) -> str | None:
    path = k3s_unit(init_system, service)
    return path if path and host.exists(path) else None


def gather_k3s(host: Host, init_system: str, service_name: str = K3S_SERVER_SERVICE) -> K3sFacts:
    binary = host.exists(K3S_BIN)
    service = k3s_service_path(host, init_system, service_name)
    uninstall = host.exists(k3s_uninstall(service_name))
    version = None
    if binary:
        _, out, _ = _cmd(host, [K3S_BIN, "--version"])
        version = parse_k3s_version(out)
    elif host.which("k3s") is not None:  # another install location (INSTALL_K3S_BIN_DIR): adopt nothing
        _, out, _ = _cmd(host, ["k3s", "--version"])
        version = parse_k3s_version(out)
    running = k3s_service_running(host, init_system, service_name) if (binary or service) else False
    dropin = None
    containerd = ""
    try:
        dropin = host.read_text(K3S_DROPIN, privileged=True) if host.exists(K3S_DROPIN) else None
        containerd = (host.read_text(K3S_CONTAINERD_CONFIG, privileged=True) or "") if binary else ""
    except LlmopsError:
        pass
    datastore = "etcd" if host.exists(K3S_ETCD_DIR) else "sqlite" if host.exists(K3S_SQLITE_DB) else None
    configs = [K3S_CONFIG] if host.exists(K3S_CONFIG) else []
    ok, listing, _ = _cmd(host, ["ls", "-1", K3S_CONFIG_DIR]) if host.exists(K3S_CONFIG_DIR) else (False, "", "")
    if ok:
        configs += [f"{K3S_CONFIG_DIR}/{n}" for n in sorted(listing.split()) if n.endswith((".yaml", ".yml"))]
    return K3sFacts(
        binary=binary,
        service=service,
        uninstall=uninstall,
        version=version,
        running=running,
        dropin=dropin,
        containerd_nvidia=containerd_has_nvidia(containerd),
        datastore=datastore,
        config_files=tuple(configs),
        service_name=service_name,
    )


def detect_init(host: Host) -> str:
    """systemd | openrc | none, tested the way install.sh's verify_system decides (OpenRC first)."""
    if host.exists("/sbin/openrc-run"):
        return "openrc"
    if host.exists("/run/systemd/system"):
        return "systemd"
    return "none"


def gather_facts(
    host: Host, *, sudo_mode: str | None = None, disk_path: str = "/var/lib", k3s_service: str = K3S_SERVER_SERVICE
) -> HostFacts:
    """Describe ``host`` with read-only probes. Missing tools simply leave a fact empty. ``k3s_service`` is the
    service the host's role runs (k3s-agent on an agent node)."""
    osr = parse_os_release(_read(host, "/etc/os-release"))
    _, arch, _ = _cmd(host, ["uname", "-m"])
    _, kernel, _ = _cmd(host, ["uname", "-r"])
    _, hostname, _ = _cmd(host, ["hostname"])
    _, nproc, _ = _cmd(host, ["nproc"])
    mem = parse_meminfo(_read(host, "/proc/meminfo"))
    disk_free = 0
    # k3s keeps images and volumes under /var/lib/rancher: measure the filesystem that will hold it.
    ok, df, _ = _cmd(host, ["df", "-Pk", disk_path if host.exists(disk_path) else "/"])
    if ok:
        rows = df.strip().splitlines()
        if len(rows) >= 2 and len(rows[-1].split()) >= 4:
            disk_free = int(rows[-1].split()[3]) // 1024
    cgroup_v2 = host.exists("/sys/fs/cgroup/cgroup.controllers")
    controllers = (
        tuple(_read(host, "/sys/fs/cgroup/cgroup.controllers").split())
        if cgroup_v2
        else parse_proc_cgroups(_read(host, "/proc/cgroups"))
    )
    ports = parse_listening_ports(_read(host, "/proc/net/tcp")) | parse_listening_ports(_read(host, "/proc/net/tcp6"))
    init = detect_init(host)
    others: list[str] = []
    _, ps, _ = _cmd(host, ["ps", "-e", "-o", "comm="])
    running = {line.strip() for line in ps.splitlines()}
    for tool in OTHER_KUBERNETES:
        if tool == "kubelet":
            if "kubelet" in running:
                others.append("kubelet (running)")
        elif host.which(tool):
            others.append(tool + (" (running)" if tool in running else ""))
    _, route, _ = _cmd(host, ["ip", "-4", "route", "get", "1.1.1.1"])
    osrelease = _read(host, "/proc/sys/kernel/osrelease").lower()
    wsl = "microsoft" in osrelease or host.exists("/proc/sys/fs/binfmt_misc/WSLInterop")
    container = host.exists("/.dockerenv") or host.exists("/run/.containerenv")
    if not container:
        cg = _read(host, "/proc/1/cgroup")
        container = any(x in cg for x in ("docker", "kubepods", "containerd", "lxc"))
    return HostFacts(
        hostname=hostname.strip() or host.name,
        os_id=osr.get("ID", "unknown"),
        os_like=tuple(osr.get("ID_LIKE", "").split()),
        os_version=osr.get("VERSION_ID", ""),
        os_pretty=osr.get("PRETTY_NAME", osr.get("ID", "unknown")),
        arch=arch.strip() or "unknown",
        kernel=kernel.strip() or "unknown",
        is_root=host.is_root,
        sudo=sudo_mode or ("root" if host.is_root else "unknown"),
        init_system=init,
        cpus=int(nproc.strip()) if nproc.strip().isdigit() else 0,
        memory_mib=mem.get("MemTotal", 0) // 1024,
        disk_free_mib=disk_free,
        swap_mib=parse_swaps(_read(host, "/proc/swaps")),
        cgroup_v2=cgroup_v2,
        cgroup_controllers=controllers,
        ports_in_use=tuple(sorted(p for p in ports if p in PORTS)),
        other_kubernetes=tuple(others),
        node_ip=parse_route_src(route),
        container=container,
        wsl=wsl,
        k3s=gather_k3s(host, init, k3s_service),
        nvidia=gather_nvidia(host),
    )
