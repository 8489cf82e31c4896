"""Doctor verdicts from made-up facts, and a real run on this machine."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmops_cli.adapters import hostfacts as hf
from llmops_cli.adapters.hostfacts import GpuInfo, HostFacts, K3sFacts, NvidiaFacts
from llmops_cli.adapters.hosts import LocalHost, Sudo
from llmops_cli.adapters.upstream import NVIDIA_TOOLKIT_VERSION
from llmops_cli.config.model import Settings
from llmops_cli.doctor import checks as c
from llmops_cli.doctor.run import diagnose
from tests.cluster.conftest import make_facts

S = Settings()


def INSTALLED(*, version: str = S.cluster.k3s_version, running: bool = True) -> K3sFacts:
    return K3sFacts(
        binary=True, service="/etc/systemd/system/k3s.service", uninstall=True, version=version, running=running
    )


def by_name(results: list[c.CheckResult]) -> dict[str, c.CheckResult]:
    return {r.name: r for r in results}


def test_a_good_laptop_passes() -> None:
    results = c.run_checks(make_facts(), S, {"HOME": "/nonexistent"}, gpu=False)
    assert not c.failed(results), [r for r in results if r.status == "fail"]
    with_gpu = c.run_checks(make_facts(gpu=True, toolkit=True), S, {"HOME": "/nonexistent"}, gpu=True)
    assert not c.failed(with_gpu), [r for r in with_gpu if r.status == "fail"]
    assert by_name(with_gpu)["cuda-driver"].status == "ok"


@pytest.mark.parametrize(
    ("change", "check", "status", "needle"),
    [
        ({"arch": "riscv64"}, "os", "fail", "riscv64"),
        ({"kernel": "4.4.0"}, "kernel", "fail", "older than 4.15"),
        ({"cgroup_v2": False}, "cgroups", "warn", "cgroup v1 with the memory controller"),
        ({"cgroup_v2": False, "cgroup_controllers": ("cpu",)}, "cgroups", "fail", "v1 without the memory"),
        ({"cgroup_controllers": ("cpu", "pids")}, "cgroups", "fail", "without the memory controller"),
        ({"cpus": 1}, "cpu", "fail", "k3s alone needs 2"),
        ({"cpus": 2}, "cpu", "warn", "the enabled stacks request"),
        ({"memory_mib": 1500}, "memory", "fail", "k3s alone needs 2048"),
        ({"memory_mib": 3000}, "memory", "warn", "the enabled stacks request"),
        ({"disk_free_mib": 5000}, "disk", "fail", "GiB free"),
        ({"ports_in_use": (6443, 80)}, "ports", "fail", "6443, 80 are already in use"),
        ({"swap_mib": 2048}, "swap", "warn", "2048 MiB swap"),
        ({"init_system": "none"}, "init", "fail", "no systemd or OpenRC"),
        ({"is_root": False, "sudo": "unavailable"}, "privileges", "fail", "sudo is unavailable"),
        ({"is_root": False, "sudo": "password"}, "privileges", "ok", "--sudo-password-stdin"),
        ({"other_kubernetes": ("kind",)}, "other-kubernetes", "warn", "kind"),
        ({"other_kubernetes": ("minikube (running)",)}, "other-kubernetes", "fail", "minikube"),
        ({"k3s": INSTALLED(version="v1.30.1+k3s1")}, "k3s", "warn", "upgrades it in place"),
        ({"k3s": INSTALLED(version="v1.99.0+k3s1")}, "k3s", "fail", "does not downgrade"),
        ({"k3s": INSTALLED(running=False)}, "k3s", "warn", "not running"),
        ({"k3s": INSTALLED(running=False)}, "k3s", "warn", "systemctl start k3s"),
        ({"k3s": K3sFacts(binary=True, version=S.cluster.k3s_version)}, "k3s", "warn", "half-finished"),
        ({"k3s": K3sFacts(binary=True)}, "k3s", "warn", "runs the pinned installer again"),
        ({"init_system": "none", "wsl": True}, "init", "fail", "systemd=true"),
    ],
)
def test_each_check(change: dict, check: str, status: str, needle: str) -> None:
    facts = replace(make_facts(), **change)
    r = by_name(c.run_checks(facts, S, {"HOME": "/nonexistent"}, gpu=False))[check]
    assert r.status == status and needle in (r.detail + r.hint), r


def test_ports_used_by_our_own_k3s_are_fine() -> None:
    facts = replace(make_facts(k3s=S.cluster.k3s_version), ports_in_use=(6443, 10250))
    assert by_name(c.run_checks(facts, S, {}, gpu=False))["ports"].status == "ok"


def test_nvidia_states() -> None:
    auto, on, off = (Settings.model_validate({"gpu": {"mode": m}}) for m in ("auto", "on", "off"))
    cpu = make_facts()
    assert by_name(c.check_nvidia(cpu, auto))["nvidia"].status == "skip"
    assert by_name(c.check_nvidia(cpu, on))["nvidia"].status == "fail"
    assert by_name(c.check_nvidia(make_facts(gpu=True), off))["nvidia"].status == "skip"
    gpu = by_name(c.check_nvidia(make_facts(gpu=True, toolkit=True), auto))
    assert gpu["nvidia"].detail == "driver 580.95.05, CUDA 13.0: 1 GPU(s): NVIDIA GeForce RTX 4090 (24564 MiB)"
    assert gpu["nvidia-toolkit"].status == "ok" and "1.17.8" in gpu["nvidia-toolkit"].detail
    no_tk = by_name(c.check_nvidia(make_facts(gpu=True), auto))["nvidia-toolkit"]
    assert (
        no_tk.status == "fail"
        and f"sudo apt-get install -y nvidia-container-toolkit={NVIDIA_TOOLKIT_VERSION}" in no_tk.hint
    )
    broken = replace(make_facts(), nvidia=NvidiaFacts(smi_present=True, error="driver/library version mismatch"))
    assert "version mismatch" in by_name(c.check_nvidia(broken, on))["nvidia"].detail


def test_requirements_follow_the_enabled_stacks() -> None:
    full = c.requirements(S, gpu=False)
    lean = c.requirements(
        Settings.model_validate({"stacks": {"observability": {"enabled": False}, "pgvector": {"enabled": False}}}),
        gpu=False,
    )
    assert full.memory_mib > lean.memory_mib and full.disk_mib > lean.disk_mib
    assert c.requirements(S, gpu=True).memory_mib > full.memory_mib
    assert c.quantity_mib("10Gi") == 10240 and c.quantity_mib("512Mi") == 512


def test_kubeconfig_check(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"KUBECONFIG": str(tmp_path / "config"), "HOME": str(tmp_path)}
    assert by_name(c.run_checks(make_facts(), S, env, gpu=False))["kubeconfig"].status == "ok"
    (tmp_path / "config").write_text("clusters: [broken\n")
    r = by_name(c.run_checks(make_facts(), S, env, gpu=False))["kubeconfig"]
    assert r.status == "fail" and "cannot parse" in r.detail


def test_doctor_on_this_machine_reports_what_is_there() -> None:
    """This real machine: no GPU, no k3s, no systemd (a container). The report must say exactly that."""
    report = diagnose(S, LocalHost(Sudo("root")), {"HOME": "/nonexistent"})
    results = by_name(report.results)
    f: HostFacts = report.facts
    assert results["os"].detail.endswith(f.arch)
    if f.init_system == "none":
        assert results["init"].status == "fail" and not report.ok
    if not f.nvidia.smi_present:
        assert results["nvidia"].status == "skip" and "nvidia-smi not found" in results["nvidia"].detail
    if not f.k3s.installed:
        assert results["k3s"].detail.startswith("not installed")
    assert report.to_dict()["facts"]["cpus"] == f.cpus


GPU_SB = dict(secure_boot=True, module_present=True, module_loaded=False)


@pytest.mark.parametrize(
    ("nvidia", "wsl", "check", "status", "needle"),
    [
        ({**GPU_SB, "module_signer": ""}, False, "secure-boot", "fail", "not signed"),
        ({**GPU_SB, "module_signer": ""}, False, "secure-boot", "fail", "mokutil --import"),
        ({**GPU_SB, "module_signer": "DKMS module signing key"}, False, "secure-boot", "warn", "key enrolled"),
        ({"secure_boot": False, "module_present": True, "module_signer": ""}, False, "secure-boot", "ok", "unsigned"),
        ({"nouveau_loaded": True, "smi_present": True}, False, "nouveau", "fail", "blacklist"),
        ({"smi_present": True, "smi_path": "/usr/lib/wsl/lib/nvidia-smi"}, True, "wsl2", "warn", "PATH"),
        ({}, True, "wsl2", "warn", "install the NVIDIA driver on Windows"),
    ],
)
def test_gpu_kernel_and_wsl_checks(nvidia: dict, wsl: bool, check: str, status: str, needle: str) -> None:
    facts = replace(make_facts(), nvidia=NvidiaFacts(**nvidia), wsl=wsl)
    r = by_name(c.run_checks(facts, S, {"HOME": "/nonexistent"}, gpu=True))[check]
    assert r.status == status and needle in (r.detail + r.hint), r


def test_no_kernel_checks_when_the_gpu_is_off() -> None:
    facts = replace(make_facts(), nvidia=NvidiaFacts(**GPU_SB, nouveau_loaded=True))
    off = Settings.model_validate({"gpu": {"mode": "off"}})
    names = by_name(c.run_checks(facts, off, {"HOME": "/nonexistent"}, gpu=False))
    assert "secure-boot" not in names and "nouveau" not in names


# ------------------------------------------------------------------------------------ the CUDA driver floor
def _smi(header: str | None, query: str) -> NvidiaFacts:
    """NVIDIA facts gathered through the real parsers from nvidia-smi output: ``header`` is the plain table (a
    fixture name or the text; None: plain nvidia-smi fails, so the driver comes from the query), ``query`` the
    ``--query-gpu`` CSV (likewise)."""
    from tests.adapters.test_hostfacts import FIX, gpu_host
    from tests.cluster.fakes import ok

    def text(x: str) -> str:
        return (FIX / x).read_text() if x.endswith((".txt", ".csv")) else x

    host = gpu_host()
    plain = ok(text(header)) if header is not None else ok("", "Failed to initialize NVML", code=9)
    host.responses = {**host.responses, "nvidia-smi --query-gpu*": ok(text(query)), "nvidia-smi": plain}
    return hf.gather_nvidia(host)


def _cuda(nv: NvidiaFacts, *, wsl: bool = False, gpu: bool = True) -> c.CheckResult | None:
    facts = replace(make_facts(gpu=True, toolkit=True), nvidia=replace(nv, toolkit_version="1.20.0"), wsl=wsl)
    return by_name(c.run_checks(facts, S, {"HOME": "/nonexistent"}, gpu=gpu)).get("cuda-driver")


@pytest.mark.parametrize(
    ("header", "query", "status", "driver"),
    [
        # Real outputs (tests/adapters/fixtures/README.md).
        ("nvidia-smi-header-580-a100.txt", "query-a100x2.csv", "ok", "580.126.09"),
        ("nvidia-smi-header-610-b200.txt", "NVIDIA B200, 183359, 610.43.02\n", "ok", "610.43.02"),
        ("nvidia-smi-header-450-titanxp.txt", "TITAN Xp, 12196, 450.57\n", "fail", "450.57"),
        (None, "query-h100.csv", "fail", "570.86.15"),  # only the query answers: its driver column counts
        (None, "query-t4.csv", "fail", "460.32.03"),
        # Made up: the last R575 driver (CUDA 12.9) and the first R580 one.
        (
            "| NVIDIA-SMI 575.64.05     Driver Version: 575.64.05     CUDA Version: 12.9     |\n",
            "NVIDIA GeForce RTX 5090, 32607, 575.64.05\n",
            "fail",
            "575.64.05",
        ),
        (
            "| NVIDIA-SMI 580.65.06     Driver Version: 580.65.06     CUDA Version: 13.0     |\n",
            "NVIDIA GeForce RTX 5090, 32607, 580.65.06\n",
            "ok",
            "580.65.06",
        ),
    ],
)
def test_the_driver_must_run_the_cuda_line_of_the_pinned_vllm(
    header: str | None, query: str, status: str, driver: str
) -> None:
    r = _cuda(_smi(header, query))
    assert r is not None and r.status == status and driver in r.detail, r
    if status == "fail":
        assert "CUDA 13.0" in r.detail and "vLLM v0.34.0" in r.detail and "580" in r.detail
        assert "580 or newer" in r.hint and "reboot" in r.hint and "gpu.mode: off" in r.hint


@given(major=st.integers(300, 999), minor=st.integers(0, 999), patch=st.integers(0, 99))
def test_any_driver_passes_exactly_when_its_branch_is_580_or_newer(major: int, minor: int, patch: int) -> None:
    version = f"{major}.{minor}.{patch:02d}"
    nv = NvidiaFacts(smi_present=True, gpus=(GpuInfo("NVIDIA L4", 23034, version),), driver_version=version)
    r = _cuda(nv)
    assert r is not None and r.status == ("ok" if major >= 580 else "fail"), r


def test_without_a_driver_version_the_cuda_version_nvidia_smi_reports_decides() -> None:
    gpu = (GpuInfo("NVIDIA L4", 23034, "?"),)
    old = _cuda(NvidiaFacts(smi_present=True, gpus=gpu, driver_version="?", cuda_version="12.8"))
    new = _cuda(NvidiaFacts(smi_present=True, gpus=gpu, driver_version="?", cuda_version="13.1"))
    unknown = _cuda(NvidiaFacts(smi_present=True, gpus=gpu, driver_version=None, cuda_version=None))
    assert old is not None and old.status == "fail" and "CUDA 12.8" in old.detail
    assert new is not None and new.status == "ok"
    assert unknown is not None and unknown.status == "warn" and "nvidia-smi" in unknown.hint


def test_under_wsl2_the_hint_is_the_windows_driver() -> None:
    r = _cuda(_smi(None, "query-h100.csv"), wsl=True)
    assert r is not None and r.status == "fail" and "Windows" in r.hint


def test_no_driver_floor_without_a_gpu_in_use() -> None:
    assert _cuda(_smi("nvidia-smi-header-450-titanxp.txt", "TITAN Xp, 12196, 450.57\n"), gpu=False) is None
    no_gpu = replace(make_facts(), nvidia=NvidiaFacts())
    assert "cuda-driver" not in by_name(c.run_checks(no_gpu, S, {"HOME": "/nonexistent"}, gpu=True))
