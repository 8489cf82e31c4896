"""Builders for host facts, the inputs `up` renders, and a simulated laptop (host + k3s + cluster).

``make_inputs`` renders with the real render package: the bootstrap tests apply exactly what `up` applies.
``Cluster`` plays the host side (the installer, init systems, the toolkit packages, k3s's uninstall script) on a
``FakeHost`` whose facts are gathered by the real ``gather_facts``, and the cluster side on the simulator.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from llmops_cli.adapters import hostfacts as hf
from llmops_cli.adapters import upstream
from llmops_cli.adapters.hostfacts import GpuInfo, HostFacts, K3sFacts, NvidiaFacts
from llmops_cli.adapters.procs import ProcResult
from llmops_cli.cluster.model import PlanInputs, SshKeysSpec
from llmops_cli.config.model import Settings
from tests.cluster.fakes import FakeHost, FakeKube, ok
from tests.cluster.kubesim import Sim

PINNED = Settings().cluster.k3s_version
LOCAL_URL = "http://llmops-git.llmops-system.svc:80/llmops.git"
K3S_YAML = """apiVersion: v1
clusters:
- cluster: {certificate-authority-data: Q0E=, server: 'https://127.0.0.1:6443'}
  name: default
contexts:
- context: {cluster: default, user: default}
  name: default
current-context: default
kind: Config
users:
- name: default
  user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ}
