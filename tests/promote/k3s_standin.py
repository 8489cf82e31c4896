"""What a cloud VM has and these test VMs do not: systemd, and k3s. The stand-ins record what they are asked to
do, and refuse what the real programs refuse where `promote` depends on it:

- ``systemctl`` (in the VM's /usr/local/bin): ``start``/``restart`` of a unit whose file does not exist fails
  ("Unit X.service not found.", exit 5); ``is-active`` answers from the unit's state; every call is logged.
  Starting ``k3s`` does what a k3s server does at start: writes /etc/rancher/k3s/k3s.yaml (0600; the VM's
  /etc/llmops-standin/k3s.yaml when a test gave it one, see k3s_api.py) and, once, the
  server token; a server started with ``cluster-init`` creates the etcd data directory. Starting a node that
  joins (``server:`` in its drop-in) fails unless its ``token-file`` exists and is not empty (k3s cannot join
  without a token).
- ``install.sh`` (the airgap bundle's installer): checks INSTALL_K3S_SKIP_DOWNLOAD and that /usr/local/bin/k3s is
  executable (verify_k3s_is_executable), takes the command from its first argument (server unless ``agent``),
  names the service k3s or k3s-agent (SYSTEM_NAME), writes the unit with ExecStart in install.sh's layout, the
  environment file (K3S_* and proxies: create_env_file), the uninstall script, then enables and restarts the
  service, as install.sh does (k3s-io/k3s install.sh). Each run appends its arguments and INSTALL_K3S_*/K3S_*
  environment to /var/log/llmops-standin/installer.log (and the time of the last run, in ns, to installer.at;
  ``systemctl`` keeps each unit's last start time in /run/standin-systemd/<unit>.started).
- ``k3s`` (the bundle's binary): ``--version`` prints the pinned release as the real binary does.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from llmops_cli import versions

LOG_DIR = "/var/log/llmops-standin"
STATE_DIR = "/run/standin-systemd"

SYSTEMCTL = rf"""#!/bin/sh
# stand-in for systemctl (tests/promote/k3s_standin.py)
mkdir -p {LOG_DIR} {STATE_DIR}
echo "$*" >> {LOG_DIR}/systemctl.log
action=$1; shift
[ "$action" = is-active ] && [ "$1" = --quiet ] && shift
unit=${{1%.service}}
case $action in
  daemon-reload|enable|disable) exit 0 ;;
  is-active)
    [ -f /etc/systemd/system/$unit.service ] && [ -f {STATE_DIR}/$unit.active ] && exit 0
    exit 3 ;;
  stop) rm -f {STATE_DIR}/$unit.active; exit 0 ;;
  start|restart)
    if [ ! -f /etc/systemd/system/$unit.service ]; then echo "Unit $unit.service not found." >&2; exit 5; fi
    conf=/etc/rancher/k3s/config.yaml.d/50-llmops.yaml
    if grep -q '^server:' $conf 2>/dev/null; then
      tf=$(sed -n 's/^token-file: *"\{{0,1\}}\([^"]*\)"\{{0,1\}}$/\1/p' $conf)
      if [ -z "$tf" ] || [ ! -s "$tf" ]; then
        echo "Job for $unit.service failed: no token to join with" >&2; exit 1
      fi
    fi
    if [ "$unit" = k3s ]; then
      mkdir -p /etc/rancher/k3s /var/lib/rancher/k3s/server
      chmod 700 /var/lib/rancher/k3s/server
      if [ ! -s /var/lib/rancher/k3s/server/token ]; then
        (umask 077; printf 'K10%s::server:%s\n' "$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')" \
          "$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')" > /var/lib/rancher/k3s/server/token)
      fi
      if grep -q '^cluster-init: true' $conf 2>/dev/null || grep -q '^server:' $conf 2>/dev/null; then
        mkdir -p /var/lib/rancher/k3s/server/db/etcd
      else
        mkdir -p /var/lib/rancher/k3s/server/db && touch /var/lib/rancher/k3s/server/db/state.db
      fi
      if [ -f /etc/llmops-standin/k3s.yaml ]; then
        (umask 077; cp /etc/llmops-standin/k3s.yaml /etc/rancher/k3s/k3s.yaml)
      else
      (umask 077; cat > /etc/rancher/k3s/k3s.yaml <<EOF
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0E=
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {{}}
users:
- name: default
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
EOF
)
      fi
    fi
    touch {STATE_DIR}/$unit.active
    date +%s%N > {STATE_DIR}/$unit.started
    exit 0 ;;
  *) echo "stand-in systemctl: $action is not simulated" >&2; exit 1 ;;
