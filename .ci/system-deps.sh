#!/usr/bin/env bash
# System packages the integration tests use. Idempotent; Debian/Ubuntu, as root.
set -euo pipefail
pkgs=(git openssh-server openssh-client iproute2 prometheus prometheus-postgres-exporter prometheus-alertmanager redis-server)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
