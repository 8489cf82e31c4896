"""build_plan over a matrix of host facts: GPU or not, toolkit or not, k3s absent/present/other version,
root or not, airgap or not, local or remote GitOps."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from llmops_cli.adapters.upstream import NVIDIA_TOOLKIT_VERSION
from llmops_cli.cluster.model import AirgapBundle, UpOptions
from llmops_cli.cluster.plan import build_plan
from llmops_cli.config.model import Settings
from llmops_cli.errors import LlmopsError
from tests.cluster.conftest import make_facts, make_inputs

PINNED = Settings().cluster.k3s_version
GPU_STEPS = {
    "check_nvidia_driver",
    "install_container_toolkit",
    "enable_nvidia_runtime",
    "label_gpu_node",
    "wait_gpu_allocatable",
    "run_gpu_smoke_job",
}
ORDER = [
    "check_nvidia_driver",
    "install_container_toolkit",
    "write_k3s_config",
    "merge_k3s_registries",
    "backup_k3s_datastore",
    "install_k3s",
    "start_k3s",
    "restart_k3s_on_config_change",
    "enable_nvidia_runtime",
    "wait_node_ready",
    "label_gpu_node",
    "merge_kubeconfig",
    "wait_namespaces_active",
    "create_secret_llmops_llmops-pgvector",
    "create_secret_llmops_llmops-gateway",
    "create_secret_llmops_llmops-gateway-audit",
    "create_secret_llmops_llmops-gateway-redis",
    "create_secret_monitoring_llmops-grafana-admin",
    "create_ssh_keys_llmops-system_llmops-git-ssh",
    "apply_argocd_install",
    "wait_argocd_ready",
    "seed_local_git",
    "create_repo_secret",
    "apply_root_application",
    # The smoke Job runs before the GPU workloads are waited for, while a GPU can be free (steps/gpu.py).
    "wait_gpu_allocatable",
    "run_gpu_smoke_job",
    "wait_applications_healthy",
    "hand_over_argocd",
]
BUNDLE = AirgapBundle(Path("/b"), Path("/b/k3s"), Path("/b/install.sh"), (Path("/b/k3s-airgap-images-amd64.tar.zst"),))


def gpu_settings(mode: str, install_toolkit: bool = False) -> Settings:
    return Settings.model_validate({"gpu": {"mode": mode, "install_toolkit": install_toolkit}})


MATRIX = list(
    itertools.product(
        [False, True],  # GPU present
        [False, True],  # toolkit present
        [None, PINNED, "v1.30.4+k3s1"],  # k3s
        [True, False],  # root
        [False, True],  # airgap
    )
)


@pytest.mark.parametrize(("gpu", "toolkit", "k3s", "root", "airgap"), MATRIX)
def test_plan_matrix(gpu: bool, toolkit: bool, k3s: str | None, root: bool, airgap: bool) -> None:
    settings = gpu_settings("auto")
    facts = make_facts(gpu=gpu, toolkit=toolkit, k3s=k3s, root=root)
    plan = build_plan(settings, facts, make_inputs(gpu=gpu), UpOptions(airgap=BUNDLE if airgap else None))
    ids = plan.ids()
    # Order is fixed; GPU steps only with a GPU (gpu.mode auto).
    assert ids == [i for i in ORDER if i in ids]
    assert plan.gpu is gpu
    assert bool(GPU_STEPS & set(ids)) is gpu
    if gpu:
        assert GPU_STEPS <= set(ids)
    install = plan.step("install_k3s")
    if k3s is None:
        assert f"INSTALL_K3S_VERSION={PINNED}" in install.changes
        assert ("INSTALL_K3S_SKIP_DOWNLOAD=true" in install.changes) is airgap
        assert ("check its sha256" in install.changes) is not airgap
        assert install.installs == (f"k3s {PINNED}",)
    elif k3s == PINNED:
        assert install.description.startswith(f"adopt existing k3s {k3s}") and not install.installs
    else:
        # An older k3s is upgraded in place, after a backup of its datastore; never uninstalled.
        assert install.description == f"upgrade k3s {k3s} -> {PINNED} in place" and install.restarts == ("k3s",)
        assert "backup_k3s_datastore" in ids and "keeping the service's arguments" in install.changes
    assert ("backup_k3s_datastore" in ids) is (k3s not in (None, PINNED))
    toolkit_step = plan.steps[ids.index("install_container_toolkit")] if gpu else None
    if toolkit_step is not None:
        assert (toolkit_step.will_fail is None) is toolkit
    assert plan.summary["gpu"] is gpu and plan.summary["airgap"] == ("/b" if airgap else None)
    # Pure: same inputs, same plan.
    again = build_plan(settings, facts, make_inputs(gpu=gpu), UpOptions(airgap=BUNDLE if airgap else None))
    assert [(s.id, s.changes, s.fingerprint) for s in again.steps] == [
        (s.id, s.changes, s.fingerprint) for s in plan.steps
    ]


def test_gpu_on_without_gpu_plans_the_gpu_steps_and_says_the_driver_step_fails() -> None:
    plan = build_plan(gpu_settings("on"), make_facts(gpu=False), make_inputs(gpu=True))
    assert plan.gpu and GPU_STEPS <= set(plan.ids())
    assert "nvidia-smi is not installed" in (plan.step("check_nvidia_driver").will_fail or "")


def test_gpu_off_ignores_a_present_gpu() -> None:
    plan = build_plan(gpu_settings("off"), make_facts(gpu=True, toolkit=True), make_inputs())
    assert not plan.gpu and not GPU_STEPS & set(plan.ids())


@pytest.mark.parametrize(
    ("distro", "needle"),
    [
        ("ubuntu", "sudo apt-get install -y nvidia-container-toolkit"),
        ("fedora", "sudo dnf install -y nvidia-container-toolkit"),
        ("opensuse-leap", "sudo zypper --gpg-auto-import-keys install -y nvidia-container-toolkit"),
    ],
)
def test_missing_toolkit_prints_the_distro_commands(distro: str, needle: str) -> None:
    needle = needle + ("=" if distro == "ubuntu" else "-") + NVIDIA_TOOLKIT_VERSION
    plan = build_plan(gpu_settings("auto"), make_facts(gpu=True, distro=distro), make_inputs(gpu=True))
    step = plan.step("install_container_toolkit")
    assert needle in (step.will_fail or "") and "--install-toolkit" in (step.will_fail or "")


def test_install_toolkit_flag_turns_it_into_a_change() -> None:
    plan = build_plan(gpu_settings("auto", install_toolkit=True), make_facts(gpu=True), make_inputs(gpu=True))
    step = plan.step("install_container_toolkit")
    assert (
        step.will_fail is None
        and "apt-get install -y nvidia-container-toolkit=" + NVIDIA_TOOLKIT_VERSION in step.changes
    )


def test_unknown_distro_cannot_install_the_toolkit() -> None:
    plan = build_plan(
        gpu_settings("auto", install_toolkit=True), make_facts(gpu=True, distro="arch"), make_inputs(gpu=True)
    )
    assert "no known package manager" in (plan.step("install_container_toolkit").will_fail or "")


def test_registries_step_is_always_planned_so_a_removed_mirror_is_taken_out() -> None:
    step = build_plan(Settings(), make_facts(), make_inputs()).step("merge_k3s_registries")
    assert "(none)" in step.changes
    mirrored = build_plan(Settings(), make_facts(), make_inputs(registries="https://mirror.example.com"))
    assert "(docker.io)" in mirrored.step("merge_k3s_registries").changes


def test_a_newer_k3s_is_refused_not_downgraded() -> None:
    step = build_plan(Settings(), make_facts(k3s="v1.99.0+k3s1"), make_inputs()).step("install_k3s")
    assert "newer than the pinned" in (step.will_fail or "") and "cluster.k3s_version: v1.99.0+k3s1" in (
        step.will_fail or ""
    )


def test_a_half_finished_install_is_repaired_not_adopted() -> None:
    from dataclasses import replace

    from llmops_cli.adapters.hostfacts import K3sFacts

    facts = replace(make_facts(), k3s=K3sFacts(binary=True, version=PINNED))  # no service, no uninstall script
    step = build_plan(Settings(), facts, make_inputs()).step("install_k3s")
    assert step.description == f"finish the half-done k3s install ({PINNED})"
    assert step.installs == (f"k3s {PINNED}",)


def test_remote_gitops_with_token_creates_a_repo_secret_and_no_git_server() -> None:
    settings = Settings.model_validate({"gitops": {"repo_url": "https://github.com/acme/platform.git"}})
    inputs = make_inputs(remote="https://github.com/acme/platform.git")
    plan = build_plan(settings, make_facts(), inputs, UpOptions(git_token="ghp_x"))
    assert "create_repo_secret" in plan.ids() and "seed_local_git" not in plan.ids()
    assert (
        "ghp_x" not in repr(plan.step("create_repo_secret"))
        and "HTTPS token" in plan.step("create_repo_secret").description
    )


def test_remote_https_without_token_warns_public() -> None:
    settings = Settings.model_validate({"gitops": {"repo_url": "https://github.com/acme/platform.git"}})
    plan = build_plan(settings, make_facts(), make_inputs(remote="https://github.com/acme/platform.git"))
    assert "create_repo_secret" not in plan.ids()
    assert any("LLMOPS_GIT_TOKEN" in w for w in plan.warnings)


def test_remote_ssh_without_key_is_an_error() -> None:
    settings = Settings.model_validate({"gitops": {"repo_url": "git@github.com:acme/platform.git"}})
    with pytest.raises(LlmopsError, match="no deploy key"):
        build_plan(settings, make_facts(), make_inputs(remote="git@github.com:acme/platform.git"))


def test_remote_ssh_with_key() -> None:
    settings = Settings.model_validate({"gitops": {"repo_url": "git@github.com:acme/platform.git"}})
    plan = build_plan(
        settings,
        make_facts(),
        make_inputs(remote="git@github.com:acme/platform.git"),
        UpOptions(ssh_key="-----BEGIN OPENSSH PRIVATE KEY-----\n"),
    )
    assert "SSH deploy key" in plan.step("create_repo_secret").description


def test_every_mutating_step_has_changes_text_and_waits_are_not_recorded() -> None:
    plan = build_plan(gpu_settings("on"), make_facts(gpu=True, toolkit=True), make_inputs(gpu=True))
    for s in plan.steps:
        assert s.changes and s.description
        if s.id.startswith("wait_"):
            assert not s.mutating and not s.record


def test_install_on_a_host_without_init_system_is_known_to_fail() -> None:
    from dataclasses import replace

    facts = replace(make_facts(), init_system="none", container=True)
    step = build_plan(Settings(), facts, make_inputs()).step("install_k3s")
    assert "no systemd or OpenRC on this host (this is a container)" in (step.will_fail or "")
    adopted = build_plan(Settings(), replace(facts, k3s=make_facts(k3s=PINNED).k3s), make_inputs())
    assert adopted.step("install_k3s").will_fail is None


def test_the_plan_is_pure_no_host_or_state_is_read() -> None:
    """build_plan takes facts and inputs only; every step the consent summary lists says what it changes."""
    plan = build_plan(
        gpu_settings("on", install_toolkit=True), make_facts(gpu=True, k3s="v1.30.4+k3s1"), make_inputs(gpu=True)
    )
    restarts = {r for s in plan.steps for r in s.restarts}
    writes = {w for s in plan.steps for w in s.writes}
    assert "k3s" in restarts and "/etc/rancher/k3s/config.yaml.d/50-llmops.yaml" in writes
    installs = [i for s in plan.steps for i in s.installs]
    assert f"k3s {PINNED}" in installs and any(i.startswith("nvidia-container-toolkit ") for i in installs)
