#!/usr/bin/env bash
# Installs every Debian 12 package skouter needs to build, test and run its demo.
# Idempotent: packages already present are left alone.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
  linux-libc-dev clang-format
  # libFuzzer and the sanitizer runtimes for clang 14 (tests/fuzz)
  libclang-rt-14-dev
  # libraries
  libc-ares-dev libldns-dev libboost-dev libboost-program-options-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev libyaml-cpp-dev nlohmann-json3-dev libre2-dev
  # lab and tests
  unbound dnsutils knot-dnsutils curl iproute2 python3 procps
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The lab runs its own unbound inside a namespace. The packaged service must not
# start: its trust-anchor refresh would reach out to the Internet.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl disable --now unbound.service unbound-resolvconf.service 2>/dev/null || true
fi