esac
"""

INSTALLER = rf"""#!/bin/sh
# stand-in for k3s's install.sh (tests/promote/k3s_standin.py)
set -e
mkdir -p {LOG_DIR}
{{ echo "run: $*"; env | grep -E '^(INSTALL_K3S_|K3S_)' | sort | sed 's/^/env: /'; }} >> {LOG_DIR}/installer.log
date +%s%N > {LOG_DIR}/installer.at
[ "$INSTALL_K3S_SKIP_DOWNLOAD" = true ] || {{ echo '[ERROR]  no network in this test: download refused' >&2; exit 1; }}
[ -x /usr/local/bin/k3s ] || {{ echo '[ERROR]  Executable k3s binary not found at /usr/local/bin/k3s' >&2; exit 1; }}
case "$1" in
  -*|"") cmd=server ;;
  *) cmd=$1; shift ;;
esac
if [ "$cmd" = server ]; then name=k3s; else name=k3s-$cmd; fi
mkdir -p /etc/systemd/system
{{
  echo "[Service]"
  printf 'ExecStart=/usr/local/bin/k3s \\\n    %s \\\n' "$cmd"
  for a in "$@"; do printf "\t'%s' \\\n" "$a"; done
  echo
}} > /etc/systemd/system/$name.service
env | grep -E '^(K3S_|CONTAINERD_)' > /etc/systemd/system/$name.service.env || true
chmod 600 /etc/systemd/system/$name.service.env
printf '#!/bin/sh\necho uninstall\n' > /usr/local/bin/$name-uninstall.sh
chmod 755 /usr/local/bin/$name-uninstall.sh
systemctl daemon-reload
systemctl enable $name
systemctl restart $name
echo "[INFO]  systemd: Starting $name"
"""

K3S_BINARY = f"""#!/bin/sh
# stand-in for the k3s binary (tests/promote/k3s_standin.py)
case "$1" in
  --version) echo "k3s version {versions.K3S_VERSION} (0123abcd)"; echo "go version go1.24.4" ;;
  *) echo "stand-in k3s: $*" >> {LOG_DIR}/k3s.log ;;
esac
"""


def vm_files() -> dict[str, tuple[str, int]]:
    """What every stand-in VM starts with (for tests.sshvm.Vms.start)."""
    return {"/usr/local/bin/systemctl": (SYSTEMCTL, 0o755)}


def airgap_bundle(root: Path) -> Path:
    """An airgap bundle folder whose install.sh and k3s binary are the stand-ins (tests pin the installer's hash
    to this one's, as tests/cluster/conftest.py does for its simulated download)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "install.sh").write_text(INSTALLER)
    (root / "k3s").write_text(K3S_BINARY)
    (root / "k3s").chmod(0o755)
    images = root / "k3s-airgap-images-amd64.tar.zst"
    images.write_bytes(b"images of " + versions.K3S_VERSION.encode() * 1000)
    sums = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in (root / "k3s", images))
    (root / "sha256sum-amd64.txt").write_text(sums)
    return root


def installer_sha256() -> str:
    return hashlib.sha256(INSTALLER.encode()).hexdigest()
