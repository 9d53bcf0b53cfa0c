#!/usr/bin/env bash
# What the server-name check (spec.tls.verifySNI: the TLS SNI / QUIC Initial check)
# adds to the first data packet of a new flow, against the same flow without the
# check, in the same run. Prints figures; never a test.
#
#   bench/server_name_bench.sh SKOUTERD
#
# On a fresh lab (tests/e2e/lab.sh, documentation addresses only) the world serves
# shop.cdn.test (203.0.113.70, from the lab's zone) over HTTPS on port 8443
# (lab/http_server.py, a self-signed certificate made here, one thread per connection)
# and over QUIC on UDP 443 (skouter_quic_echo, which answers every datagram with "ok").
# skouterd polices the node with `domains: [shop.cdn.test]`, under two policies:
#   plain    the rule alone
#   checked  the same rule with spec.tls {verifySNI: true, ports: [443, 8443]}: the
#            first data packet of each new flow (the ClientHello, the QUIC Initial) is
#            held until the daemon has read the server name in it
# ROUNDS times each, interleaved (plain, checked, plain, ...) so drift on a shared
# machine hits both alike; each daemon starts with fresh state (pins removed) and the
# name is looked up once (getent) so the address is learned. Then, from the node:
#   TLS   CONNECTIONS sequential `curl -k -4 https://shop.cdn.test:8443/`, each a fresh
#         TCP+TLS connection; the figure is time_appconnect - time_connect, the TLS
#         handshake, which includes the hold of the ClientHello
#   QUIC  CONNECTIONS sequential skouter_quic_hello runs (one client Initial, wait for
#         the reply), each a fresh UDP flow, timed from the shell with `date +%s%N`
#         around the process: process start-up is included, alike for both policies,
#         so the difference of the two is the check's
# Prints per protocol and policy: connections, failed (an HTTP code other than 200; no
# QUIC reply within 1 s), median, p90 and p99 in ms over every round, each round's
# median, and checked - plain for the median, p90 and p99; then the checked daemon's
# status .server_names per round (max_hold_ms, released, packets_held, judged).
# Raw numbers, per round and policy, under OUT (printed at the end): tls.txt
# ("time_connect time_appconnect http_code" per connection, seconds), quic.txt
# ("nanoseconds exit_code" per run), status.json; skouterd.log, quic_echo.log.
#
# Environment: LAB (sksni), CONNECTIONS (200), ROUNDS (3), OUT. Needs root, openssl,
# curl, python3, and skouter_quic_echo and skouter_quic_hello next to SKOUTERD.
set -euo pipefail

LAB="${LAB:-sksni}"
CONNECTIONS="${CONNECTIONS:-200}"
ROUNDS="${ROUNDS:-3}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
LAB_SH="$HERE/tests/e2e/lab.sh"
STATE="/run/skouter-lab/$LAB"
SOCK="$STATE/admin.sock"
PINS="$STATE/bpffs/skouter"
SHARED=203.0.113.70

die() {
  echo "server_name_bench: $*" >&2
  exit 1
}

