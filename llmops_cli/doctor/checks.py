"""Host readiness checks for `llmops up`: each is ok / warn / fail / skip with a hint for the fix.

Pure functions of :class:`HostFacts`, Settings and the kubeconfig state, so every verdict is testable with
made-up facts, and `llmops doctor` reports exactly what the facts say about the real machine.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmops_cli.adapters import upstream
from llmops_cli.adapters.hostfacts import (
    K3S_LOG_HINT,
    PORTS,
    WSL_NVIDIA_SMI,
    HostFacts,
    k3s_version_key,
    toolkit_hint,
)
from llmops_cli.reporting import CheckResult, CheckStatus
from llmops_cli.versions import VLLM_VERSION

if TYPE_CHECKING:
    from llmops_cli.config.model import Settings

SUPPORTED_ARCH = ("x86_64", "aarch64", "arm64")
MIN_KERNEL = (4, 15)
K3S_CPU = 2.0
K3S_MEM_MIB = 2048
K3S_DISK_MIB = 10 * 1024


@dataclass(frozen=True)
class Requirements:
    cpu: float
    memory_mib: int
    disk_mib: int
    breakdown: tuple[tuple[str, float, int], ...]  # (what, cpu, memory MiB)


_UNITS = {
    "Ki": 1 / 1024,
    "Mi": 1,
    "Gi": 1024,
    "Ti": 1024**2,
    "K": 1000 / 1024**2 * 1024,
    "M": 1000**2 / 1024**2,
    "G": 1000**3 / 1024**2,
    "T": 1000**4 / 1024**2,
}


def quantity_mib(q: str) -> int:
    m = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", q)
    if not m:
        return 0
    n, unit = float(m.group(1)), m.group(2)
    if unit == "":
        return int(n / 1024**2)
    return int(n * _UNITS.get(unit, 0))


def requirements(settings: Settings, *, gpu: bool) -> Requirements:
    """What the enabled stacks request (the rendered requests of the dev profile, rounded up)."""
    s = settings.stacks
    parts: list[tuple[str, float, int]] = [("k3s", K3S_CPU, K3S_MEM_MIB), ("Argo CD", 0.5, 768)]
    disk = K3S_DISK_MIB
    if s.vllm.enabled:
        if gpu:
            parts.append(("vLLM (GPU)", 2.0, 8192))
        else:
            parts.append(("vLLM simulator", 0.25, 256))
        disk += quantity_mib(s.vllm.cache_size) if gpu else 0
    if s.gateway.enabled:
        parts.append(("gateway", 0.25, 256))
    if s.pgvector.enabled:
        parts.append(("pgvector", 0.25, 512))
        disk += quantity_mib(s.pgvector.storage)
    if s.observability.enabled:
        parts.append(("observability", 0.75, 1536))
    return Requirements(
        cpu=sum(p[1] for p in parts),
        memory_mib=sum(p[2] for p in parts),
        disk_mib=disk,
        breakdown=tuple(parts),
    )


def _kernel_tuple(kernel: str) -> tuple[int, int] | None:
    m = re.match(r"(\d+)\.(\d+)", kernel)
    return (int(m.group(1)), int(m.group(2))) if m else None


def check_os(f: HostFacts) -> CheckResult:
    if f.arch not in SUPPORTED_ARCH:
        return CheckResult("os", "fail", f"{f.os_pretty} on {f.arch}", "k3s supports x86_64 and arm64")
    if f.package_manager is None:
        return CheckResult(
            "os",
            "warn",
            f"{f.os_pretty} on {f.arch} (untested distribution)",
            "llmops is tested on Debian, Ubuntu, RHEL/Fedora and SUSE",
        )
    return CheckResult("os", "ok", f"{f.os_pretty} on {f.arch}")


def check_kernel(f: HostFacts) -> CheckResult:
    kv = _kernel_tuple(f.kernel)
    if kv is None:
        return CheckResult("kernel", "warn", f"cannot read the kernel version ({f.kernel})")
    if kv < MIN_KERNEL:
        return CheckResult("kernel", "fail", f"kernel {f.kernel} is older than 4.15", "upgrade the kernel")
    return CheckResult("kernel", "ok", f"kernel {f.kernel}")


def check_cgroups(f: HostFacts) -> CheckResult:
    if not f.cgroup_v2:
        if "memory" not in f.cgroup_controllers:
            return CheckResult(
                "cgroups",
                "fail",
                "cgroup v1 without the memory controller",
                "enable it (cgroup_enable=memory cgroup_memory=1 on the kernel command line)",
            )
        return CheckResult(
            "cgroups",
            "warn",
            "cgroup v1 with the memory controller (k3s runs; cgroup v1 support is deprecated)",
            "boot with systemd.unified_cgroup_hierarchy=1 for cgroup v2",
        )
    if "memory" not in f.cgroup_controllers:
        return CheckResult(
            "cgroups",
            "fail",
            "cgroup v2 without the memory controller "
            f"(controllers: {' '.join(f.cgroup_controllers) or 'none delegated'})",
            "enable it (cgroup_enable=memory on Raspberry Pi; in a container, delegate it to the container)",
        )
    return CheckResult("cgroups", "ok", "cgroup v2 with the memory controller")


def check_resources(f: HostFacts, req: Requirements) -> list[CheckResult]:
    out = []
    detail = ", ".join(f"{w} {c:g}" for w, c, _ in req.breakdown)
    if f.cpus < K3S_CPU:
        out.append(CheckResult("cpu", "fail", f"{f.cpus} CPU; k3s alone needs {K3S_CPU:g}", "use a bigger machine"))
    elif f.cpus < req.cpu:
        out.append(
            CheckResult(
                "cpu",
                "warn",
                f"{f.cpus} CPU; the enabled stacks request {req.cpu:g} ({detail})",
                "disable stacks in llmops.yaml or expect Pending pods",
            )
        )
    else:
        out.append(CheckResult("cpu", "ok", f"{f.cpus} CPU (stacks request {req.cpu:g})"))
    mem_detail = ", ".join(f"{w} {m} MiB" for w, _, m in req.breakdown)
    if f.memory_mib < K3S_MEM_MIB:
        out.append(
            CheckResult("memory", "fail", f"{f.memory_mib} MiB RAM; k3s alone needs {K3S_MEM_MIB} MiB", "add memory")
        )
    elif f.memory_mib < req.memory_mib:
        out.append(
            CheckResult(
                "memory",
                "warn",
                f"{f.memory_mib} MiB RAM; the enabled stacks request {req.memory_mib} MiB ({mem_detail})",
                "disable stacks in llmops.yaml (e.g. stacks.observability.enabled: false)",
            )
        )
    else:
        out.append(CheckResult("memory", "ok", f"{f.memory_mib} MiB RAM (stacks request {req.memory_mib} MiB)"))
    if f.disk_free_mib < req.disk_mib:
        out.append(
            CheckResult(
                "disk",
                "fail" if f.disk_free_mib < K3S_DISK_MIB else "warn",
                f"{f.disk_free_mib // 1024} GiB free; k3s, images, volumes need ~{req.disk_mib // 1024} GiB",
                "free space under /var/lib/rancher",
            )
        )
    else:
        out.append(CheckResult("disk", "ok", f"{f.disk_free_mib // 1024} GiB free (need ~{req.disk_mib // 1024} GiB)"))
    return out


def check_ports(f: HostFacts) -> CheckResult:
    busy = [p for p in PORTS if p in f.ports_in_use]
    if not busy:
        return CheckResult("ports", "ok", f"ports {', '.join(map(str, PORTS))} are free")
    if f.k3s.running:
        return CheckResult("ports", "ok", f"ports {', '.join(map(str, busy))} in use by the running k3s")
    return CheckResult(
        "ports",
        "fail",
        f"ports {', '.join(map(str, busy))} are already in use",
        "stop what listens there (`ss -ltnp`), or another Kubernetes is running",
    )


def check_swap(f: HostFacts) -> CheckResult:
    if f.swap_mib > 0:
        return CheckResult(
            "swap",
            "warn",
            f"{f.swap_mib} MiB swap is on (pods may be slow under memory pressure)",
            "`swapoff -a` for predictable memory limits",
        )
    return CheckResult("swap", "ok", "swap is off")


def check_init(f: HostFacts) -> CheckResult:
    if f.init_system in ("systemd", "openrc"):
        return CheckResult("init", "ok", f"{f.init_system} (k3s runs as a service)")
    hint = "run llmops up on a Linux host or VM with systemd"
    if f.wsl:
        hint = "enable systemd in WSL2: add `[boot]` `systemd=true` to /etc/wsl.conf, then `wsl --shutdown`"
    return CheckResult(
        "init",
        "fail",
        "no systemd or OpenRC: the k3s installer cannot set up its service"
        + (" (this is a container)" if f.container else ""),
        hint,
    )


def check_privileges(f: HostFacts) -> CheckResult:
    if f.is_root:
        return CheckResult("privileges", "ok", "running as root")
    if f.sudo == "passwordless":
        return CheckResult("privileges", "ok", "passwordless sudo")
    if f.sudo == "password":
        return CheckResult("privileges", "ok", "sudo with a password (asked once; no TTY: --sudo-password-stdin)")
    return CheckResult("privileges", "fail", "not root and sudo is unavailable", "run llmops as root")


def check_k3s(f: HostFacts, settings: Settings) -> CheckResult:
    k = f.k3s
    pinned = settings.cluster.k3s_version
    if k.partial:
        have = ", ".join(
            n
            for n, ok in (("binary", k.binary), ("service", k.service is not None), ("uninstall script", k.uninstall))
            if ok
        )
        return CheckResult(
            "k3s",
            "warn",
            f"a half-finished k3s install (only its {have}): the installer stopped before it set up the service",
            "`llmops up` runs the pinned installer again to finish it",
        )
    if not k.installed:
        return CheckResult("k3s", "ok", f"not installed; `llmops up` installs {pinned}")
    state = "running" if k.running else "installed but not running"
    if k.version and k.version != pinned:
        if k3s_version_key(k.version) > k3s_version_key(pinned):
            return CheckResult(
                "k3s",
                "fail",
                f"k3s {k.version} {state} is newer than the pinned {pinned}; llmops does not downgrade Kubernetes",
                f"set cluster.k3s_version: {k.version} in llmops.yaml to keep it",
            )
        return CheckResult(
            "k3s",
            "warn",
            f"k3s {k.version} {state}; llmops pins {pinned}",
            "`llmops up` upgrades it in place with the pinned installer, after backing up its datastore",
        )
    start = "systemctl start k3s" if f.init_system == "systemd" else "rc-service k3s start"
    return CheckResult(
        "k3s",
        "ok" if k.running else "warn",
        f"k3s {k.version or '(unknown version)'} {state}",
        "" if k.running else f"`llmops up` starts it ({start}); its log: {K3S_LOG_HINT.get(f.init_system, '')}",
    )


def check_other_kubernetes(f: HostFacts) -> CheckResult:
    if not f.other_kubernetes:
        return CheckResult("other-kubernetes", "ok", "no kind, k3d, minikube or kubelet found")
    running = [o for o in f.other_kubernetes if "running" in o]
    return CheckResult(
        "other-kubernetes",
        "fail" if running else "warn",
        "found " + ", ".join(f.other_kubernetes),
        "stop the other cluster first: it competes for ports 6443/10250/80/443"
        if running
        else "installed but not running; fine as long as it stays stopped",
    )


def check_nvidia_kernel(f: HostFacts, settings: Settings) -> list[CheckResult]:
    """What keeps the NVIDIA kernel driver from loading: Secure Boot with an unsigned module, nouveau."""
    nv = f.nvidia
    if settings.gpu.mode == "off":
        return []
    out = []
    if nv.secure_boot and nv.module_present and not nv.module_loaded:
        if not nv.module_signer:
            out.append(
                CheckResult(
                    "secure-boot",
                    "fail",
                    "UEFI Secure Boot is on and the nvidia kernel module is not signed: the kernel refuses to load it",
                    "sign it with a Machine Owner Key (DKMS: `sudo mokutil --import /var/lib/dkms/mok.pub`, reboot and "
                    "enroll the key), install your distribution's signed driver packages, or turn Secure Boot off",
                )
            )
        else:
            out.append(
                CheckResult(
                    "secure-boot",
                    "warn",
                    f"Secure Boot is on and the nvidia module (signed by {nv.module_signer}) is not loaded",
                    "is its key enrolled? `mokutil --list-enrolled`; `sudo modprobe nvidia` prints why it fails",
                )
            )
    elif nv.secure_boot is not None and nv.module_present:
        signed = f"signed by {nv.module_signer}" if nv.module_signer else "unsigned"
        out.append(
            CheckResult("secure-boot", "ok", f"Secure Boot {'on' if nv.secure_boot else 'off'}; nvidia module {signed}")
        )
    if nv.nouveau_loaded:
        out.append(
            CheckResult(
                "nouveau",
                "fail" if settings.gpu.mode == "on" or nv.smi_present else "warn",
                "the open-source nouveau driver is loaded: it holds the GPU, so the NVIDIA driver cannot",
                "blacklist it (`blacklist nouveau` and `options nouveau modeset=0` in "
                "/etc/modprobe.d/blacklist-nouveau.conf), rebuild the initramfs (update-initramfs -u / dracut -f), "
                "reboot, then install the NVIDIA driver",
            )
        )
    return out


def check_wsl(f: HostFacts, settings: Settings) -> list[CheckResult]:
    if not f.wsl:
        return []
    nv = f.nvidia
    msg = "Windows Subsystem for Linux 2: the GPU comes from the Windows NVIDIA driver"
    if nv.smi_path == WSL_NVIDIA_SMI:
        return [
            CheckResult(
                "wsl2",
                "warn",
                f"{msg}; nvidia-smi is at {WSL_NVIDIA_SMI}, not on PATH",
                "add /usr/lib/wsl/lib to PATH (and the k3s service's); never install a Linux NVIDIA driver inside WSL",
            )
        ]
    return [
        CheckResult(
            "wsl2",
            "ok" if nv.smi_present else "warn",
            msg,
            "" if nv.smi_present else "install the NVIDIA driver on Windows (not in WSL), then `wsl --shutdown`",
        )
    ]


def check_nvidia(f: HostFacts, settings: Settings) -> list[CheckResult]:
    nv = f.nvidia
    mode = settings.gpu.mode
    if mode == "off":
        return [CheckResult("nvidia", "skip", "gpu.mode is off: CPU only")]
    out: list[CheckResult] = []
    if not nv.smi_present:
        status: CheckStatus = "fail" if mode == "on" else "skip"
        out.append(
            CheckResult(
                "nvidia",
                status,
                "no NVIDIA driver (nvidia-smi not found)" + ("" if mode == "on" else ": CPU mode"),
                "install the NVIDIA driver, or set gpu.mode: off" if mode == "on" else "",
            )
        )
        return out
    if nv.error or not nv.gpus:
        out.append(
            CheckResult(
                "nvidia",
                "fail" if mode == "on" else "warn",
                f"nvidia-smi is installed but fails: {nv.error or 'no GPU listed'}",
                "check the driver matches the kernel (reboot after a driver update); `nvidia-smi` must work",
            )
        )
        return out
    gpus = "; ".join(f"{g.name} ({g.memory_mib} MiB)" for g in nv.gpus)
    out.append(
        CheckResult(
            "nvidia",
            "ok",
            f"driver {nv.driver_version}, CUDA {nv.cuda_version or '?'}: {len(nv.gpus)} GPU(s): {gpus}",
        )
    )
    if nv.toolkit_present:
        out.append(
            CheckResult(
                "nvidia-toolkit",
                "ok",
                f"NVIDIA container toolkit {nv.toolkit_version or ''} ({nv.runtime_path})".replace("  ", " "),
            )
        )
    else:
        out.append(
            CheckResult(
                "nvidia-toolkit",
                "warn" if settings.gpu.install_toolkit else "fail",
                "NVIDIA container toolkit missing (nvidia-container-runtime not on PATH)",
                toolkit_hint(f.package_manager),
            )
        )
    return out


def _version(text: str | None) -> tuple[int, ...] | None:
    m = re.match(r"(\d+(?:\.\d+)*)", text or "")
    return tuple(int(x) for x in m.group(1).split(".")) if m else None


def check_cuda_driver(f: HostFacts, *, gpu: bool) -> list[CheckResult]:
    """The driver must run the CUDA line the pinned vLLM (and the GPU smoke image) is built for: an older one
    fails at the first CUDA call in the pod, long after `up` started."""
    nv = f.nvidia
    if not gpu or not nv.has_gpu:
        return []
    cuda = upstream.vllm_cuda()
    floor = upstream.min_driver(cuda)
    needs = f"vLLM {VLLM_VERSION} and the GPU smoke image are built for it"
    if f.wsl:
        fix = (
            f"install NVIDIA driver {floor} or newer on Windows (never one inside WSL), then "
            "`wsl --shutdown`; or set gpu.mode: off (vLLM then runs on CPU or as the simulator)"
        )
    else:
        how = f"`sudo apt install nvidia-driver-{floor}` on Ubuntu, " if f.os_id == "ubuntu" else ""
        fix = (
            f"install NVIDIA driver {floor} or newer ({how}your distribution's packages, or "
            "https://www.nvidia.com/drivers) and reboot; or set gpu.mode: off (vLLM then runs on CPU or as the "
            "simulator)"
        )
    driver = _version(nv.driver_version)
    if driver is not None:
        if driver[0] >= floor:
            return [CheckResult("cuda-driver", "ok", f"driver {nv.driver_version} runs CUDA {cuda} (R{floor}+)")]
        return [
            CheckResult(
                "cuda-driver",
                "fail",
                f"driver {nv.driver_version} is older than R{floor}, the oldest that runs CUDA {cuda}; {needs}",
                fix,
            )
        ]
    reported = _version(nv.cuda_version)
    if reported is not None:
        if reported[:2] >= (_version(cuda) or (0,))[:2]:
            return [CheckResult("cuda-driver", "ok", f"the driver runs CUDA {nv.cuda_version} (needs {cuda})")]
        return [
            CheckResult(
                "cuda-driver",
                "fail",
                f"the driver runs CUDA {nv.cuda_version} at most, not CUDA {cuda} (R{floor}+); {needs}",
                fix,
            )
        ]
    return [
        CheckResult(
            "cuda-driver",
            "warn",
            f"cannot tell the driver's version; vLLM {VLLM_VERSION} needs CUDA {cuda}: driver {floor} or newer",
            "`nvidia-smi` must print its Driver Version; check it before `llmops up`",
        )
    ]


def check_kubeconfig(f: HostFacts, settings: Settings, environ: Mapping[str, str]) -> CheckResult:
    from llmops_cli.adapters import kubeconfig
    from llmops_cli.errors import LlmopsError

    name = settings.cluster.context_name
    paths = kubeconfig.kubeconfig_paths(environ)
    where = ":".join(str(p) for p in paths)
    try:
        entry = kubeconfig.find_context(name, environ)
    except LlmopsError as e:
        return CheckResult("kubeconfig", "fail", f"cannot parse the kubeconfig: {e}", "fix or move the file away")
    if entry is None:
        if f.k3s.installed:
            return CheckResult("kubeconfig", "warn", f"no context {name} in {where}", "`llmops up` merges it")
        return CheckResult("kubeconfig", "ok", f"no context {name} yet in {where} (`llmops up` adds it)")
    return CheckResult("kubeconfig", "ok", f"context {name} present in {where}")


def run_checks(
    facts: HostFacts, settings: Settings, environ: Mapping[str, str], *, gpu: bool, remote: bool = False
) -> list[CheckResult]:
    """Every check; ``remote`` (a host reached over SSH) leaves out this machine's kubeconfig."""
    out = [
        check_os(facts),
        check_kernel(facts),
        check_init(facts),
        check_privileges(facts),
        check_cgroups(facts),
        *check_resources(facts, requirements(settings, gpu=gpu)),
        check_ports(facts),
        check_swap(facts),
        check_k3s(facts, settings),
        check_other_kubernetes(facts),
        *check_nvidia(facts, settings),
        *check_cuda_driver(facts, gpu=gpu),
        *check_nvidia_kernel(facts, settings),
        *check_wsl(facts, settings),
    ]
    if not remote:
        out.append(check_kubeconfig(facts, settings, environ))
    if facts.container:
        out.append(
            CheckResult(
                "container",
                "warn",
                "llmops is running inside a container",
                "k3s needs a real host or VM (privileged containers are not supported by `llmops up`)",
            )
        )
    return out


def failed(results: list[CheckResult]) -> bool:
    return any(r.status == "fail" for r in results)
