"""NVIDIA GPU: driver preflight, container toolkit (pinned, its repository key checked), k3s picks up the nvidia
runtime, node label, ``nvidia.com/gpu`` allocatable (the device plugin comes through GitOps), smoke Job.

No ``default-runtime: nvidia``: every GPU pod llmops renders asks for ``runtimeClassName: nvidia`` (the k3s
RuntimeClass), and the default runtime would give every pod that sets ``NVIDIA_VISIBLE_DEVICES`` all GPUs.

The smoke Job runs as soon as the device plugin has made a GPU allocatable, before the GPU workloads are waited
for, and only while a GPU is free: one GPU held by vLLM leaves none for it (it would stay Pending and `up` would
fail on every run). When none is free, the pod that holds the GPU and runs is the proof a pod gets one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmops_cli.adapters import upstream
from llmops_cli.adapters.hostfacts import (
    K3S_CONTAINERD_CONFIG,
    containerd_has_nvidia,
    nvidia_smi_command,
    parse_nvidia_smi_query,
    toolkit_commands,
    toolkit_hint,
)
from llmops_cli.cluster.model import PlanInputs, Step, UpOptions, fingerprint
from llmops_cli.cluster.poll import wait_for
from llmops_cli.cluster.steps.k3s import is_node, restart_k3s
from llmops_cli.cluster.steps.objects import remove_job
from llmops_cli.errors import CommandFailed, LlmopsError

if TYPE_CHECKING:
    from llmops_cli.cluster.facts import HostFacts
    from llmops_cli.cluster.model import StepContext
    from llmops_cli.config.model import Settings

GPU_LABEL = upstream.GPU_PRESENT_LABEL
RESOURCE = upstream.GPU_RESOURCE
RUNTIME_DETECT_TIMEOUT = 120.0
ALLOCATABLE_TIMEOUT = 600.0
SMOKE_TIMEOUT = 600.0
APT_LOCK_RETRY_S = 10.0


# ------------------------------------------------------------------------------------------- toolkit
def apt(*args: str) -> list[str]:
    """apt-get that waits for the dpkg lock (unattended-upgrades, another apt) instead of failing at once."""
    return ["apt-get", "-o", f"DPkg::Lock::Timeout={upstream.APT_LOCK_TIMEOUT_S}", *args]


def _apt_run(ctx: StepContext, argv: list[str], env: dict[str, str]) -> None:
    """Run apt-get; while another apt holds the lists lock (which the option above does not cover in every apt
    version) retry until the same deadline."""
    deadline = ctx.clock() + upstream.APT_LOCK_TIMEOUT_S
    while True:
        try:
            ctx.host.run(argv, privileged=True, env=env, timeout=upstream.APT_LOCK_TIMEOUT_S + 600)
            return
        except CommandFailed as e:
            if "Could not get lock" not in e.stderr or ctx.clock() >= deadline:
                raise
            ctx.reporter.info("waiting for another package manager to finish (apt lock)")
            ctx.sleep(APT_LOCK_RETRY_S)


def key_fingerprints(gpg_colons: str) -> list[str]:
    """Primary-key fingerprints from ``gpg --show-keys --with-colons`` (an ``fpr`` record after each ``pub``)."""
    out, after_pub = [], False
    for line in gpg_colons.splitlines():
        fields = line.split(":")
        if fields[0] == "pub":
            after_pub = True
        elif fields[0] == "fpr" and after_pub:
            out.append(fields[9].upper())
            after_pub = False
        elif fields[0] in ("sub", "ssb"):
            after_pub = False
    return out


def _fetch_checked_key(ctx: StepContext, tmp_dir: str) -> str:
    """Download the repository key and refuse it unless its primary key is the pinned fingerprint."""
    key = f"{tmp_dir}/gpgkey"
    ctx.host.run(["curl", "-fsSL", "--proto", "=https", "-o", key, f"{upstream.NVIDIA_REPO}/gpgkey"], timeout=120)
    shown = ctx.host.run(
        ["gpg", "--homedir", f"{tmp_dir}/gnupg", "--batch", "--show-keys", "--with-colons", key],
        readonly=True,
        timeout=60,
    ).stdout
    fprs = key_fingerprints(shown)
    if fprs != [upstream.NVIDIA_KEY_FINGERPRINT]:
        raise LlmopsError(
            f"the NVIDIA repository key has fingerprint {', '.join(fprs) or '(none)'}, not the pinned "
            f"{upstream.NVIDIA_KEY_FINGERPRINT}: refusing to trust it",
            hint="if NVIDIA rotated its key, install the toolkit by hand (`llmops doctor` prints the commands)",
            code="integrity",
        )
    return key


def _install_toolkit(ctx: StepContext) -> None:
    """NVIDIA's install recipe (``upstream``) as argument lists: no pipes, no shell; pinned packages."""
    pm = ctx.facts.package_manager
    host = ctx.host
    env = dict(ctx.options.proxy_env)
    version = upstream.NVIDIA_TOOLKIT_VERSION
    tmp_dir = host.run(["mktemp", "-d", "-t", "llmops-nvidia.XXXXXX"]).stdout.strip()
    installed: dict[str, Any] = {"packages": list(upstream.NVIDIA_TOOLKIT_PACKAGES), "version": version}
    try:
        host.run(["mkdir", "-m", "0700", f"{tmp_dir}/gnupg"])
        key = _fetch_checked_key(ctx, tmp_dir)
        if pm == "apt":
            host.run(["gpg", "--batch", "--yes", "--dearmor", "-o", upstream.NVIDIA_KEYRING, key], privileged=True)
            # Upstream's list holds exactly this line; written directly instead of piping it through sed.
            host.write_text(
                upstream.NVIDIA_APT_LIST,
                f"deb [signed-by={upstream.NVIDIA_KEYRING}] {upstream.NVIDIA_REPO}/stable/deb/$(ARCH) /\n",
                privileged=True,
            )
            installed["files"] = [upstream.NVIDIA_KEYRING, upstream.NVIDIA_APT_LIST]
            ctx.state.record_host("nvidia_toolkit", installed)
            _apt_run(ctx, apt("update"), env)
            pkgs = [f"{p}={version}" for p in upstream.NVIDIA_TOOLKIT_PACKAGES]
            _apt_run(ctx, apt("install", "-y", *pkgs), {**env, "DEBIAN_FRONTEND": "noninteractive"})
        elif pm in ("dnf", "zypper"):
            # The key is imported only after the check above; the repository file names it for signatures.
            host.run(["rpm", "--import", key], privileged=True)
            repo = f"{upstream.NVIDIA_REPO}/stable/rpm/nvidia-container-toolkit.repo"
            pkgs = [f"{p}-{version}" for p in upstream.NVIDIA_TOOLKIT_PACKAGES]
            if pm == "dnf":
                host.run(["curl", "-fsSL", "--proto", "=https", "-o", f"{tmp_dir}/repo", repo], timeout=120)
                host.run(["install", "-m", "0644", f"{tmp_dir}/repo", upstream.NVIDIA_YUM_REPO], privileged=True)
                installed["files"] = [upstream.NVIDIA_YUM_REPO]
                ctx.state.record_host("nvidia_toolkit", installed)
                host.run(["dnf", "install", "-y", *pkgs], privileged=True, env=env, timeout=1200)
            else:
                host.run(["zypper", "--non-interactive", "ar", repo], privileged=True, env=env, check=False)
                installed["zypper_repo"] = "nvidia-container-toolkit"
                ctx.state.record_host("nvidia_toolkit", installed)
                host.run(["zypper", "--non-interactive", "install", *pkgs], privileged=True, env=env, timeout=1200)
        else:
            raise LlmopsError(
                f"llmops cannot install the NVIDIA container toolkit on {ctx.facts.os_pretty}",
                hint=toolkit_hint(None),
                code="toolkit_missing",
            )
    finally:
        host.run(["rm", "-rf", tmp_dir], check=False)