[[ $EUID -eq 0 ]] || die "must run as root"
[[ $# -eq 1 && -x "$1" ]] || die "usage: $0 SKOUTERD"
SKOUTERD="$(realpath "$1")"
BIN="$(dirname "$SKOUTERD")"
QUIC_ECHO="$BIN/skouter_quic_echo"
QUIC_HELLO="$BIN/skouter_quic_hello"
for binary in "$QUIC_ECHO" "$QUIC_HELLO"; do [[ -x "$binary" ]] || die "not executable: $binary"; done
for tool in openssl curl python3 ss; do command -v "$tool" >/dev/null || die "'$tool' not found"; done
OUT="${OUT:-$(mktemp -d /tmp/server-name-bench.XXXXXX)}"
mkdir -p "$OUT"
echo "server_name_bench: output in $OUT" >&2

# shellcheck source=bench/lab_daemon.sh
source "$HERE/bench/lab_daemon.sh"
HTTPS_PID=""
QUIC_PID=""
stop_process() { # PID
  [[ -n "$1" ]] || return 0
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  stop_process "$HTTPS_PID"
  stop_process "$QUIC_PID"
  stop_daemon_and_lab
  exit "$rc"
}
trap cleanup EXIT

for policy in plain checked; do
  mkdir -p "$OUT/policy-$policy"
  {
    printf 'apiVersion: egress.skouter/v1alpha1\nkind: Egress\nmetadata:\n  name: sni-bench\n'
    printf 'spec:\n  nodeSelector: {}\n'
    [[ $policy == checked ]] && printf '  tls: {verifySNI: true, ports: [443, 8443]}\n'
    printf '  rules:\n    - domains: [shop.cdn.test]\n'
  } >"$OUT/policy-$policy/bench.yaml"
done

"$LAB_SH" up "$LAB" >"$OUT/lab.txt" 2>&1 || die "lab.sh up failed, see $OUT/lab.txt"

# The world's servers: HTTPS on 8443 (every address), QUIC stand-in on SHARED:443/UDP.
ip netns exec "$LAB-world" openssl req -x509 -newkey rsa:2048 -nodes -days 1 \
  -subj /CN=shop.cdn.test -addext subjectAltName=DNS:shop.cdn.test \
  -keyout "$OUT/cdn.key" -out "$OUT/cdn.pem" >"$OUT/openssl.log" 2>&1 ||
  die "openssl req failed, see $OUT/openssl.log"
ip netns exec "$LAB-world" python3 "$HERE/tests/e2e/lab/http_server.py" --port 8443 \
  --tls-cert "$OUT/cdn.pem" --tls-key "$OUT/cdn.key" >"$OUT/https.log" 2>&1 &
HTTPS_PID=$!
ip netns exec "$LAB-world" "$QUIC_ECHO" --listen "$SHARED" --port 443 --log "$OUT/quic_echo.log" \
  >"$OUT/quic_echo.out" 2>&1 &
QUIC_PID=$!
for ((i = 0; ; i++)); do
  [[ -n "$(ip netns exec "$LAB-world" ss -Hltn 'sport = :8443')" &&
    -n "$(ip netns exec "$LAB-world" ss -Hlun 'sport = :443')" ]] && break
  kill -0 "$HTTPS_PID" 2>/dev/null || die "http_server.py exited, see $OUT/https.log"
  kill -0 "$QUIC_PID" 2>/dev/null || die "skouter_quic_echo exited, see $OUT/quic_echo.out"
  ((i < 100)) || die "the world's servers did not listen"
  sleep 0.1
done

measure() { # ROUND POLICY
  local dir="$OUT/round$1-$2"
  mkdir -p "$dir"
  start_daemon "$OUT/policy-$2"
  ip netns exec "$LAB-node" getent ahostsv4 shop.cdn.test >"$dir/getent.txt" ||
    die "round $1 $2: shop.cdn.test did not resolve"
  ip netns exec "$LAB-node" bash -c "for ((k = 0; k < $CONNECTIONS; k++)); do
      curl -sk -4 -o /dev/null --max-time 3 \
        -w '%{time_connect} %{time_appconnect} %{http_code}\n' https://shop.cdn.test:8443/
    done" >"$dir/tls.txt" || true
  ip netns exec "$LAB-node" bash -c "for ((k = 0; k < $CONNECTIONS; k++)); do
      s=\$(date +%s%N)
      '$QUIC_HELLO' --connect $SHARED --port 443 --server-name shop.cdn.test --wait-ms 1000 \
        >/dev/null 2>&1
      rc=\$?
      e=\$(date +%s%N)
      echo \"\$((e - s)) \$rc\"
    done" >"$dir/quic.txt" || true
  curl -s --unix-socket "$SOCK" http://skouterd/v1/status >"$dir/status.json" || true
  stop_daemon
}

for ((round = 1; round <= ROUNDS; round++)); do
  for policy in plain checked; do
    measure "$round" "$policy"
  done
done

python3 - "$OUT" "$ROUNDS" "$CONNECTIONS" <<'EOF'
import json, math, statistics, sys
out, rounds, connections = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
policies = ("plain", "checked")

def pct(values, p):  # nearest rank
    if not values:
        return float("nan")
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]

def tls_round(r, policy):
    ok, failed = [], 0
    for line in open(f"{out}/round{r}-{policy}/tls.txt"):
        parts = line.split()
        if len(parts) != 3 or parts[2] != "200":
            failed += 1
            continue
        ok.append((float(parts[1]) - float(parts[0])) * 1000)
    failed += connections - (len(ok) + failed)  # lines never written
    return ok, failed

def quic_round(r, policy):
    ok, failed = [], 0
    for line in open(f"{out}/round{r}-{policy}/quic.txt"):
        parts = line.split()
        if len(parts) != 2 or parts[1] != "0":
            failed += 1
            continue
        ok.append(int(parts[0]) / 1e6)
    failed += connections - (len(ok) + failed)
    return ok, failed

def table(title, what, reader):
    print(f"{title}: {what}, ms")
    print(f"  {'policy':8} {'conns':>6} {'failed':>6} {'median':>8} {'p90':>8} {'p99':>8}  per-round medians")
    figures = {}
    for policy in policies:
        values, failed, medians = [], 0, []
        for r in range(1, rounds + 1):
            v, f = reader(r, policy)
            values += v
            failed += f
            medians.append(f"{statistics.median(v):.3f}" if v else "-")
        figures[policy] = [pct(values, 50), pct(values, 90), pct(values, 99)]
        print(f"  {policy:8} {len(values) + failed:6} {failed:6} "
              + " ".join(f"{x:8.3f}" for x in figures[policy]) + "  " + " ".join(medians))
    d = [c - p for c, p in zip(figures["checked"], figures["plain"])]
    print(f"  {'checked - plain':22} " + " ".join(f"{x:+8.3f}" for x in d))
    print()

table("TLS (curl, port 8443)", "handshake (time_appconnect - time_connect)", tls_round)
table("QUIC (skouter_quic_hello, UDP 443)",
      "round trip incl. process start-up (date +%s%N around it)", quic_round)

print("checked daemon's .server_names, per round:")
for r in range(1, rounds + 1):
    try:
        sn = json.load(open(f"{out}/round{r}-checked/status.json"))["server_names"]
    except Exception as e:  # noqa: BLE001
        print(f"  round {r}: no status ({e})")
        continue
    judged = ", ".join(f"{j['protocol']} {j['verdict']} {j['reason']}: {j['flows']}"
                       for j in sn.get("judged", []))
    print(f"  round {r}: max_hold_ms {sn.get('max_hold_ms', 0):.3f}, released {sn.get('released')}, "
          f"packets_held {sn.get('packets_held')}, dropped {sn.get('dropped')}, "
          f"hold_failed {sn.get('packets_hold_failed')}, judged [{judged}]")
held = []
for r in range(1, rounds + 1):
    try:
        held.append(json.load(open(f"{out}/round{r}-plain/status.json"))["server_names"].get("packets_held"))
    except Exception:  # noqa: BLE001
        held.append("-")
print(f"plain daemon's packets_held, per round (expected 0): {' '.join(str(h) for h in held)}")
EOF
echo "raw: $OUT (roundN-POLICY/tls.txt, quic.txt, status.json)"
