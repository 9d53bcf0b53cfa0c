#!/usr/bin/env bash
# Memory of skouterd under answer floods (issue 13, item 2). Prints figures; never a test.
#
#   bench/answer_memory_bench.sh [LABEL=]SKOUTERD [[LABEL=]SKOUTERD ...]
#
# For each skouterd binary in turn (skouterctl is taken from the same directory), on
# a fresh lab (tests/e2e/lab.sh, documentation addresses only), with a policy that
# allows *.bench.example.com:
#   nx    LOOKUPS lookups (dnsperf, from the node) of distinct random names
#         X.nx.bench.example.com: the resolver answers NXDOMAIN
#   one   LOOKUPS distinct names X.one.bench.example.com: one wildcard record, one
#         address (203.0.113.90)
#   many  LOOKUPS distinct names X.mK.bench.example.com, K = 0..2047 at random: 2048
#         wildcards, each with 4 addresses of its own (8192 addresses, 198.18.0.0/19)
#         and TTL 86400, as an accomplice's zone would have, so nothing expires during
#         the run: every address is answered for about LOOKUPS/2048 names, and the
#         answers carry 4 x LOOKUPS (name, address) pairs. With --max-names-per-ip 64
#         at most 8192 x 64 = 524,288 pairs stay, half of the learned_names map: with
#         more addresses the map fills first (1,048,576 pairs, after about 262,144
#         lookups with 65,536 addresses) and every later answer is dropped for want of
#         room (fail-closed), so dnsperf only counts timeouts from then on.
#   full  TCP_CONNS concurrent DNS-over-TCP connections to a trusted resolver, each
#         sending one query (a distinct name under one.bench.example.com), reading the
#         answer (203.0.113.90) and staying open while skouterd is measured
#   half  TCP_CONNS concurrent connections, each sending the length and half of a
#         query, and staying open while skouterd is measured
#   idle  IDLE_S seconds later
# The phases run one after another on one daemon, so state accumulates. After each,
# skouterd's VmRSS and VmHWM (/proc/PID/status) are read; growth is counted from the
# VmRSS read after start. The table goes to stdout; logs, dnsperf output and
# `skouterctl status -o json` after each phase go to $OUT (default a new /tmp dir).
#
# Environment: LOOKUPS (1000000), TCP_CONNS (10000), IDLE_S (30), LAB (skbench),
# DNSPERF_CLIENTS (4), DNSPERF_OUTSTANDING (200; with more, unbound starts dropping
# queries), OUT. Needs root; installs dnsperf
# with apt-get when it is missing.
#
# The lab's unbound gets, in the lab's own copy of its configuration and zone (then
# SIGHUP), the 2048 wildcard records of `many` and no per-query log. The TCP phases do
# not use unbound: it cannot keep 10,000 connections open here (its file limit, 20,000,
# cannot be raised, and it cuts idle connections to 200 ms once half of its TCP slots
# are in use). They go to a second trusted resolver, 198.51.100.54 on the world's side
# of the link (tcp_resolver.py below, written for this benchmark): it answers every
# query over TCP with one A record, 203.0.113.90, TTL 300, and never closes.
set -euo pipefail

readonly SOURCE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly LAB_SH="$SOURCE_DIR/tests/e2e/lab.sh"
readonly LOOKUPS="${LOOKUPS:-1000000}"
readonly TCP_CONNS="${TCP_CONNS:-10000}"
readonly IDLE_S="${IDLE_S:-30}"
readonly LAB="${LAB:-skbench}"
readonly DNSPERF_CLIENTS="${DNSPERF_CLIENTS:-4}"
readonly DNSPERF_OUTSTANDING="${DNSPERF_OUTSTANDING:-200}"
readonly RESOLVER=198.51.100.53
readonly TCP_RESOLVER=198.51.100.54
readonly STATE="/run/skouter-lab/$LAB"
readonly MIB=1048576

die() {
  echo "answer_memory_bench: $*" >&2
  exit 1
}

