"""What a host is: OS, kernel, cgroups, resources, ports, k3s, other Kubernetes, NVIDIA driver and toolkit.

Facts are gathered through a :class:`~llmops_cli.adapters.hosts.Host` with read-only commands, so the same
code describes this machine and an SSH host, and is safe in ``--dry-run``. Every parser is a pure function of
the command's text (tested against outputs of real machines in ``tests/adapters/fixtures``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from llmops_cli.adapters.hosts import Host
from llmops_cli.errors import LlmopsError

K3S_BIN = "/usr/local/bin/k3s"
K3S_KUBECONFIG = "/etc/rancher/k3s/k3s.yaml"
K3S_DROPIN = "/etc/rancher/k3s/config.yaml.d/50-llmops.yaml"
K3S_REGISTRIES = "/etc/rancher/k3s/registries.yaml"
K3S_CONTAINERD_CONFIG = "/var/lib/rancher/k3s/agent/etc/containerd/config.toml"
K3S_UNINSTALL = "/usr/local/bin/k3s-uninstall.sh"
K3S_IMAGES_DIR = "/var/lib/rancher/k3s/agent/images"
PORTS = (6443, 10250, 80, 443)
OTHER_KUBERNETES = ("kind", "k3d", "minikube", "microk8s", "kubelet")


NVIDIA_REPO = "https://nvidia.github.io/libnvidia-container"
NVIDIA_KEYRING = "/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg"

# The exact commands of NVIDIA's install guide (docs.nvidia.com/datacenter/cloud-native/container-toolkit/
# latest/install-guide.html), printed for people to run themselves.
TOOLKIT_INSTALL_DOCS: dict[str, list[str]] = {
    "apt": [
        f"curl -fsSL {NVIDIA_REPO}/gpgkey | sudo gpg --dearmor -o {NVIDIA_KEYRING}",
        f"curl -s -L {NVIDIA_REPO}/stable/deb/nvidia-container-toolkit.list | "
        f"sed 's#deb https://#deb [signed-by={NVIDIA_KEYRING}] https://#g' | "
        "sudo tee /etc/apt/sources.list.d/nvidia-container-toolkit.list",
        "sudo apt-get update",
        "sudo apt-get install -y nvidia-container-toolkit",
    ],
    "dnf": [
        f"curl -s -L {NVIDIA_REPO}/stable/rpm/nvidia-container-toolkit.repo | "
        "sudo tee /etc/yum.repos.d/nvidia-container-toolkit.repo",
        "sudo dnf install -y nvidia-container-toolkit",
    ],
    "zypper": [
        f"sudo zypper ar {NVIDIA_REPO}/stable/rpm/nvidia-container-toolkit.repo",
        "sudo zypper --gpg-auto-import-keys install -y nvidia-container-toolkit",
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

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpus)

    @property
    def toolkit_present(self) -> bool:
        return self.runtime_path is not None


@dataclass(frozen=True)
class K3sFacts:
    installed: bool = False
    version: str | None = None
    running: bool = False
    dropin: str | None = None  # current text of our config drop-in
    containerd_nvidia: bool = False  # nvidia runtime present in k3s's generated containerd config


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
        return asdict(self)


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


def gather_nvidia(host: Host) -> NvidiaFacts:
    smi = host.which("nvidia-smi")
    ctk_ok, ctk_out, _ = _cmd(host, ["nvidia-ctk", "--version"])
    toolkit_version = parse_nvidia_ctk_version(ctk_out) if ctk_ok else None
    runtime = host.which("nvidia-container-runtime")
    if smi is None:
        return NvidiaFacts(toolkit_version=toolkit_version, runtime_path=runtime)
    ok, out, err = _cmd(
        host, ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"]
    )
    if not ok:
        detail = (err or out).strip().splitlines()
        return NvidiaFacts(
            smi_present=True,
            error=detail[-1] if detail else "nvidia-smi failed",
            toolkit_version=toolkit_version,
            runtime_path=runtime,
        )
    try:
        gpus = parse_nvidia_smi_query(out)
    except ValueError as e:
        return NvidiaFacts(smi_present=True, error=str(e), toolkit_version=toolkit_version, runtime_path=runtime)
    _, header, _ = _cmd(host, ["nvidia-smi"])
    driver, cuda = parse_nvidia_smi_header(header)
    return NvidiaFacts(
        smi_present=True,
        gpus=tuple(gpus),
        driver_version=driver or (gpus[0].driver_version if gpus else None),
        cuda_version=cuda,
        toolkit_version=toolkit_version,
        runtime_path=runtime,
    )


def gather_k3s(host: Host, init_system: str) -> K3sFacts:
    installed = host.exists(K3S_BIN) or host.which("k3s") is not None
    version = None
    if installed:
        _, out, _ = _cmd(host, [K3S_BIN if host.exists(K3S_BIN) else "k3s", "--version"])
        version = parse_k3s_version(out)
    running = False
    if installed:
        if init_system == "systemd":
            running = _cmd(host, ["systemctl", "is-active", "--quiet", "k3s"])[0]
        else:
            running = _cmd(host, ["pgrep", "-x", "k3s-server"])[0] or _cmd(host, ["pgrep", "-f", "k3s server"])[0]
    dropin = None
    containerd = ""
    try:
        dropin = host.read_text(K3S_DROPIN, privileged=True) if installed or host.exists(K3S_DROPIN) else None
        containerd = (host.read_text(K3S_CONTAINERD_CONFIG, privileged=True) or "") if installed else ""
    except LlmopsError:
        pass
    return K3sFacts(
        installed=installed,
        version=version,
        running=running,
        dropin=dropin,
        containerd_nvidia=containerd_has_nvidia(containerd),
    )


def gather_facts(host: Host, *, sudo_mode: str | None = None, disk_path: str = "/var/lib") -> HostFacts:
    """Describe ``host`` with read-only probes. Missing tools simply leave a fact empty."""
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
    if host.exists("/run/systemd/system"):
        init = "systemd"
    elif host.exists("/sbin/openrc-run"):
        init = "openrc"
    else:
        init = "none"
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
        k3s=gather_k3s(host, init),
        nvidia=gather_nvidia(host),
    )
