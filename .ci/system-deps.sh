#!/usr/bin/env bash
# System packages the integration tests use. Idempotent; Debian/Ubuntu, as root.
set -euo pipefail
# g++ and cmake build llama-cpp-python (the real small model of the LLM evaluation tests)
pkgs=(git openssh-server openssh-client iproute2 prometheus redis-server g++ cmake)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
