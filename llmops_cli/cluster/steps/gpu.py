"""NVIDIA GPU: driver preflight, container toolkit, k3s picks up the nvidia runtime, node label,
``nvidia.com/gpu`` allocatable (the device plugin comes through GitOps), smoke Job."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmops_cli.adapters.hostfacts import (
    K3S_CONTAINERD_CONFIG,
    NVIDIA_KEYRING,
    NVIDIA_REPO,
    containerd_has_nvidia,
    parse_nvidia_smi_query,
    toolkit_commands,
    toolkit_hint,
)
from llmops_cli.cluster.model import PlanInputs, Step, UpOptions, fingerprint
from llmops_cli.cluster.steps.k3s import restart_k3s
from llmops_cli.errors import LlmopsError

if TYPE_CHECKING:
    from llmops_cli.cluster.facts import HostFacts
    from llmops_cli.cluster.model import StepContext
    from llmops_cli.config.model import Settings

GPU_LABEL = "nvidia.com/gpu.present"
RESOURCE = "nvidia.com/gpu"
RUNTIME_DETECT_TIMEOUT = 120.0
ALLOCATABLE_TIMEOUT = 600.0
SMOKE_TIMEOUT = 600.0


def _install_toolkit(ctx: StepContext) -> None:
    """NVIDIA's install recipe (``TOOLKIT_INSTALL_DOCS``) as argument lists: no pipes, no shell."""
    pm = ctx.facts.package_manager
    host = ctx.host
    if pm == "apt":
        tmp = host.run(["mktemp", "-t", "nvidia-gpgkey.XXXXXX"]).stdout.strip()
        try:
            host.run(["curl", "-fsSL", "-o", tmp, f"{NVIDIA_REPO}/gpgkey"], timeout=120)
            host.run(["gpg", "--batch", "--yes", "--dearmor", "-o", NVIDIA_KEYRING, tmp], privileged=True)
        finally:
            host.run(["rm", "-f", tmp], check=False)
        # Upstream's list holds exactly this line; written directly instead of piping it through sed.
        host.write_text(
            "/etc/apt/sources.list.d/nvidia-container-toolkit.list",
            f"deb [signed-by={NVIDIA_KEYRING}] {NVIDIA_REPO}/stable/deb/$(ARCH) /\n",
            privileged=True,
        )
        host.run(["apt-get", "update"], privileged=True, timeout=600)
        host.run(["apt-get", "install", "-y", "nvidia-container-toolkit"], privileged=True, timeout=900)
    elif pm == "dnf":
        host.run(
            [
                "curl",
                "-fsSL",
                "-o",
                "/etc/yum.repos.d/nvidia-container-toolkit.repo",
                f"{NVIDIA_REPO}/stable/rpm/nvidia-container-toolkit.repo",
            ],
            privileged=True,
            timeout=120,
        )
        host.run(["dnf", "install", "-y", "nvidia-container-toolkit"], privileged=True, timeout=900)
    elif pm == "zypper":
        host.run(
            ["zypper", "ar", f"{NVIDIA_REPO}/stable/rpm/nvidia-container-toolkit.repo"],
            privileged=True,
            check=False,
        )
        host.run(
            ["zypper", "--gpg-auto-import-keys", "install", "-y", "nvidia-container-toolkit"],
            privileged=True,
            timeout=900,
        )
    else:
        raise LlmopsError(
            f"llmops cannot install the NVIDIA container toolkit on {ctx.facts.os_pretty}",
            hint=toolkit_hint(None),
            code="toolkit_missing",
        )


def _toolkit_present(ctx: StepContext) -> bool:
    return ctx.host.which("nvidia-container-runtime") is not None


def _driver_ok(ctx: StepContext) -> bool:
    if ctx.host.which("nvidia-smi") is None:
        return False
    r = ctx.host.run(
        ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"],
        check=False,
        readonly=True,
        timeout=30,
    )
    try:
        return r.ok and bool(parse_nvidia_smi_query(r.stdout))
    except ValueError:
        return False


def _no_driver(ctx: StepContext) -> None:
    raise LlmopsError(
        "no usable NVIDIA GPU: nvidia-smi is missing or lists no GPU",
        hint="install the NVIDIA driver (nvidia-smi must work), or run `llmops up --gpu off`",
        code="gpu_missing",
    )


