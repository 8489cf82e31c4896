"""What a command on an SSH host costs: SshHost (a shell kept open over one connection) beside the baseline of
one `ssh HOST CMD` per command (as k3sup and most scripts do), with and without a shared ControlMaster, and how
long `gather_facts` (what doctor --host and every promote plan start with) takes.

Needs root (a stand-in VM: real sshd in a network namespace, tests/sshvm.py); prints nothing useful elsewhere.

    PYTHONPATH=. python benchmarks/ssh_host.py
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

N = 50


def main() -> None:
    from tests.sshvm import usable, vms

    why = usable()
    if why:
        print(f"skipped: {why}")
        return
    from llmops_cli.adapters.hostfacts import gather_facts
    from llmops_cli.adapters.ssh import SshTarget, connect, ssh_options

    with tempfile.TemporaryDirectory() as d, vms(Path(d)) as group:
        vm = group.start("bench")
        group.trust(vm)
        target = SshTarget(vm.address, user="root", config=str(group.ssh_config))
        dest = target.destination

        t0 = time.perf_counter()
        for _ in range(N):
            subprocess.run(["ssh", *ssh_options(target), dest, "true"], check=True, capture_output=True)
        plain = (time.perf_counter() - t0) / N

        control = f"{d}/cm-%C"
        opts = ssh_options(target, control=control)
        subprocess.run(["ssh", *opts, dest, "true"], check=True, capture_output=True)
        t0 = time.perf_counter()
        for _ in range(N):
            subprocess.run(["ssh", *opts, dest, "true"], check=True, capture_output=True)
        muxed = (time.perf_counter() - t0) / N
        subprocess.run(["ssh", *opts, "-O", "exit", dest], check=False, capture_output=True)

        t0 = time.perf_counter()
        host = connect(target)
        opened = time.perf_counter() - t0
        with host:
            host.run(["true"])
            t0 = time.perf_counter()
            for _ in range(N):
                host.run(["true"])
            session = (time.perf_counter() - t0) / N
            t0 = time.perf_counter()
            gather_facts(host)
            facts = time.perf_counter() - t0
    print(f"{'per command':<44}{'ms':>10}")
    print(f"{'ssh HOST CMD, new connection (baseline)':<44}{plain * 1000:>10.1f}")
    print(f"{'ssh HOST CMD over a ControlMaster':<44}{muxed * 1000:>10.1f}")
    print(f"{'SshHost.run (open shell, one connection)':<44}{session * 1000:>10.1f}")
    print(f"{'SshHost connect (host key probe + session)':<44}{opened * 1000:>10.1f}")
    print(f"{'gather_facts over SSH':<44}{facts * 1000:>10.1f}")


if __name__ == "__main__":
    main()