"""
# What the simulated github.com serves as the pinned installer. Tests pin its hash (fixture below): the check
# against the pinned hash is what is under test; the real hash is checked by tests/e2e on a real machine.
INSTALLER_TEXT = "#!/bin/sh\n# the k3s installer, as the simulated download serves it\n"
NVIDIA_FPR_COLONS = (
    "pub:-:4096:1:DDCAE044F796ECB0:1571962463:::-:::scSC::::::23::0:\n"
    f"fpr:::::::::{upstream.NVIDIA_KEY_FINGERPRINT}:\n"
    "uid:-::::1571962463::ABCDEF::NVIDIA CORPORATION (Open Source Projects) <cudatools@nvidia.com>::::::::::0:\n"
)


GIT_SSH = SshKeysSpec(
    name="llmops-git-ssh",
    namespace="llmops-system",
    host="[llmops-git.llmops-system.svc]:23231",
    host_key="ssh_host_ed25519_key",
    host_pub="ssh_host_ed25519_key.pub",
    admin_key="admin_ed25519",
    admin_pub="admin_ed25519.pub",
    known_hosts="known_hosts",
)


@pytest.fixture(autouse=True)
def pinned_installer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream, "K3S_INSTALLER_SHA256", hashlib.sha256(INSTALLER_TEXT.encode()).hexdigest())


def make_facts(
    *,
    gpu: bool = False,
    toolkit: bool = False,
    k3s: str | None = None,
    root: bool = True,
    distro: str = "ubuntu",
    init: str = "systemd",
    running: bool = True,
) -> HostFacts:
    nv = NvidiaFacts()
    if gpu:
        nv = NvidiaFacts(
            smi_present=True,
            smi_path="/usr/bin/nvidia-smi",
            gpus=(GpuInfo("NVIDIA GeForce RTX 4090", 24564, "580.95.05"),),
            driver_version="580.95.05",
            cuda_version="13.0",
        )
    if toolkit:
        nv = replace(nv, toolkit_version="1.17.8", runtime_path="/usr/bin/nvidia-container-runtime")
    like = {"ubuntu": ("debian",), "fedora": (), "opensuse-leap": ("suse", "opensuse"), "arch": ()}[distro]
    k = K3sFacts()
    if k3s is not None:
        k = K3sFacts(
            binary=True,
            service=hf.K3S_SERVICE.get(init, "/etc/systemd/system/k3s.service"),
            uninstall=True,
            version=k3s,
            running=running,
            datastore="sqlite",
        )
    return HostFacts(
        hostname="laptop",
        os_id=distro,
        os_like=like,
        os_pretty=distro,
        arch="x86_64",
        kernel="6.8.0",
        is_root=root,
        sudo="root" if root else "passwordless",
        init_system=init,
        cpus=8,
        memory_mib=32000,
        disk_free_mib=200_000,
        cgroup_v2=True,
        cgroup_controllers=("cpu", "memory", "pids"),
        k3s=k,
        nvidia=nv,
    )


def settings_for(**values: Any) -> Settings:
    return Settings.model_validate(values)


@functools.lru_cache(maxsize=32)
def _render(settings_json: str, gpu: bool, env: str) -> PlanInputs:
    from llmops_cli.cluster.up import render_inputs

    settings = Settings.model_validate_json(settings_json)
    return render_inputs(settings, make_facts(gpu=gpu), env, gpu=gpu)


def make_inputs(
    settings: Settings | None = None,
    *,
    gpu: bool = False,
    registries: str | None = None,
    remote: str | None = None,
    env: str = "dev",
) -> PlanInputs:
    """What `up` renders for these settings (the real renderer, cached per settings)."""
    s = settings or Settings()
    if remote is not None:
        s = s.model_copy(update={"gitops": s.gitops.model_copy(update={"repo_url": remote})})
    if registries is not None:
        s = s.model_copy(update={"cluster": s.cluster.model_copy(update={"registry_mirror": registries})})
    return _render(s.model_dump_json(by_alias=True), gpu, env)


@pytest.fixture
def settings() -> Settings:
    return Settings()


def _df(_: list[str]) -> ProcResult:
    return ok(
        "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/nvme0n1p2 500000000 100000000 400000000 20% /\n"
    )


BASE_TOOLS = {
    "curl", "sh", "mktemp", "uname", "hostname", "nproc", "df", "ps", "ip", "ls", "sha256sum", "gpg", "tar",
    "install", "chmod", "rm", "mkdir", "modinfo", "apt-get", "rpm", "dnf", "zypper",
}  # fmt: skip


class Cluster:
    """A simulated laptop: what a real host and k3s do in response to `up` and `down`."""

    def __init__(
        self,
        *,
        gpu: bool = False,
        gpus: int = 1,
        k3s_installed: bool = False,
        k3s_version: str = PINNED,
        nvidia_detected: bool = True,
        toolkit: bool | None = None,
        init: str = "systemd",
        running: bool = True,
        distro_files: Mapping[str, str] | None = None,
    ) -> None:
        self.sim = Sim(gpus=gpus if gpu else 0)
        self.sim.job_logs["llmops-gpu-smoke"] = "GPU 0: NVIDIA GeForce RTX 4090 (UUID: GPU-1234)\n"
        self.api_up = False
        self.kube = FakeKube(self.sim, reachable=lambda: self.api_up)
        self.init = init
        self.gpu = gpu
        self.nvidia_detected = nvidia_detected
        self.installs = self.restarts = self.starts = self.stops = 0
        self.installer_runs: list[tuple[list[str], dict[str, str]]] = []
        self.served_installer = INSTALLER_TEXT
        self.kill_installer_after_binary = False
        self.version: str | None = None
        self.running = False
        self._last_args: list[str] = []
        tools = set(BASE_TOOLS) | (
            {"systemctl"} if init == "systemd" else {"rc-service"} if init == "openrc" else set()
        )
        if gpu:
            tools.add("nvidia-smi")
        if toolkit if toolkit is not None else gpu:
            tools |= {"nvidia-container-runtime", "nvidia-ctk"}
        files = {
            "/etc/os-release": 'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n',
            "/proc/meminfo": "MemTotal:       32768000 kB\n",
            "/sys/fs/cgroup/cgroup.controllers": "cpuset cpu io memory pids\n",
            "/proc/sys/kernel/osrelease": "6.8.0-45-generic\n",
            **(distro_files or {}),
        }
        self.host = FakeHost(tools=tools, files=files)
        if init == "systemd":
            self.host.dirs.add("/run/systemd/system")
        elif init == "openrc":
            self.host.files["/sbin/openrc-run"] = ""
        self.host.responses = {
            "uname -m": ok("x86_64\n"),
            "uname -r": ok("6.8.0-45-generic\n"),
            "hostname": ok("laptop\n"),
            "nproc": ok("8\n"),
            "df -Pk *": _df,
            "ps -e -o comm=": ok("systemd\nsshd\n"),
            "ip -4 route get 1.1.1.1": ok("1.1.1.1 via 10.0.0.1 dev eth0 src 10.0.0.5 uid 0\n"),
            "mktemp -t k3s-install.*": ok("/tmp/k3s-install.abc123\n"),
            "mktemp -d -t llmops-nvidia.*": ok("/tmp/llmops-nvidia.abc\n"),
            "*nvidia-smi --query-gpu*": ok("NVIDIA GeForce RTX 4090, 24564, 580.95.05\n"),
            "*nvidia-smi": ok("| NVIDIA-SMI 580.95.05   Driver Version: 580.95.05   CUDA Version: 13.0 |\n"),
            "nvidia-ctk --version": ok("NVIDIA Container Toolkit CLI version 1.17.8\n"),
            "modinfo -F signer nvidia": ok("", "modinfo: ERROR: Module nvidia not found.\n", 1),
            "gpg --homedir * --show-keys *": ok(NVIDIA_FPR_COLONS),
            "sha256sum -- *": self._sha256,
            f"{hf.K3S_BIN} --version": self._k3s_version,
            "systemctl is-active --quiet k3s": lambda a: ok(code=0 if self.running else 3),
            "rc-service k3s status": lambda a: ok(code=0 if self.running else 3),
            "ls -1 *": self._ls,
        }
        self.host.on_run = self.on_run
        if k3s_installed:
            self._install(k3s_version, {})
            self.running = running
            self.api_up = running

    # ------------------------------------------------------------------ what commands do
    def _sha256(self, argv: list[str]) -> ProcResult:
        path = argv[-1]
        if path in self.host.files:
            data = self.host.files[path].encode()
        elif os.path.isfile(path):  # an airgap bundle the test wrote to disk, read where it lies
            data = Path(path).read_bytes()
        else:
            return ok("", f"sha256sum: {path}: No such file or directory\n", 1)
        return ok(f"{hashlib.sha256(data).hexdigest()}  {path}\n")

    def _k3s_version(self, argv: list[str]) -> ProcResult:
        if hf.K3S_BIN not in self.host.files or not self.version:
            return ok("", "not found", 127)
        return ok(f"k3s version {self.version} (1a2b3c4d)\ngo version go1.24.6\n")

    def _ls(self, argv: list[str]) -> ProcResult:
        d = argv[-1].rstrip("/") + "/"
        names = sorted({f[len(d) :].split("/")[0] for f in self.host.files if f.startswith(d)})
        return ok("".join(n + "\n" for n in names))

    def facts(self) -> HostFacts:
        from llmops_cli.adapters.hostfacts import gather_facts
        from llmops_cli.adapters.hosts import DryRunHost

        return gather_facts(DryRunHost(self.host), sudo_mode="root")  # type: ignore[arg-type]

    def _install(self, version: str, env: Mapping[str, str]) -> None:
        self.installs += 1
        self.version = version
        files = self.host.files
        files[hf.K3S_BIN] = f"k3s {version}"
        files[hf.K3S_UNINSTALL] = "#!/bin/sh\n"
        if self.init in hf.K3S_SERVICE:
            args = " ".join(a for a in self._last_args)
            files[hf.K3S_SERVICE[self.init]] = (
                f"[Service]\nExecStart=/usr/local/bin/k3s \\\n    {args or 'server'} \\\n\n"
                if self.init == "systemd"
                else f'#!/sbin/openrc-run\ncommand="/usr/local/bin/k3s"\ncommand_args="{args or "server"}\n    >>/var/log/k3s.log 2>&1"\n'
            )
            keep = {
                k: v for k, v in env.items() if k.startswith(("K3S_", "CONTAINERD_")) or k.lower().endswith("_proxy")
            }
            files[hf.K3S_SERVICE_ENV[self.init]] = "".join(f"{k}='{v}'\n" for k, v in sorted(keep.items()))
        files[hf.K3S_KUBECONFIG] = K3S_YAML
        files[hf.K3S_SQLITE_DB] = "sqlite"
        self.sim.k3s_started()
        self._containerd()
        if self.sim.node() is None:
            self.sim.add_node("laptop", cpus=8, memory_gib=32)
        self.running = True
        self.api_up = True

    def _containerd(self) -> None:
        runtimes = '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]\n'
        if self.gpu and self.nvidia_detected and "nvidia-container-runtime" in self.host.tools:
            runtimes += '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes."nvidia"]\n'
            # k3s adds a runtime for nvidia-container-runtime found on PATH (pkg/agent/containerd/nvidia.go).
            self.sim.runtime_handlers.add("nvidia")
        self.host.files[hf.K3S_CONTAINERD_CONFIG] = runtimes

    def _uninstall(self) -> None:
        for d in ("/etc/rancher/k3s", "/var/lib/rancher/k3s", "/run/k3s"):
            self.host.remove_tree(d)
        for f in (hf.K3S_BIN, hf.K3S_UNINSTALL, *hf.K3S_SERVICE.values(), *hf.K3S_SERVICE_ENV.values()):
            self.host.files.pop(f, None)
        self.sim.objects.clear()
        self.version = None
        self.running = self.api_up = False

    def on_run(self, host: FakeHost, argv: list[str], env: Mapping[str, str]) -> ProcResult | None:
        line = " ".join(argv)
        if argv[0] == "curl":
            dest, url = argv[argv.index("-o") + 1], argv[-1]
            if url == upstream.K3S_INSTALLER_URL:
                host.files[dest] = self.served_installer
            elif url.endswith("/gpgkey"):
                host.files[dest] = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n"
            else:
                host.files[dest] = f"# {url}\n"
            return None
        if (
            argv[0] == "sh"
            and len(argv) > 1
            and (argv[1] == "/tmp/k3s-install.abc123" or argv[1].endswith("install.sh"))
        ):
            self.installer_runs.append((argv, dict(env)))
            self._last_args = argv[2:]
            if self.kill_installer_after_binary:  # killed (Ctrl-C, power) after download_and_verify
                host.files[hf.K3S_BIN] = "k3s"
                self.version = env.get("INSTALL_K3S_VERSION")
                for f in hf.K3S_SERVICE.values():
                    host.files.pop(f, None)  # systemd_disable removed it before the kill
                self.running = self.api_up = False
                return ok("", "Terminated\n", 143)
            self._install(env.get("INSTALL_K3S_VERSION", PINNED), env)
            return None
        action = None
        if argv[:1] == ["systemctl"] and argv[-1] == "k3s":
            action = argv[1]
        elif argv[:2] == ["rc-service", "k3s"]:
            action = argv[2]
        if action in ("restart", "start"):
            if hf.K3S_BIN not in host.files or hf.K3S_SERVICE.get(self.init, "") not in host.files:
                return ok("", "Unit k3s.service not found.\n", 5)
            self.restarts += action == "restart"
            self.starts += action == "start"
            self._containerd()
            self.running = self.api_up = True
        elif action == "stop":
            self.stops += 1
            self.running = self.api_up = False
        if argv[0] == hf.K3S_UNINSTALL:
            self._uninstall()
        if argv[0] == "apt-get" and "install" in argv and any(a.startswith("nvidia-container-toolkit=") for a in argv):
            host.tools |= {"nvidia-container-runtime", "nvidia-ctk"}
        if argv[0] == "apt-get" and "remove" in argv:
            host.tools -= {"nvidia-container-runtime", "nvidia-ctk"}
        if argv[:2] == ["install", "-D"] or argv[:2] == ["install", "-m"]:
            src = argv[-2]
            on_disk = Path(src).read_text(errors="replace") if os.path.isfile(src) else ""
            host.files[argv[-1]] = host.files.get(src, on_disk)
        if argv[:2] == ["rm", "-f"] or argv[:2] == ["rm", "-rf"]:
            for path in argv[2:]:
                host.remove_tree(path)
        if argv[:2] == ["install", "-d"]:
            host.dirs.add(argv[-1])
        if argv[:2] == ["tar", "-czf"]:
            host.files[argv[2]] = "backup of " + line
        if argv[:2] == ["gpg", "--batch"] and "--dearmor" in argv:
            host.files[argv[argv.index("-o") + 1]] = "keyring"
        return None

    # ------------------------------------------------------------------ test helpers
    @property
    def app_health(self) -> str:
        return self.sim.app_health

    @app_health.setter
    def app_health(self, value: str) -> None:
        self.sim.app_health = value

    def kube_factory(self):  # type: ignore[no-untyped-def]
        from llmops_cli.errors import ClusterError

        def build() -> FakeKube:
            if hf.K3S_KUBECONFIG not in self.host.files:
                raise ClusterError("k3s.yaml does not exist yet", code="unreachable")
            return self.kube

        return build

    def sync(self, settings: Settings | None = None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
        """``llmops sync`` against this cluster (its host, facts and API), as ``environ``'s user."""
        from llmops_cli.cluster.sync import sync
        from llmops_cli.reporting import RecordingReporter

        return sync(
            settings or Settings(),
            host=self.host,
            facts=self.facts(),
            kube_factory=self.kube_factory(),
            env=None,
            reporter=RecordingReporter(),
            environ=dict(environ) if environ is not None else {},
        )


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    yield Cluster()