def pre_steps(
    settings: Settings, facts: HostFacts, inputs: PlanInputs, options: UpOptions, warnings: list[str]
) -> list[Step]:
    """Before k3s starts: a driver, and the toolkit (k3s detects nvidia-container-runtime at start-up)."""
    nv = facts.nvidia
    driver_fail = None
    if not nv.has_gpu:
        driver_fail = "nvidia-smi found no GPU" if nv.smi_present else "nvidia-smi is not installed"
        if nv.error:
            driver_fail += f" ({nv.error})"
    gpus = ", ".join(f"{g.name} {g.memory_mib} MiB" for g in nv.gpus)
    out = [
        Step(
            id="check_nvidia_driver",
            phase="gpu",
            description="check the NVIDIA driver",
            changes="nothing (checks nvidia-smi)"
            + (f": driver {nv.driver_version}, CUDA {nv.cuda_version}, {gpus}" if nv.has_gpu else ""),
            check=_driver_ok,
            apply=_no_driver,
            mutating=False,
            record=False,
            will_fail=driver_fail,
        )
    ]
    pm = facts.package_manager
    install = settings.gpu.install_toolkit
    toolkit_fail = None
    if not nv.toolkit_present and not install:
        toolkit_fail = "the NVIDIA container toolkit is missing: " + toolkit_hint(pm)
    elif not nv.toolkit_present and pm is None:
        toolkit_fail = f"no known package manager on {facts.os_pretty} to install the NVIDIA container toolkit"

    def apply_toolkit(ctx: StepContext) -> None:
        if not ctx.settings.gpu.install_toolkit:
            raise LlmopsError(
                "the NVIDIA container toolkit is missing",
                hint=toolkit_hint(ctx.facts.package_manager),
                code="toolkit_missing",
            )
        _install_toolkit(ctx)

    def verify_toolkit(ctx: StepContext) -> None:
        if not _toolkit_present(ctx):
            raise LlmopsError("nvidia-container-runtime is still not on PATH after installing the toolkit")

    changes = (
        f"nothing (toolkit {nv.toolkit_version or 'present'})"
        if nv.toolkit_present
        else ("install nvidia-container-toolkit: " + "; ".join(toolkit_commands(pm)))
        if install
        else "nothing: prints the install commands and stops (or pass --install-toolkit)"
    )
    out.append(
        Step(
            id="install_container_toolkit",
            phase="gpu",
            description="NVIDIA container toolkit",
            changes=changes,
            check=_toolkit_present,
            apply=apply_toolkit,
            verify=verify_toolkit,
            fingerprint=fingerprint(pm),
            will_fail=toolkit_fail,
        )
    )
    return out


def host_steps(
    settings: Settings, facts: HostFacts, inputs: PlanInputs, options: UpOptions, warnings: list[str]
) -> list[Step]:
    """After k3s is installed: make sure its containerd config has the nvidia runtime."""

    def detected(ctx: StepContext) -> bool:
        return containerd_has_nvidia(ctx.host.read_text(K3S_CONTAINERD_CONFIG, privileged=True))

    def verify(ctx: StepContext) -> None:
        deadline = ctx.clock() + RUNTIME_DETECT_TIMEOUT
        while not detected(ctx):
            if ctx.clock() >= deadline:
                raise LlmopsError(
                    f"k3s did not add the nvidia runtime to {K3S_CONTAINERD_CONFIG}",
                    hint="check that nvidia-container-runtime is on PATH for the k3s service, "
                    "then restart k3s (https://docs.k3s.io/advanced#nvidia-container-runtime-support)",
                    code="gpu_runtime",
                )
            ctx.sleep(2.0)

    return [
        Step(
            id="enable_nvidia_runtime",
            phase="gpu",
            description="restart k3s so it detects the nvidia runtime",
            changes=f"restart k3s; assert the nvidia runtime is in {K3S_CONTAINERD_CONFIG}",
            check=detected,
            apply=restart_k3s,
            verify=verify,
            record=False,
        )
    ]


def _this_node(ctx: StepContext) -> dict[str, Any]:
    nodes = ctx.kube().list("v1", "Node")
    for n in nodes:
        labels = n["metadata"].get("labels") or {}
        if labels.get("kubernetes.io/hostname") == ctx.facts.hostname or n["metadata"]["name"] == ctx.facts.hostname:
            return n
    if len(nodes) == 1:
        return nodes[0]
    raise LlmopsError(f"no node named {ctx.facts.hostname} in the cluster", code="node_missing")


