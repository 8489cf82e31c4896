#!/usr/bin/env bash
# System packages the tests use. Idempotent; Debian/Ubuntu, as root.
set -euo pipefail
# git: evidence bundles record the commit; prometheus: promtool proves the alert rules; redis-server: shared
# gateway rate limits; prometheus-postgres-exporter: `llmops verify`'s pgvector target; sudo: privilege
# handling runs the real sudo as a throwaway user; g++ and cmake build llama-cpp-python (the real small model
# of the LLM evaluation tests); prometheus-alertmanager: amtool and a real Alertmanager route the risk alerts;
# openssh-server, openssh-client and iproute2: `promote` and `doctor --host` are tested against real sshd in
# network namespaces standing in for cloud VMs (tests/sshvm.py); busybox: the push Job's shell, tar and find as
# the alpine/git image has them (tests/render/test_git_client_contract.py); docker-registry (distribution
# 2.8.2, ~5 MB): `promote` resolves image tags to digests against a real registry on loopback
# (tests/promote/registry.py).
pkgs=(git prometheus prometheus-postgres-exporter prometheus-alertmanager redis-server sudo g++ cmake openssh-server
  openssh-client iproute2 busybox docker-registry)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
