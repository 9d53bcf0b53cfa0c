#!/usr/bin/env bash
# Installs the Debian 12 packages skouter needs.
#   deploy/install-deps.sh            everything to build, test and run the demo
#   deploy/install-deps.sh --runtime  only what skouterd and skouterctl need to run
#                                     (the runtime stage of deploy/container/Dockerfile)
# Idempotent: packages already present are left alone.
set -euo pipefail

mode=all
case "${1:-}" in
  "") ;;
  --runtime) mode=runtime ;;
  *)
    echo "usage: $0 [--runtime]" >&2
    exit 2
    ;;
esac

# The shared libraries skouterd and skouterctl link (ldd shows them), and iproute2 to
# look at routes and tc filters from inside the container.
runtime_packages=(
  libbpf1 libc-ares2 libldns3 libspdlog1.10 libfmt9 libyaml-cpp0.7 libre2-9
  libboost-program-options1.74.0 libssl3 libelf1 zlib1g iproute2
)

packages=(
  # build
  build-essential cmake pkg-config clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
  linux-libc-dev clang-format
  # libFuzzer and the sanitizer runtimes for clang 14 (tests/fuzz)
  libclang-rt-14-dev
  # libraries
  libc-ares-dev libldns-dev libboost-dev libboost-program-options-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev libyaml-cpp-dev nlohmann-json3-dev libre2-dev
  libssl-dev
  # lab and tests (tcpdump: the attack tests capture what reaches the lab's world)
  unbound dnsutils knot-dnsutils curl iproute2 python3 procps nftables openssl tcpdump
  # tests/deploy: the CRD schema and the rendered manifests
  python3-yaml python3-jsonschema
  # the Debian package (cpack -G DEB: dpkg-shlibdeps computes Depends, file finds the
  # binaries) and its install test on a debootstrapped Debian 12
  dpkg-dev file debootstrap
  # promtool, to check the metrics skouterd serves: in Debian 12 only the server package
  # carries it (its service is disabled below)
  prometheus
)
# tests/deploy renders deploy/kubernetes with `kubectl kustomize`. Debian's kubectl
# would clash with one installed otherwise (by the Google Cloud SDK, say), so it is
# added only when there is none.
command -v kubectl >/dev/null || packages+=(kubernetes-client)
if [ "$mode" = runtime ]; then
  packages=("${runtime_packages[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# No service of a package installed here may start: the lab runs its own unbound inside
# a namespace (the packaged one's trust-anchor refresh would reach out to the Internet),
# and the tests need promtool, not a Prometheus server on port 9090.
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
# Nor at the next boot: their packages enabled them.
services=()
for p in "${missing[@]}"; do
  case "$p" in
    unbound) services+=(unbound.service unbound-resolvconf.service) ;;
    prometheus) services+=(prometheus.service) ;;
  esac
done
if [ "${#services[@]}" -gt 0 ] && command -v systemctl >/dev/null; then
  if [ -d /run/systemd/system ]; then
    systemctl disable --now "${services[@]}" 2>/dev/null || true
  else
    systemctl disable "${services[@]}" 2>/dev/null || true
  fi
fi