def node_steps(settings: Settings, facts: HostFacts, inputs: PlanInputs, options: UpOptions) -> list[Step]:
    def labelled(ctx: StepContext) -> bool:
        return (_this_node(ctx)["metadata"].get("labels") or {}).get(GPU_LABEL) == "true"

    def label(ctx: StepContext) -> None:
        node = _this_node(ctx)
        ctx.kube().merge_patch("v1", "Node", node["metadata"]["name"], {"metadata": {"labels": {GPU_LABEL: "true"}}})

    return [
        Step(
            id="label_gpu_node",
            phase="gpu",
            description=f"label the node {GPU_LABEL}=true",
            changes=f"node label {GPU_LABEL}=true (the device plugin's affinity needs it)",
            check=labelled,
            apply=label,
        )
    ]


def _allocatable(ctx: StepContext) -> int | None:
    node = _this_node(ctx)
    value = ((node.get("status") or {}).get("allocatable") or {}).get(RESOURCE, "0")
    try:
        count = int(str(value))
    except ValueError:
        return None
    if count <= 0:
        return None
    ctx.results["gpu_allocatable"] = count
    return count


def cluster_steps(settings: Settings, facts: HostFacts, inputs: PlanInputs, options: UpOptions) -> list[Step]:
    def wait_allocatable(ctx: StepContext) -> None:
        kube = ctx.kube()

        def describe() -> list[str]:
            pods = kube.list("v1", "Pod", None, label_selector="app.kubernetes.io/name=nvidia-device-plugin")
            lines = [
                f"device plugin pod {p['metadata']['namespace']}/{p['metadata']['name']}: "
                f"{(p.get('status') or {}).get('phase', '?')}"
                for p in pods
            ]
            return lines or ["no NVIDIA device plugin pod is running: check its Argo CD Application"]

        kube.wait_until(
            lambda: _allocatable(ctx),
            timeout=min(ALLOCATABLE_TIMEOUT, ctx.options.timeout),
            what=f"{RESOURCE} to be allocatable",
            describe=describe,
        )

    out = [
        Step(
            id="wait_gpu_allocatable",
            phase="gpu",
            description=f"wait until {RESOURCE} is allocatable",
            changes="nothing (waits for the device plugin)",
            check=lambda ctx: _allocatable(ctx) is not None,
            apply=wait_allocatable,
            mutating=False,
            record=False,
        )
    ]
    job = inputs.smoke_job
    if job is not None:
        out.append(
            Step(
                id="run_gpu_smoke_job",
                phase="gpu",
                description="run the GPU smoke Job (nvidia-smi in a pod)",
                changes=f"Job {job['metadata'].get('namespace', '')}/{job['metadata']['name']} (replaced)",
                check=None,
                apply=lambda ctx: run_smoke_job(ctx, job),
                fingerprint=fingerprint(job),
            )
        )
    return out


def run_smoke_job(ctx: StepContext, job: dict[str, Any]) -> None:
    kube = ctx.kube()
    name = job["metadata"]["name"]
    ns = job["metadata"].get("namespace", "default")
    # A Job's pod template is immutable: replace the previous run.
    if kube.delete("batch/v1", "Job", name, ns, propagation="Background"):
        kube.wait_until(
            lambda: True if kube.get("batch/v1", "Job", name, ns) is None else None,
            timeout=120,
            what=f"the old Job {name} to go away",
        )
    kube.apply(job)

    def finished() -> dict[str, Any] | None:
        j = kube.get("batch/v1", "Job", name, ns) or {}
        st = j.get("status") or {}
        return j if st.get("succeeded") or st.get("failed") else None

    def describe() -> list[str]:
        return kube.events_for(ns, name, "Job") + [
            f"pod {p['metadata']['name']}: {(p.get('status') or {}).get('phase')}"
            for p in kube.list("v1", "Pod", ns, label_selector=f"job-name={name}")
        ]

    done = kube.wait_until(
        finished, timeout=min(SMOKE_TIMEOUT, ctx.options.timeout), what=f"Job {name}", describe=describe
    )
    pods = kube.list("v1", "Pod", ns, label_selector=f"job-name={name}")
    log = kube.logs(pods[-1]["metadata"]["name"], ns) if pods else ""
    if (done.get("status") or {}).get("failed"):
        raise LlmopsError(f"the GPU smoke Job failed: {log.strip()[-300:]}", code="gpu_smoke")
    line = next((ln.strip() for ln in log.splitlines() if "NVIDIA" in ln or "GPU" in ln), log.strip()[:200])
    ctx.results["gpu_smoke"] = line
    ctx.reporter.info(f"nvidia-smi in a pod: {line}")
