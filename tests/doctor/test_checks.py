"""Doctor verdicts from made-up facts, and a real run on this machine."""

from __future__ import annotations

from dataclasses import replace

import pytest

from llmops_cli.adapters.hostfacts import HostFacts, K3sFacts, NvidiaFacts
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
    assert r.status == status and needle in (r.message + r.hint), r


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
    assert gpu["nvidia"].message == "driver 550.90.12, CUDA 12.4: 1 GPU(s): NVIDIA GeForce RTX 4090 (24564 MiB)"
    assert gpu["nvidia-toolkit"].status == "ok" and "1.17.8" in gpu["nvidia-toolkit"].message
    no_tk = by_name(c.check_nvidia(make_facts(gpu=True), auto))["nvidia-toolkit"]
    assert (
        no_tk.status == "fail"
        and f"sudo apt-get install -y nvidia-container-toolkit={NVIDIA_TOOLKIT_VERSION}" in no_tk.hint
    )
    broken = replace(make_facts(), nvidia=NvidiaFacts(smi_present=True, error="driver/library version mismatch"))
    assert "version mismatch" in by_name(c.check_nvidia(broken, on))["nvidia"].message


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
    assert r.status == "fail" and "cannot parse" in r.message


def test_doctor_on_this_machine_reports_what_is_there() -> None:
    """This real machine: no GPU, no k3s, no systemd (a container). The report must say exactly that."""
    report = diagnose(S, LocalHost(Sudo("root")), {"HOME": "/nonexistent"})
    results = by_name(report.results)
    f: HostFacts = report.facts
    assert results["os"].message.endswith(f.arch)
    if f.init_system == "none":
        assert results["init"].status == "fail" and not report.ok
    if not f.nvidia.smi_present:
        assert results["nvidia"].status == "skip" and "nvidia-smi not found" in results["nvidia"].message
    if not f.k3s.installed:
        assert results["k3s"].message.startswith("not installed")
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
    assert r.status == status and needle in (r.message + r.hint), r


def test_no_kernel_checks_when_the_gpu_is_off() -> None:
    facts = replace(make_facts(), nvidia=NvidiaFacts(**GPU_SB, nouveau_loaded=True))
    off = Settings.model_validate({"gpu": {"mode": "off"}})
    names = by_name(c.run_checks(facts, off, {"HOME": "/nonexistent"}, gpu=False))
    assert "secure-boot" not in names and "nouveau" not in names
