#!/usr/bin/env bash
# What policing queries (spec.queries: deny) adds to a lookup the policy allows, against
# the same lookup without it, in the same run. Prints figures; never a test.
#
#   bench/query_bench.sh SKOUTERD
#
# On a fresh lab (tests/e2e/lab.sh, documentation addresses only) the lab's unbound
# answers every name below one.bench.example.com from its local zone (203.0.113.90).
# skouterd polices the node under three policies:
#   plain    `domains: ["*.one.bench.example.com"]`: queries not policed
#   listed   the same with `queries: deny`: the datapath finds the name under the
#            wildcard by itself (learnable_names) and lets the query go at once
#   judged   `regex: ['.*\.one\.bench\.example\.com']` with `queries: deny`: a name
#            only a regex allows; each query is held until the daemon has judged it
#            and sent it on its way
# ROUNDS times each, interleaved (plain, listed, judged, plain, ...) so drift on a
# shared machine hits all alike; each daemon starts with fresh state (pins removed).
# In each, a client on the node (python3, one UDP socket, perf_counter_ns) sends
# QUERIES A queries for fresh names (never cached: nK.one.bench.example.com, K unique
# per round and policy) one after another to 198.51.100.53 and times each from send to
# answer. Every answer is held by the daemon in all three (the answer path is the
# same); the difference of the medians is what holding the query adds.
# Prints per policy: queries, failed (no answer within 1 s or not NOERROR), median, p90,
# p99 in microseconds, each round's median, the difference to plain; then the judged
# daemon's .queries status per round (max_hold_ms, released, judged).
#
# Environment: LAB (skqry), QUERIES (1000), ROUNDS (3), OUT. Needs root and python3.
set -euo pipefail

LAB="${LAB:-skqry}"
QUERIES="${QUERIES:-1000}"
ROUNDS="${ROUNDS:-3}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
LAB_SH="$HERE/tests/e2e/lab.sh"
STATE="/run/skouter-lab/$LAB"
SOCK="$STATE/admin.sock"
PINS="$STATE/bpffs/skouter"
POLICIES=(plain listed judged)

die() {
  echo "query_bench: $*" >&2
  exit 1
}

[[ $EUID -eq 0 ]] || die "must run as root"
[[ $# -eq 1 && -x "$1" ]] || die "usage: $0 SKOUTERD"
SKOUTERD="$(realpath "$1")"
command -v python3 >/dev/null || die "'python3' not found"
OUT="${OUT:-$(mktemp -d /tmp/query-bench.XXXXXX)}"
mkdir -p "$OUT"
echo "query_bench: output in $OUT" >&2

# shellcheck source=bench/lab_daemon.sh
source "$HERE/bench/lab_daemon.sh"
cleanup() {
  local rc=$?
  stop_daemon_and_lab
  exit "$rc"
}
trap cleanup EXIT

for policy in "${POLICIES[@]}"; do
  mkdir -p "$OUT/policy-$policy"
  {
    printf 'apiVersion: egress.skouter/v1alpha1\nkind: Egress\nmetadata:\n  name: query-bench\n'
    printf 'spec:\n  nodeSelector: {}\n'
    [[ $policy != plain ]] && printf '  queries: deny\n'
    if [[ $policy == judged ]]; then
      printf "  rules:\n    - regex: ['.*\\\\.one\\\\.bench\\\\.example\\\\.com']\n"
    else
      printf '  rules:\n    - domains: ["*.one.bench.example.com"]\n'
    fi
  } >"$OUT/policy-$policy/bench.yaml"
done

"$LAB_SH" up "$LAB" >"$OUT/lab.txt" 2>&1 || die "lab.sh up failed, see $OUT/lab.txt"

CLIENT='
import random, socket, struct, sys, time
count, prefix = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
s.connect(("198.51.100.53", 53))
for k in range(count):
    qid = random.randrange(65536)
    name = f"{prefix}{k}.one.bench.example.com"
    wire = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    query = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + wire + struct.pack("!HH", 1, 1)
    start = time.perf_counter_ns()
    s.send(query)
    try:
        while True:
            answer = s.recv(4096)
            if answer[:2] == query[:2]:
                break
        took = time.perf_counter_ns() - start
        print(took, answer[3] & 0x0F)
    except socket.timeout:
        print(-1, -1)
'

measure() { # ROUND POLICY
  local dir="$OUT/round$1-$2"
  mkdir -p "$dir"
  start_daemon "$OUT/policy-$2"
  ip netns exec "$LAB-node" python3 -c "$CLIENT" "$QUERIES" "r$1$2q" >"$dir/queries.txt" || true
  curl -s --unix-socket "$SOCK" http://skouterd/v1/status >"$dir/status.json" || true
  stop_daemon
}

for ((round = 1; round <= ROUNDS; round++)); do
  for policy in "${POLICIES[@]}"; do
    measure "$round" "$policy"
  done
done

python3 - "$OUT" "$ROUNDS" "$QUERIES" <<'EOF'
import json, math, statistics, sys
out, rounds, queries = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
policies = ("plain", "listed", "judged")

def pct(values, p):  # nearest rank
    if not values:
        return float("nan")
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]

print("lookup (send to answer, one query at a time), microseconds")
print(f"  {'policy':8} {'queries':>7} {'failed':>6} {'median':>8} {'p90':>8} {'p99':>8}  per-round medians")
figures = {}
for policy in policies:
    values, failed, medians = [], 0, []
    for r in range(1, rounds + 1):
        ok = []
        for line in open(f"{out}/round{r}-{policy}/queries.txt"):
            ns, rcode = (int(x) for x in line.split())
            if ns < 0 or rcode != 0:
                failed += 1
            else:
                ok.append(ns / 1000)
        values += ok
        medians.append(f"{statistics.median(ok):.0f}" if ok else "-")
    failed = rounds * queries - len(values)  # no answer, not NOERROR, or never sent
    figures[policy] = [pct(values, 50), pct(values, 90), pct(values, 99)]
    print(f"  {policy:8} {rounds * queries:7} {failed:6} "
          + " ".join(f"{x:8.0f}" for x in figures[policy]) + "  " + " ".join(medians))
for policy in ("listed", "judged"):
    d = [a - b for a, b in zip(figures[policy], figures["plain"])]
    print(f"  {policy + ' - plain':24} " + " ".join(f"{x:+8.0f}" for x in d))
print()
for policy in ("listed", "judged"):
    print(f"{policy} daemon's .queries, per round:")
    for r in range(1, rounds + 1):
        try:
            q = json.load(open(f"{out}/round{r}-{policy}/status.json"))["queries"]
        except Exception as e:  # noqa: BLE001
            print(f"  round {r}: no status ({e})")
            continue
        judged = ", ".join(f"{j['verdict']} {j['reason']}: {j['queries']}" for j in q.get("judged", []))
        print(f"  round {r}: allowed_by_datapath {q.get('allowed_by_datapath')}, held {q.get('held')}, "
              f"released {q.get('released')}, max_hold_ms {q.get('max_hold_ms', 0):.3f}, judged [{judged}]")
EOF
echo "raw: $OUT (roundN-POLICY/queries.txt: nanoseconds rcode per query, status.json)"
