"""Parsers for real command outputs, and fact gathering through a Host."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmops_cli.adapters import hostfacts as hf
from llmops_cli.adapters.hosts import DryRunHost, LocalHost, Sudo
from llmops_cli.adapters.upstream import NVIDIA_TOOLKIT_VERSION
from tests.cluster.fakes import FakeHost, ok

FIX = Path(__file__).parent / "fixtures"
NVIDIA_RUNTIME = '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes."nvidia"]\n'


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("query-a100x2.csv", [("NVIDIA A100-SXM4-40GB", 40960, "580.126.09")] * 2),
        ("query-h100.csv", [("NVIDIA H100 80GB HBM3", 81559, "570.86.15")]),
        ("query-t4.csv", [("Tesla T4", 15360, "460.32.03")]),
        ("query-rtx4090.csv", [("NVIDIA GeForce RTX 4090", 24564, "550.90.12")]),
        (
            "query-mixed.csv",
            [("NVIDIA L4", 23034, "535.183.01"), ("NVIDIA A100 80GB PCIe", 81920, "535.183.01")],
        ),
    ],
)
def test_parse_nvidia_smi_query(fixture: str, expected: list[tuple[str, int, str]]) -> None:
    gpus = hf.parse_nvidia_smi_query((FIX / fixture).read_text())
    assert [(g.name, g.memory_mib, g.driver_version) for g in gpus] == expected


def test_parse_nvidia_smi_query_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="unexpected"):
        hf.parse_nvidia_smi_query("No devices were found\n")
    with pytest.raises(ValueError, match=r"memory\.total"):
        hf.parse_nvidia_smi_query("Tesla T4, [N/A], 460.32.03\n")


def test_parse_name_with_comma_keeps_the_name() -> None:
    (g,) = hf.parse_nvidia_smi_query("Weird, Name GPU, 1024, 550.1\n")
    assert (g.name, g.memory_mib) == ("Weird, Name GPU", 1024)


@pytest.mark.parametrize(
    ("fixture", "driver", "cuda"),
    [
        ("nvidia-smi-header-580-a100.txt", "580.126.09", "13.0"),
        ("nvidia-smi-header-610-b200.txt", "610.43.02", "13.3"),
        ("nvidia-smi-header-450-titanxp.txt", "450.57", "11.0"),
    ],
)
def test_parse_nvidia_smi_header(fixture: str, driver: str, cuda: str) -> None:
    assert hf.parse_nvidia_smi_header((FIX / fixture).read_text()) == (driver, cuda)


def test_parse_versions() -> None:
    assert hf.parse_k3s_version("k3s version v1.33.5+k3s1 (a1b2c3d4)\ngo version go1.24.6\n") == "v1.33.5+k3s1"
    assert hf.parse_k3s_version("garbage") is None
    assert hf.parse_nvidia_ctk_version((FIX / "nvidia-ctk-version.txt").read_text()) == "1.17.8"


def test_parse_proc_files() -> None:
    os_release = 'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n# c\n'
    assert hf.parse_os_release(os_release)["PRETTY_NAME"] == "Ubuntu 24.04.1 LTS"
    assert hf.parse_meminfo("MemTotal:       16318792 kB\nSwapTotal: 0 kB\n")["MemTotal"] == 16318792
    tcp = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 00000000:1A0B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n"
        "   1: 0100007F:0050 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2 1\n"
    )
    assert hf.parse_listening_ports(tcp) == {6667}
    swaps = "Filename Type Size Used Priority\n/swapfile file 2097148 0 -2\n"
    assert hf.parse_swaps(swaps) == 2047
    cgroups = "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t1\t1\t1\nmemory\t4\t13\t1\nnet_cls\t0\t1\t1\n"
    assert hf.parse_proc_cgroups(cgroups) == ("cpu", "memory")
    assert hf.parse_route_src("1.1.1.1 via 10.0.0.1 dev eth0 src 10.0.0.5 uid 0\n    cache\n") == "10.0.0.5"


def test_containerd_nvidia_detection() -> None:
    v3 = (
        '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes."nvidia"]\n'
        '  runtime_type = "io.containerd.runc.v2"\n'
    )
    v2 = '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes."nvidia"]\n'
    runc_only = '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]\n'
    assert hf.containerd_has_nvidia(v3) and hf.containerd_has_nvidia(v2)
    assert not hf.containerd_has_nvidia(runc_only) and not hf.containerd_has_nvidia(None)


def gpu_host() -> FakeHost:
    return FakeHost(
        files={
            "/etc/os-release": 'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nID=ubuntu\nID_LIKE=debian\n',
            "/proc/meminfo": "MemTotal: 65536000 kB\n",
            "/sys/fs/cgroup/cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma misc\n",
            "/proc/swaps": "Filename Type Size Used Priority\n",
            "/run/systemd/system/.keep": "",
            hf.K3S_BIN: "",
            "/etc/systemd/system/k3s.service": "[Service]\nExecStart=/usr/local/bin/k3s server\n",
            hf.K3S_UNINSTALL: "",
            hf.K3S_CONTAINERD_CONFIG: NVIDIA_RUNTIME,
        },
        tools={
            "uname",
            "nproc",
            "hostname",
            "df",
            "ps",
            "ip",
            "nvidia-smi",
            "nvidia-ctk",
            "nvidia-container-runtime",
            "systemctl",
        },
        responses={
            "uname -m": ok("x86_64\n"),
            "uname -r": ok("6.8.0-45-generic\n"),
            "hostname": ok("gpu-box\n"),
            "nproc": ok("16\n"),
            "df -Pk *": ok(
                "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/x 1000 10 524288000 1% /\n"
            ),
            "nvidia-smi --query-gpu*": ok((FIX / "query-rtx4090.csv").read_text()),
            "nvidia-smi": ok((FIX / "nvidia-smi-header-580-a100.txt").read_text()),
            "nvidia-ctk --version": ok((FIX / "nvidia-ctk-version.txt").read_text()),
            f"{hf.K3S_BIN} --version": ok("k3s version v1.32.1+k3s1 (abc)\n"),
            "systemctl is-active --quiet k3s": ok(),
            "ip -4 route get 1.1.1.1": ok("1.1.1.1 via 192.168.1.1 dev wlp2s0 src 192.168.1.23 uid 1000\n"),
        },
    )


def test_gather_facts_of_a_gpu_laptop() -> None:
    host = gpu_host()
    f = hf.gather_facts(DryRunHost(host))
    assert (f.os_id, f.package_manager, f.arch, f.cpus, f.memory_mib) == (
        "ubuntu",
        "apt",
        "x86_64",
        16,
        64000,
    )
    assert f.cgroup_v2 and "memory" in f.cgroup_controllers
    assert f.init_system == "systemd" and f.node_ip == "192.168.1.23" and f.disk_free_mib == 512000
    assert f.k3s.installed and f.k3s.running and f.k3s.version == "v1.32.1+k3s1" and f.k3s.containerd_nvidia
    nv = f.nvidia
    assert nv.has_gpu and nv.gpus[0].name == "NVIDIA GeForce RTX 4090" and nv.cuda_version == "13.0"
    assert nv.toolkit_version == "1.17.8" and nv.toolkit_present
    assert host.mutations() == []  # gathering facts never changes the host


@pytest.mark.parametrize(
    "missing",
    [["/etc/systemd/system/k3s.service"], [hf.K3S_UNINSTALL], ["/etc/systemd/system/k3s.service", hf.K3S_UNINSTALL]],
)
def test_a_binary_without_its_service_or_uninstall_script_is_a_partial_install(missing: list[str]) -> None:
    """install.sh writes the binary first and the service last: a run killed in between is not installed."""
    host = gpu_host()
    for f in missing:
        del host.files[f]
    k = hf.gather_facts(DryRunHost(host)).k3s
    assert k.binary and not k.installed and k.partial


def test_openrc_service_and_status() -> None:
    host = gpu_host()
    del host.files["/run/systemd/system/.keep"]
    del host.files["/etc/systemd/system/k3s.service"]
    host.files["/sbin/openrc-run"] = ""
    host.files["/etc/init.d/k3s"] = "#!/sbin/openrc-run\n"
    host.tools.add("rc-service")
    host.responses["rc-service k3s status"] = ok("", " * status: stopped\n", 3)
    f = hf.gather_facts(DryRunHost(host))
    assert f.init_system == "openrc" and f.k3s.installed and f.k3s.service == "/etc/init.d/k3s"
    assert not f.k3s.running


def test_secure_boot_nouveau_and_wsl_facts() -> None:
    host = gpu_host()
    host.files[hf.SECURE_BOOT_EFIVAR] = "\x06\x00\x00\x00\x01"
    host.files["/sys/module/nouveau/initstate"] = "live\n"
    host.files["/proc/sys/kernel/osrelease"] = "5.15.167.4-microsoft-standard-WSL2\n"
    host.tools.add("modinfo")
    host.responses["modinfo -F signer nvidia"] = ok("\n")
    f = hf.gather_facts(DryRunHost(host))
    nv = f.nvidia
    assert nv.secure_boot is True and nv.module_present and nv.module_signer == "" and nv.nouveau_loaded
    assert not nv.module_loaded and f.wsl
    assert hf.parse_secure_boot("\x06\x00\x00\x00\x00") is False and hf.parse_secure_boot(None) is None


def test_wsl_nvidia_smi_off_path_is_found() -> None:
    host = gpu_host()
    host.tools.discard("nvidia-smi")
    host.files[hf.WSL_NVIDIA_SMI] = ""
    host.responses = {
        f"{hf.WSL_NVIDIA_SMI} --query-gpu*": ok((FIX / "query-rtx4090.csv").read_text()),
        **host.responses,
    }
    nv = hf.gather_nvidia(host)
    assert nv.has_gpu and nv.smi_path == hf.WSL_NVIDIA_SMI


def test_gather_facts_nvidia_smi_failing() -> None:
    host = gpu_host()
    host.responses = {
        "nvidia-smi*": ok("", "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.", code=9),
        **host.responses,
    }
    nv = hf.gather_nvidia(host)
    assert nv.smi_present and not nv.has_gpu and "couldn't communicate" in (nv.error or "")


def test_gather_facts_on_this_machine_is_read_only_and_honest() -> None:
    f = hf.gather_facts(DryRunHost(LocalHost(Sudo("root"))))
    assert f.arch != "unknown" and f.cpus >= 1 and f.memory_mib > 0 and f.kernel != "unknown"
    assert f.nvidia.has_gpu == bool(hf.gather_nvidia(LocalHost(Sudo("root"))).gpus)


def test_gather_facts_of_the_h100_lab_machine() -> None:
    """A real capture (see fixtures/README.md): GPU and driver found, toolkit and systemd missing."""
    host = FakeHost(
        files={
            "/etc/os-release": (FIX / "h100-lab-os-release.txt").read_text(),
            "/sys/fs/cgroup/cgroup.controllers": "cpuset cpu io memory hugetlb pids\n",
            "/proc/meminfo": "MemTotal:       131072000 kB\n",
        },
        tools={"uname", "nproc", "nvidia-smi"},
        responses={
            "uname -m": ok("x86_64\n"),
            "uname -r": ok("6.18.44-fc-v657-gpu\n"),
            "nproc": ok("16\n"),
            "nvidia-smi --query-gpu*": ok((FIX / "h100-lab-query.csv").read_text()),
            "nvidia-smi": ok((FIX / "h100-lab-nvidia-smi.txt").read_text()),
        },
    )
    f = hf.gather_facts(DryRunHost(host))
    assert f.nvidia.gpus == (hf.GpuInfo("NVIDIA H100 80GB HBM3", 81559, "580.159.04"),)
    assert (f.nvidia.driver_version, f.nvidia.cuda_version) == ("580.159.04", "13.0")
    assert not f.nvidia.toolkit_present and f.nvidia.toolkit_version is None
    assert f.init_system == "none" and f.cgroup_v2 and f.package_manager == "apt"
    assert f.os_pretty == "Ubuntu 24.04.3 LTS" and f.cpus == 16


def test_doctor_verdict_for_the_h100_lab_machine() -> None:
    from llmops_cli.config.model import Settings
    from llmops_cli.doctor.checks import run_checks

    host = FakeHost(
        files={"/etc/os-release": (FIX / "h100-lab-os-release.txt").read_text()},
        tools={"nvidia-smi"},
        responses={
            "nvidia-smi --query-gpu*": ok((FIX / "h100-lab-query.csv").read_text()),
            "nvidia-smi": ok((FIX / "h100-lab-nvidia-smi.txt").read_text()),
        },
    )
    facts = hf.gather_facts(DryRunHost(host))
    results = {r.name: r for r in run_checks(facts, Settings(), {}, gpu=True)}
    assert results["nvidia"].status == "ok" and "NVIDIA H100 80GB HBM3 (81559 MiB)" in results["nvidia"].detail
    assert results["nvidia-toolkit"].status == "fail"
    assert (
        f"sudo apt-get install -y nvidia-container-toolkit={NVIDIA_TOOLKIT_VERSION}" in results["nvidia-toolkit"].hint
    )