def _toolkit_present(ctx: StepContext) -> bool:
    return ctx.host.which("nvidia-container-runtime") is not None


def _driver_ok(ctx: StepContext) -> bool:
    smi = nvidia_smi_command(ctx.host)
    if smi is None:
        return False
    r = ctx.host.run(
        [smi, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"],
        check=False,
        readonly=True,
        timeout=30,
    )
    try:
        return r.ok and bool(parse_nvidia_smi_query(r.stdout))
    except ValueError:
        return False


def driver_problem(facts: HostFacts) -> str | None:
    """Why the driver cannot work, as precisely as the facts tell (Secure Boot, nouveau, WSL2)."""
    nv = facts.nvidia
    if nv.has_gpu:
        return None
    why = "nvidia-smi found no GPU" if nv.smi_present else "nvidia-smi is not installed"
    if nv.error:
        why += f" ({nv.error})"
    if nv.secure_boot and nv.module_present and not nv.module_loaded and not nv.module_signer:
        why += "; Secure Boot is on and the nvidia kernel module is not signed, so the kernel refuses to load it"
    elif nv.nouveau_loaded:
        why += "; the open-source nouveau driver holds the GPU"
    elif facts.wsl and not nv.smi_present:
        why += "; in WSL2 the Windows NVIDIA driver provides the GPU (/usr/lib/wsl/lib/nvidia-smi)"
    return why


def pre_steps(
    settings: Settings, facts: HostFacts, inputs: PlanInputs, options: UpOptions, warnings: list[str]
) -> list[Step]:
    """Before k3s starts: a driver, and the toolkit (k3s detects nvidia-container-runtime at start-up)."""
    nv = facts.nvidia
    driver_fail = driver_problem(facts)
    gpus = ", ".join(f"{g.name} {g.memory_mib} MiB" for g in nv.gpus)

    def no_driver(ctx: StepContext) -> None:
        raise LlmopsError(
            f"no usable NVIDIA GPU: {driver_problem(ctx.facts) or 'nvidia-smi lists no GPU'}",
            hint="`llmops doctor` says what to fix; or run `llmops up --gpu off`",
            code="gpu_missing",
        )

    out = [
        Step(
            id="check_nvidia_driver",
            phase="gpu",
            description="check the NVIDIA driver",
            changes="nothing (checks nvidia-smi)"
            + (f": driver {nv.driver_version}, CUDA {nv.cuda_version}, {gpus}" if nv.has_gpu else ""),
            check=_driver_ok,
            apply=no_driver,
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

    will_install = not nv.toolkit_present and install
    changes = (
        f"nothing (toolkit {nv.toolkit_version or 'present'})"
        if nv.toolkit_present
        else (
            f"install nvidia-container-toolkit {upstream.NVIDIA_TOOLKIT_VERSION} from NVIDIA's repository (key "
            f"{upstream.NVIDIA_KEY_FINGERPRINT[-16:]} checked, waits for the package lock): "
            + "; ".join(toolkit_commands(pm))
        )
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
            fingerprint=fingerprint(pm, upstream.NVIDIA_TOOLKIT_VERSION),
            will_fail=toolkit_fail,
            installs=tuple(f"{p} {upstream.NVIDIA_TOOLKIT_VERSION}" for p in upstream.NVIDIA_TOOLKIT_PACKAGES)
            if will_install
            else (),
            writes=(upstream.NVIDIA_KEYRING, upstream.NVIDIA_APT_LIST) if will_install and pm == "apt" else (),
        )
    )
    return out


# ------------------------------------------------------------------------------------------- k3s runtime
def host_steps(
    settings: Settings, facts: HostFacts, inputs: PlanInputs, options: UpOptions, warnings: list[str]
) -> list[Step]:
    """After k3s is installed: make sure its containerd config has the nvidia runtime (k3s looks for
    nvidia-container-runtime on PATH when it starts: k3s-io/k3s pkg/agent/containerd/nvidia.go)."""

    def detected(ctx: StepContext) -> bool:
        return containerd_has_nvidia(ctx.host.read_text(K3S_CONTAINERD_CONFIG, privileged=True))

    def verify(ctx: StepContext) -> None:
        wait_for(
            lambda: True if detected(ctx) else None,
            timeout=RUNTIME_DETECT_TIMEOUT,
            what=f"k3s to add the nvidia runtime to {K3S_CONTAINERD_CONFIG}",
            clock=ctx.clock,
            sleep=ctx.sleep,
            describe=lambda: [
                "k3s did not add the nvidia runtime: is nvidia-container-runtime on PATH for the k3s service?"
            ],
            hint="restart k3s once the toolkit is installed (https://docs.k3s.io/advanced#nvidia-container-runtime-support)",
        )

    return [
        Step(
            id="enable_nvidia_runtime",
            phase="gpu",
            description=f"restart {inputs.node.service} so it detects the nvidia runtime",
            changes=f"restart k3s; wait until the nvidia runtime is in {K3S_CONTAINERD_CONFIG}",
            check=detected,
            apply=restart_k3s,
            verify=verify,
            record=False,
            restarts=("k3s",),
        )
    ]


def _this_node(ctx: StepContext) -> dict[str, Any]:
    nodes = ctx.kube().list("v1", "Node")
    for n in nodes:
        if is_node(n, ctx.facts.hostname):
            return n
    if len(nodes) == 1 and not ctx.inputs.node.joins:
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


# ------------------------------------------------------------------------------------------- GPUs in pods
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


def _gpu_requests(pod: dict[str, Any]) -> int:
    """nvidia.com/gpu a pod asks for (extended resources: requests default to limits, which they must equal)."""
    total = 0
    for c in (pod.get("spec") or {}).get("containers") or []:
        res = c.get("resources") or {}
        value = (res.get("requests") or {}).get(RESOURCE, (res.get("limits") or {}).get(RESOURCE, 0))
        total += int(str(value))
    return total


def gpu_holders(ctx: StepContext, node_name: str) -> list[dict[str, Any]]:
    """Pods bound to the node that hold GPUs (not finished), as the scheduler counts them."""
    return [
        p
        for p in ctx.kube().list("v1", "Pod")
        if (p.get("spec") or {}).get("nodeName") == node_name
        and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        and _gpu_requests(p) > 0
    ]


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

        wait_for(
            lambda: _allocatable(ctx),
            timeout=min(ALLOCATABLE_TIMEOUT, ctx.options.timeout),
            what=f"{RESOURCE} to be allocatable",
            clock=ctx.clock,
            sleep=ctx.sleep,
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
                description="run the GPU smoke Job (nvidia-smi in a pod) while a GPU is free",
                changes=f"Job {job['metadata'].get('namespace', '')}/{job['metadata']['name']} (replaced); when "
                "every GPU is taken, the pod holding one is checked instead",
                check=None,
                apply=lambda ctx: run_smoke_job(ctx, job),
                fingerprint=fingerprint(job),
            )
        )
    return out


def _busy_proof(ctx: StepContext, holders: list[dict[str, Any]]) -> str | None:
    """When every GPU is held: the holders' state, if one of them runs (a pod did get a GPU)."""
    running = [p for p in holders if (p.get("status") or {}).get("phase") == "Running"]
    names = ", ".join(f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in holders)
    if running:
        return f"every GPU is in use ({names}); {running[0]['metadata']['name']} runs on one"
    return None


def run_smoke_job(ctx: StepContext, job: dict[str, Any]) -> None:
    kube = ctx.kube()
    name = job["metadata"]["name"]
    ns = job["metadata"].get("namespace", "default")
    node = _this_node(ctx)
    node_name = node["metadata"]["name"]
    allocatable = _allocatable(ctx) or 0

    def gpu_free() -> bool:
        held = sum(
            _gpu_requests(p)
            for p in gpu_holders(ctx, node_name)
            if (p.get("metadata") or {}).get("labels", {}).get("job-name") != name
        )
        return allocatable - held >= _gpu_requests({"spec": job["spec"]["template"]["spec"]})

    def prove_with_the_holder() -> None:
        """Every GPU is taken: the pod that holds one, once it runs, is the proof a pod gets a GPU."""
        proof = wait_for(
            lambda: _busy_proof(ctx, gpu_holders(ctx, node_name)),
            timeout=min(SMOKE_TIMEOUT, ctx.options.timeout),
            what="a pod holding the GPU to run",
            clock=ctx.clock,
            sleep=ctx.sleep,
            describe=lambda: [
                f"pod {p['metadata']['name']}: {(p.get('status') or {}).get('phase')}"
                for p in gpu_holders(ctx, node_name)
            ],
        )
        ctx.results["gpu_smoke"] = proof
        ctx.reporter.info(f"GPU smoke test: {proof}")

    remove_job(ctx, name, ns)
    if not gpu_free():
        prove_with_the_holder()
        return
    kube.apply(job)

    def pods() -> list[dict[str, Any]]:
        return kube.list("v1", "Pod", ns, label_selector=f"job-name={name}")

    def unschedulable() -> str | None:
        for p in pods():
            for c in (p.get("status") or {}).get("conditions") or []:
                if (
                    c.get("type") == "PodScheduled"
                    and c.get("status") == "False"
                    and c.get("reason") == "Unschedulable"
                ):
                    return str(c.get("message") or "Unschedulable")
        return None

    def finished() -> dict[str, Any] | str | None:
        j = kube.get("batch/v1", "Job", name, ns) or {}
        st = j.get("status") or {}
        if st.get("succeeded") or st.get("failed"):
            return j
        if unschedulable() and not gpu_free():
            return "busy"  # a GPU workload took the last GPU between our count and the Job
        return None

    def describe() -> list[str]:
        return kube.events_for(ns, name, "Job") + [
            f"pod {p['metadata']['name']}: {(p.get('status') or {}).get('phase')} {unschedulable() or ''}".rstrip()
            for p in pods()
        ]

    done = wait_for(
        finished,
        timeout=min(SMOKE_TIMEOUT, ctx.options.timeout),
        what=f"Job {ns}/{name}",
        clock=ctx.clock,
        sleep=ctx.sleep,
        describe=describe,
    )
    if done == "busy":
        remove_job(ctx, name, ns)
        prove_with_the_holder()
        return
    assert isinstance(done, dict)
    ps = pods()
    log = kube.logs(ps[-1]["metadata"]["name"], ns) if ps else ""
    if (done.get("status") or {}).get("failed"):
        raise LlmopsError(f"the GPU smoke Job failed: {log.strip()[-300:]}", code="gpu_smoke")
    line = next((ln.strip() for ln in log.splitlines() if "NVIDIA" in ln or "GPU" in ln), log.strip()[:200])
    ctx.results["gpu_smoke"] = line
    ctx.reporter.info(f"nvidia-smi in a pod: {line}")