[[ $EUID -eq 0 ]] || die "must run as root"
[[ $# -ge 1 ]] || die "usage: $0 [LABEL=]SKOUTERD [[LABEL=]SKOUTERD ...]"
if ! command -v dnsperf >/dev/null; then
  apt-get install -y dnsperf >/dev/null || die "could not install dnsperf"
fi
OUT="${OUT:-$(mktemp -d /tmp/answer-memory-bench-XXXXXX)}"
mkdir -p "$OUT"
echo "answer_memory_bench: output in $OUT" >&2

# 10,000 sockets in the client and in the TCP resolver.
(( $(ulimit -Hn) > TCP_CONNS + 100 )) || die "ulimit -Hn is below $((TCP_CONNS + 100))"
ulimit -n "$(ulimit -Hn)"

DAEMON_PID=""
cleanup() {
  local rc=$?
  if [[ -n "$DAEMON_PID" ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
  fi
  "$LAB_SH" down "$LAB" >/dev/null 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT

# --- inputs, written once -----------------------------------------------------------

cat >"$OUT/policy.yaml" <<'EOF'
apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata:
  name: answer-memory-bench
spec:
  nodeSelector: {}
  rules:
    - domains: ['*.bench.example.com']
EOF
mkdir -p "$OUT/policy"
cp "$OUT/policy.yaml" "$OUT/policy/bench.yaml"

# *.mK.bench.example.com -> 198.18.(K / 64).((K % 64) * 4 + J), J = 0..3
python3 - "$OUT/many.zone" <<'EOF'
import sys
with open(sys.argv[1], "w") as out:
    for k in range(2048):
        for j in range(4):
            out.write(f"*.m{k}.bench.example.com. 86400 IN A 198.18.{k // 64}.{(k % 64) * 4 + j}\n")
EOF

cat >"$OUT/unbound-bench.conf" <<'EOF'

# answer_memory_bench.sh
server:
    log-queries: no
EOF

cat >"$OUT/tcp_resolver.py" <<'EOF'
# tcp_resolver.py ADDR: DNS over TCP on ADDR:53; answers every query with the question
# and one A record 203.0.113.90, TTL 300; keeps every connection open until the client
# closes it.
import asyncio, struct, sys

async def serve(reader, writer):
    try:
        while True:
            length = struct.unpack("!H", await reader.readexactly(2))[0]
            query = await reader.readexactly(length)
            end = 12
            while query[end] != 0:
                end += 1 + query[end]
            question = query[12 : end + 5]
            answer = (query[:2] + struct.pack("!HHHHH", 0x8500 | (query[2] & 1) << 8, 1, 1, 0, 0)
                      + question + struct.pack("!HHHIH", 0xC00C, 1, 1, 300, 4)
                      + bytes([203, 0, 113, 90]))
            writer.write(struct.pack("!H", len(answer)) + answer)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, IndexError):
        writer.close()

async def main():
    server = await asyncio.start_server(serve, sys.argv[1], 53, backlog=4096)
    print("LISTENING", flush=True)
    await server.serve_forever()

asyncio.run(main())
EOF

# Query files: distinct random names (16 random bytes as hex: no repeats in practice).
python3 - "$OUT" "$LOOKUPS" <<'EOF'
import os, random, sys
out, count = sys.argv[1], int(sys.argv[2])
rng = random.Random(13)
def label():
    return "%032x" % rng.getrandbits(128)
for variant in ("nx", "one", "many"):
    with open(os.path.join(out, f"queries-{variant}.txt"), "w") as f:
        for _ in range(count):
            zone = f"m{rng.randrange(2048)}" if variant == "many" else variant
            f.write(f"{label()}.{zone}.bench.example.com A\n")
EOF

cat >"$OUT/tcp_client.py" <<'EOF'
# tcp_client.py MODE COUNT HOLD_S: COUNT concurrent DNS-over-TCP connections to the lab
# resolver; MODE full sends one query and reads its answer, MODE half sends the length
# and half of a query. Prints READY when all are in that state, holds them HOLD_S
# seconds, closes them.
import asyncio, os, struct, sys

RESOLVER = "198.51.100.54"

def query(qid, name):
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    qname = b"".join(bytes([len(p)]) + p for p in name.encode().split(b".")) + b"\0"
    return header + qname + struct.pack("!HH", 1, 1)

async def one(i, mode, gate, stats, writers):
    async with gate:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(RESOLVER, 53), 30)
        except Exception:
            stats["connect_failed"] += 1
            return
        writers.append(writer)
        msg = query(i & 0xFFFF, "%s.one.bench.example.com" % os.urandom(16).hex())
        framed = struct.pack("!H", len(msg)) + msg
        if mode == "half":
            writer.write(framed[: 2 + len(msg) // 2])
            await writer.drain()
            stats["ok"] += 1
            return
        writer.write(framed)
        await writer.drain()
        try:
            length = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 30))[0]
            answer = await asyncio.wait_for(reader.readexactly(length), 30)
            stats["ok" if answer[3] & 0x0F == 0 else "rcode_not_0"] += 1
        except Exception:
            stats["no_answer"] += 1

async def main():
    mode, count, hold = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    stats = {"ok": 0, "connect_failed": 0, "no_answer": 0, "rcode_not_0": 0}
    writers = []
    gate = asyncio.Semaphore(256)  # connections being opened at once
    await asyncio.gather(*(one(i, mode, gate, stats, writers) for i in range(count)))
    open_now = sum(1 for w in writers if not w.is_closing())
    print("READY", f"open={open_now}", " ".join(f"{k}={v}" for k, v in stats.items()),
          flush=True)
    await asyncio.sleep(hold)
    for w in writers:
        w.close()
    await asyncio.sleep(1)
    print("CLOSED", flush=True)

asyncio.run(main())
EOF

# --- one daemon ---------------------------------------------------------------------

kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }

RESULTS="$OUT/results.tsv"
: >"$RESULTS"

record() {  # record LABEL PHASE NOTE
  local rss hwm
  rss=$(kib "$DAEMON_PID" VmRSS)
  hwm=$(kib "$DAEMON_PID" VmHWM)
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$rss" "$hwm" "$3" >>"$RESULTS"
  "$CTL" --socket "$STATE/skouterd.sock" status -o json >"$OUT/$1-$2-status.json" 2>&1 || true
  printf '  %-5s VmRSS %6.1f MiB  VmHWM %6.1f MiB  %s\n' "$2" "$(bc -l <<<"$rss/1024")" \
    "$(bc -l <<<"$hwm/1024")" "$3" >&2
}

dnsperf_phase() {  # dnsperf_phase LABEL VARIANT
  local log="$OUT/$1-$2-dnsperf.txt" sent completed lost qps codes
  "$LAB_SH" exec "$LAB" node dnsperf -s "$RESOLVER" -d "$OUT/queries-$2.txt" -n 1 \
    -c "$DNSPERF_CLIENTS" -q "$DNSPERF_OUTSTANDING" -t 5 >"$log" 2>&1 ||
    die "dnsperf failed, see $log"
  sent=$(awk '/Queries sent:/ {print $3}' "$log")
  completed=$(awk '/Queries completed:/ {print $3}' "$log")
  lost=$(awk '/Queries lost:/ {print $3}' "$log")
  qps=$(awk '/Queries per second:/ {printf "%d", $4}' "$log")
  codes=$(awk -F': *' '/Response codes:/ {print $2}' "$log" | tr -d ',' | tr ' ' '_')
  record "$1" "$2" "sent=$sent completed=$completed lost=$lost qps=$qps codes=$codes"
}

tcp_phase() {  # tcp_phase LABEL MODE
  local log="$OUT/$1-$2-tcp.txt" client i
  : >"$log"
  "$LAB_SH" exec "$LAB" node python3 "$OUT/tcp_client.py" "$2" "$TCP_CONNS" 5 >"$log" 2>&1 &
  client=$!
  for ((i = 0; i < 1200; i++)); do
    grep -q '^READY' "$log" && break
    kill -0 "$client" 2>/dev/null || break
    sleep 0.5
  done
  grep -q '^READY' "$log" || die "the TCP client did not get its connections up, see $log"
  sleep 1
  record "$1" "$2" "$(grep '^READY' "$log" | cut -d' ' -f2-)"
  wait "$client" || die "the TCP client failed, see $log"
}

run_daemon() {  # run_daemon LABEL SKOUTERD
  local label=$1 skouterd=$2 i
  CTL="$(dirname "$skouterd")/skouterctl"
  [[ -x "$skouterd" && -x "$CTL" ]] || die "$skouterd or $CTL is missing"
  echo "== $label: $skouterd ($("$skouterd" --version 2>&1 | head -1))" >&2

  "$LAB_SH" up "$LAB" >"$OUT/$label-lab.txt" 2>&1 || die "lab.sh up failed, see $OUT/$label-lab.txt"
  cat "$OUT/many.zone" >>"$STATE/lab.zone"
  cat "$OUT/unbound-bench.conf" >>"$STATE/unbound.conf"
  unbound-checkconf "$STATE/unbound.conf" >/dev/null
  kill -HUP "$(cat "$STATE/unbound.pid")"
  for ((i = 0; i < 100; i++)); do
    [[ "$("$LAB_SH" exec "$LAB" node dig +time=1 +tries=1 +short @"$RESOLVER" x.m2047.bench.example.com A |
      wc -l)" == 4 ]] && break
    sleep 0.2
  done
  ((i < 100)) || die "unbound did not load the bench zone"
  ip -n "$LAB-world" addr add "$TCP_RESOLVER/24" dev "$LAB-dn"
  # Ports for two rounds of TCP_CONNS connections (the first round's stay in TIME_WAIT).
  ip netns exec "$LAB-node" sysctl -qw net.ipv4.ip_local_port_range="10000 65000"
  ip netns exec "$LAB-world" python3 "$OUT/tcp_resolver.py" "$TCP_RESOLVER" \
    >"$OUT/$label-tcp-resolver.txt" 2>&1 &
  for ((i = 0; i < 100; i++)); do
    [[ "$("$LAB_SH" exec "$LAB" node dig +tcp +time=1 +tries=1 +short @"$TCP_RESOLVER" x.one.bench.example.com A)" == 203.0.113.90 ]] && break
    sleep 0.2
  done
  ((i < 100)) || die "the TCP resolver does not answer, see $OUT/$label-tcp-resolver.txt"

  ip netns exec "$LAB-node" "$skouterd" --policy "$OUT/policy" --interface "$LAB-up" \
    --trusted-dns "$RESOLVER" --trusted-dns '[2001:db8:1::53]' --trusted-dns "$TCP_RESOLVER" --bpffs "$STATE/bpffs/skouter" \
    --admin-socket "$STATE/skouterd.sock" >"$OUT/$label-skouterd.log" 2>&1 &
  DAEMON_PID=$!
  for ((i = 0; i < 200; i++)); do
    "$CTL" --socket "$STATE/skouterd.sock" status >/dev/null 2>&1 && break
    kill -0 "$DAEMON_PID" 2>/dev/null || die "skouterd exited, see $OUT/$label-skouterd.log"
    sleep 0.1
  done
  ((i < 200)) || die "skouterd did not answer, see $OUT/$label-skouterd.log"
  [[ "$(readlink "/proc/$DAEMON_PID/exe")" == "$(readlink -f "$skouterd")" ]] ||
    die "pid $DAEMON_PID is not skouterd"
  # The firewall is on: an allowed name answers, a denied address does not connect.
  "$LAB_SH" exec "$LAB" node dig +short @"$RESOLVER" x.one.bench.example.com A | grep -qx 203.0.113.90 ||
    die "allowed lookup failed"
  ! "$LAB_SH" exec "$LAB" node curl -s --max-time 1 http://203.0.113.10/ >/dev/null ||
    die "the firewall is not enforcing (203.0.113.10 reachable)"
  sleep 2
  record "$label" start ""

  dnsperf_phase "$label" nx
  dnsperf_phase "$label" one
  dnsperf_phase "$label" many
  tcp_phase "$label" full
  tcp_phase "$label" half
  sleep "$IDLE_S"
  record "$label" idle "after ${IDLE_S} s"

  kill -TERM "$DAEMON_PID"
  wait "$DAEMON_PID" || true
  DAEMON_PID=""
  ip netns exec "$LAB-node" "$skouterd" --detach --interface "$LAB-up" --bpffs "$STATE/bpffs/skouter" \
    >>"$OUT/$label-skouterd.log" 2>&1 || echo "skouterd --detach failed" >&2
  "$LAB_SH" down "$LAB" >>"$OUT/$label-lab.txt" 2>&1
}

labels=()
for arg in "$@"; do
  if [[ "$arg" == *=* ]]; then
    label=${arg%%=*} binary=${arg#*=}
  else
    label=$(basename "$(dirname "$(dirname "$arg")")") binary=$arg
  fi
  labels+=("$label")
  run_daemon "$label" "$binary"
done

# --- table --------------------------------------------------------------------------

python3 - "$RESULTS" "$LOOKUPS" "$TCP_CONNS" "$IDLE_S" "${labels[@]}" <<'EOF'
import sys
path, lookups, conns, idle = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
labels = sys.argv[5:]
rows = [line.rstrip("\n").split("\t") for line in open(path)]
data = {(r[0], r[1]): (int(r[2]) / 1024, int(r[3]) / 1024, r[4]) for r in rows}
phases = ["start", "nx", "one", "many", "full", "half", "idle"]
what = {
    "start": "after start",
    "nx": f"{lookups:,} random names, NXDOMAIN",
    "one": f"{lookups:,} random names, 1 address",
    "many": f"{lookups:,} random names, 4 of 8192 addresses",
    "full": f"{conns:,} TCP connections open, 1 query each",
    "half": f"{conns:,} TCP connections open, half a query each",
    "idle": f"{idle} s idle",
}
print("| phase | " + " | ".join(f"{l}: VmRSS MiB (growth) | {l}: VmHWM MiB" for l in labels) + " |")
print("|---|" + "---|---|" * len(labels))
for p in phases:
    cells = []
    for l in labels:
        if (l, p) not in data:
            cells += ["-", "-"]
            continue
        rss, hwm, _ = data[(l, p)]
        base = data[(l, "start")][0]
        cells += [f"{rss:.1f} ({rss - base:+.1f})", f"{hwm:.1f}"]
    print(f"| {what[p]} | " + " | ".join(cells) + " |")
print()
for l in labels:
    base = data[(l, "start")][0]
    peak = max(v[1] for (ll, _), v in data.items() if ll == l)
    final = data[(l, "idle")][0] if (l, "idle") in data else float("nan")
    verdict = "within" if peak - base <= 64 else "OVER"
    print(f"{l}: peak growth (VmHWM - start VmRSS) {peak - base:.1f} MiB, "
          f"after idle {final - base:+.1f} MiB: {verdict} the 64 MiB bound")
for r in rows:
    if r[4]:
        print(f"{r[0]} {r[1]}: {r[4]}")
EOF
