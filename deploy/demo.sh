#!/usr/bin/env bash
# The seed example, live: builds skouter, starts a lab (a "world" namespace with a
# real unbound and HTTP servers, a "node" namespace behind it), runs skouterd on the
# node with deploy/examples/egress-example.yaml, and shows that allowed names work
# while every other name times out. Needs root; cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $EUID -ne 0 ]]; then
  echo "deploy/demo.sh: run as root (BPF programs and network namespaces)" >&2
  exit 1
fi

bash deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target skouterd skouterctl >/dev/null

lab=demo$$
lab=${lab:0:8}
socket=/run/skouter-lab/$lab/skouterd.sock
daemon_pid=
cleanup() {
  [[ -n "$daemon_pid" ]] && kill "$daemon_pid" 2>/dev/null
  bash tests/e2e/lab.sh down "$lab" >/dev/null 2>&1 || true
}
trap cleanup EXIT

bash tests/e2e/lab.sh up "$lab"
ip netns exec "$lab-node" build/bin/skouterd \
  --policy deploy/examples/egress-example.yaml \
  --interface "$lab-up" --trusted-dns 198.51.100.53 --trusted-dns '[2001:db8:1::53]' \
  --bpffs "/run/skouter-lab/$lab/bpffs/skouter" --admin-socket "$socket" \
  >"/run/skouter-lab/$lab/skouterd.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do
  build/bin/skouterctl --socket "$socket" status >/dev/null 2>&1 && break
  sleep 0.1
done

echo
echo "== The policy (deploy/examples/egress-example.yaml) =="
cat deploy/examples/egress-example.yaml
echo
echo "== From the node, with skouterd enforcing it =="
try() {
  local label=$1
  shift
  printf '%-50s ' "$label"
  local started=$SECONDS out
  if out=$(ip netns exec "$lab-node" curl -sS --max-time 3 "$@" 2>&1); then
    echo "OK       $out"
  else
    echo "BLOCKED  (no connection after $((SECONDS - started))s: ${out##*: })"
  fi
}
try "curl http://example.com/            (domain)" http://example.com/
try "curl -6 http://httpbin.org/         (domain)" -6 http://httpbin.org/
try "curl http://de.wikipedia.org/       (regex)" http://de.wikipedia.org/
try "curl http://alias.wikipedia.org/    (CNAME)" http://alias.wikipedia.org/
try "curl http://github.com/             (not allowed)" http://github.com/
try "curl http://wikipedia.org.attacker.test/" http://wikipedia.org.attacker.test/

echo
echo "== skouterctl entries =="
build/bin/skouterctl --socket "$socket" entries
echo
echo "== skouterd log =="
cat "/run/skouter-lab/$lab/skouterd.log"
