#!/usr/bin/env bash
# What --verify-answers adds to DNS latency (issue 13, item 4). Prints figures; never a
# test.
#
#   bench/verify_latency_bench.sh SKOUTERD
#
# On a fresh lab (tests/e2e/lab.sh, documentation addresses only), a client in the node
# looks up NAMES distinct names nK.wikipedia.org (each its own address, from the lab's
# unbound) one after another, then the same names again, and times each lookup from
# send to answer. Three setups, one after another, ROUNDS times over (interleaved, so
# drift on a shared machine hits all three alike):
#   bare     no skouterd: the resolver's own latency
#   judged   skouterd with a policy allowing *.wikipedia.org, --verify-answers off
#   verified the same with --verify-answers on (the default)
# Each skouterd starts with fresh state, so in `first` every address is new to it
# (with --verify-answers each is confirmed by a lookup of its own), and in `repeat` each
# is installed already (nothing to confirm). Prints median, p90 and p99 per setup and
# pass, in microseconds, over every round's lookups.
#
# Environment: NAMES (300, at most 300), ROUNDS (3), LAB (skvlat), OUT. Needs root.
set -euo pipefail

NAMES="${NAMES:-300}"
ROUNDS="${ROUNDS:-3}"
LAB="${LAB:-skvlat}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
LAB_SH="$HERE/tests/e2e/lab.sh"
STATE="/run/skouter-lab/$LAB"
RESOLVER=198.51.100.53

die() {
  echo "verify_latency_bench: $*" >&2
  exit 1
}

[[ $EUID -eq 0 ]] || die "must run as root"
[[ $# -eq 1 && -x "$1" ]] || die "usage: $0 SKOUTERD"
SKOUTERD="$1"
OUT="${OUT:-$(mktemp -d /tmp/verify-latency-bench-XXXXXX)}"
mkdir -p "$OUT"
echo "verify_latency_bench: output in $OUT" >&2

DAEMON_PID=""
stop_daemon() {
  if [[ -n "$DAEMON_PID" ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
  fi
  DAEMON_PID=""
  ip netns exec "$LAB-node" "$SKOUTERD" --detach --interface "$LAB-up" \
    --bpffs "$STATE/bpffs/skouter" >>"$OUT/skouterd.log" 2>&1 || true
}
cleanup() {
  local rc=$?
  stop_daemon
  "$LAB_SH" down "$LAB" >/dev/null 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT

mkdir -p "$OUT/policy"
cat >"$OUT/policy/bench.yaml" <<'EOF'
apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata:
  name: verify-latency-bench
spec:
  nodeSelector: {}
  rules:
    - domains: ['*.wikipedia.org']
EOF

# client.py NAMES PASS: one lookup at a time, each timed; prints one line of
# microseconds per lookup, and fails on a lookup without an address.
cat >"$OUT/client.py" <<'EOF'
import socket, struct, sys, time
names, label = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
for k in range(1, names + 1):
    name = f"n{k}.wikipedia.org"
    ident = k
    wire = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    query = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + wire + struct.pack("!HH", 1, 1)
    started = time.perf_counter_ns()
    s.sendto(query, ("198.51.100.53", 53))
    while True:
        answer, _ = s.recvfrom(4096)
        if struct.unpack("!H", answer[:2])[0] == ident:
            break
    elapsed = time.perf_counter_ns() - started
    if struct.unpack("!H", answer[6:8])[0] < 1:
        sys.exit(f"{label}: no address for {name}")
    print(elapsed // 1000)
EOF

"$LAB_SH" up "$LAB" >"$OUT/lab.txt" 2>&1 || die "lab.sh up failed, see $OUT/lab.txt"

start_daemon() {  # start_daemon [FLAG...]
  rm -rf "$STATE/bpffs/skouter"
  ip netns exec "$LAB-node" "$SKOUTERD" --policy "$OUT/policy" --interface "$LAB-up" \
    --trusted-dns "$RESOLVER" --bpffs "$STATE/bpffs/skouter" \
    --admin-socket "$STATE/skouterd.sock" "$@" >>"$OUT/skouterd.log" 2>&1 &
  DAEMON_PID=$!
  local i
  for ((i = 0; i < 200; i++)); do
    "$(dirname "$SKOUTERD")/skouterctl" --socket "$STATE/skouterd.sock" status >/dev/null 2>&1 &&
      return 0
    sleep 0.1
  done
  die "skouterd did not start, see $OUT/skouterd.log"
}

for ((round = 1; round <= ROUNDS; round++)); do
  for setup in bare judged verified; do
    case $setup in
      judged) start_daemon --verify-answers off ;;
      verified) start_daemon ;;
    esac
    for pass in first repeat; do
      "$LAB_SH" exec "$LAB" node python3 "$OUT/client.py" "$NAMES" "$setup-$pass" \
        >>"$OUT/$setup-$pass.txt" || die "$setup $pass failed"
    done
    if [[ $setup == verified ]]; then
      "$(dirname "$SKOUTERD")/skouterctl" --socket "$STATE/skouterd.sock" status -o json \
        >"$OUT/verified-status-$round.json"
    fi
    stop_daemon
  done
done

python3 - "$OUT" <<'EOF'
import statistics, sys
out = sys.argv[1]
print(f"{'setup':10} {'pass':7} {'lookups':>7} {'median':>8} {'p90':>8} {'p99':>8}  (µs)")
for setup in ("bare", "judged", "verified"):
    for phase in ("first", "repeat"):
        values = sorted(int(line) for line in open(f"{out}/{setup}-{phase}.txt"))
        q = statistics.quantiles(values, n=100)
        print(f"{setup:10} {phase:7} {len(values):7} {statistics.median(values):8.0f} "
              f"{q[89]:8.0f} {q[98]:8.0f}")
EOF
