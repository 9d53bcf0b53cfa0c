#!/usr/bin/env bash
# Restarts under continuous lookups and connections: what clients notice while skouterd
# is restarted (SIGTERM, as systemd and a rolling update do) and killed (SIGKILL, a
# crash). Prints figures; never a test.
#
#   bench/restart_bench.sh SKOUTERD [OTHER_SKOUTERD]
#
# With two binaries, both are measured in the same run, one after the other, on the
# same lab (e.g. a build of the previous commit as the baseline). On a fresh lab
# (tests/e2e/lab.sh, documentation addresses only) the zone gets LOOKUPS names
# nK.restart.test, each with its own A in 198.18.40.0/22 (TTL 3600), and skouterd
# polices the node with `domains: ['*.restart.test']`. A client in the node looks each
# name up once (dig +tries=1 +timeout=1: an answer held longer than a second is a failed
# lookup, as for a client with a one-second timeout and no retry) and connects to the
# address it got (curl --max-time 2, port 80), PAUSE seconds apart. Meanwhile the daemon
# is restarted every RESTART_EVERY seconds, SIGTERM and SIGKILL alternately, the new
# one started at once.
#
# Per binary: lookups that failed, connections that failed, and per restart the new
# daemon's status: how long after its start it read held answers
# (startup.answers_read_after_ms; absent before this figure existed), when its programs
# were loaded (programs_loaded_after_ms), the time since the previous daemon's last
# heartbeat (takeover.gap_ms) and the longest hold of an answer it released (max_hold_us,
# read once its programs are loaded: it includes the answers held across the restart).
#
# Environment: LAB (skrst), LOOKUPS (1000), PAUSE (0.01), RESTART_EVERY (2), OUT.
# Needs root, unbound, dig, curl, python3.
set -euo pipefail

LAB="${LAB:-skrst}"
LOOKUPS="${LOOKUPS:-1000}"
PAUSE="${PAUSE:-0.01}"
RESTART_EVERY="${RESTART_EVERY:-2}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
LAB_SH="$HERE/tests/e2e/lab.sh"
STATE="/run/skouter-lab/$LAB"
SOCK="$STATE/admin.sock"
PINS="$STATE/bpffs/skouter"
OUT="${OUT:-$(mktemp -d /tmp/restart-bench.XXXXXX)}"

die() {
  echo "restart_bench: $*" >&2
  exit 1
}

[[ $EUID -eq 0 ]] || die "must run as root"
[[ $# -ge 1 && $# -le 2 ]] || die "usage: $0 SKOUTERD [OTHER_SKOUTERD]"
for binary in "$@"; do [[ -x "$binary" ]] || die "not executable: $binary"; done

DAEMON_PID=""
CLIENT_PID=""
start_daemon() { # BINARY
  ip netns exec "$LAB-node" "$1" --policy "$OUT/policy" --interface "$LAB-up" \
    --trusted-dns 198.51.100.53 --bpffs "$PINS" --admin-socket "$SOCK" \
    >>"$OUT/skouterd.log" 2>&1 &
  DAEMON_PID=$!
  for ((i = 0; i < 500; i++)); do
    curl -sf --unix-socket "$SOCK" http://skouterd/v1/status >/dev/null 2>&1 && return 0
    kill -0 "$DAEMON_PID" 2>/dev/null || die "skouterd exited, see $OUT/skouterd.log"
    sleep 0.01
  done
  die "skouterd did not answer on $SOCK"
}
stop_daemon() { # SIGNAL
  [[ -n "$DAEMON_PID" ]] || return 0
  kill "-$1" "$DAEMON_PID" 2>/dev/null || true
  wait "$DAEMON_PID" 2>/dev/null || true
  DAEMON_PID=""
}
cleanup() {
  local rc=$?
  [[ -n "$CLIENT_PID" ]] && kill "$CLIENT_PID" 2>/dev/null
  stop_daemon TERM
  if ip netns list | grep -qw "$LAB-node"; then
    ip netns exec "$LAB-node" "$1" --detach --interface "$LAB-up" --bpffs "$PINS" \
      >>"$OUT/skouterd.log" 2>&1 || true
  fi
  "$LAB_SH" down "$LAB" >/dev/null 2>&1 || true
  exit "$rc"
}
trap 'cleanup "$1"' EXIT

mkdir -p "$OUT/policy"
cat >"$OUT/policy/bench.yaml" <<'EOF'
apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata:
  name: restart-bench
spec:
  nodeSelector: {}
  rules:
    - domains: ['*.restart.test']
EOF

"$LAB_SH" up "$LAB" >"$OUT/lab.txt" 2>&1 || die "lab.sh up failed, see $OUT/lab.txt"
for ((k = 1; k <= LOOKUPS; k++)); do
  printf 'n%d.restart.test. 3600 IN A 198.18.%d.%d\n' "$k" $((40 + (k - 1) / 250)) $((1 + (k - 1) % 250))
done >>"$STATE/lab.zone"
kill -HUP "$(cat "$STATE/unbound.pid")"
for ((i = 0; i < 100; i++)); do
  [[ -n "$(ip netns exec "$LAB-node" dig +short +time=1 +tries=1 @198.51.100.53 "n$LOOKUPS.restart.test" A)" ]] && break
  sleep 0.1
done

status_field() { # STATUS_JSON PYTHON_EXPRESSION
  python3 -c "import json,sys; d=json.loads(sys.argv[1]); v=$2; print('-' if v is None else v)" "$1" 2>/dev/null || echo -
}

measure() { # BINARY LABEL
  local binary="$1" label="$2" round="$OUT/$2"
  mkdir -p "$round"
  rm -rf "$PINS"
  start_daemon "$binary"
  # Each name once per binary: a fresh suffix keeps unbound's cache out of the way of
  # neither; the names are the same, the daemons' state is not (removed above).
  ip netns exec "$LAB-node" bash -c "for k in \$(seq 1 $LOOKUPS); do
      a=\$(dig +short +tries=1 +timeout=1 n\$k.restart.test A | grep -v '^;;' | head -1)
      c=\$( [ -n \"\$a\" ] && curl -s -o /dev/null --max-time 2 -w '%{http_code}' http://\$a/ )
      echo \"n\$k.restart.test \${a:--} \${c:-000}\"; sleep $PAUSE; done" >"$round/clients.txt" &
  CLIENT_PID=$!
  local signal=TERM
  printf 'restart\tsignal\tanswers_read_after_ms\tprograms_loaded_after_ms\tgap_ms\tmax_hold_ms\n' \
    >"$round/restarts.tsv"
  local n=0
  while kill -0 "$CLIENT_PID" 2>/dev/null; do
    sleep "$RESTART_EVERY"
    kill -0 "$CLIENT_PID" 2>/dev/null || break
    n=$((n + 1))
    stop_daemon "$signal"
    start_daemon "$binary"
    local status=""
    for ((i = 0; i < 300; i++)); do
      status="$(curl -sf --unix-socket "$SOCK" http://skouterd/v1/status || true)"
      [[ "$(status_field "$status" "d.get('startup', {}).get('programs_loaded', True)")" == True ]] && break
      sleep 0.01
    done
    printf '%d\t%s\t%s\t%s\t%s\t%s\n' "$n" "$signal" \
      "$(status_field "$status" "d.get('startup', {}).get('answers_read_after_ms')")" \
      "$(status_field "$status" "d.get('startup', {}).get('programs_loaded_after_ms')")" \
      "$(status_field "$status" "d['takeover']['gap_ms']")" \
      "$(status_field "$status" "d['counters']['answers']['max_hold_us'] / 1000")" >>"$round/restarts.tsv"
    [[ "$signal" == TERM ]] && signal=KILL || signal=TERM
  done
  wait "$CLIENT_PID" || true
  CLIENT_PID=""
  stop_daemon TERM
  python3 - "$label" "$round" <<'EOF'
import csv, statistics, sys
label, round_dir = sys.argv[1], sys.argv[2]
lines = [l.split() for l in open(f"{round_dir}/clients.txt") if len(l.split()) == 3]
lookups_failed = sum(1 for _, a, _ in lines if a == "-")
connections_failed = sum(1 for _, a, c in lines if a != "-" and c != "200")
rows = list(csv.DictReader(open(f"{round_dir}/restarts.tsv"), delimiter="\t"))
def figures(key):
    values = [float(r[key]) for r in rows if r[key] not in ("-", "")]
    if not values:
        return "n/a"
    return f"median {statistics.median(values):.1f}, max {max(values):.1f}"
print(f"{label}: {len(lines)} lookups, {len(rows)} restarts (SIGTERM and SIGKILL alternately)")
print(f"  lookups failed (no answer within 1 s): {lookups_failed}")
print(f"  connections failed to an answered address: {connections_failed}")
for key in ("answers_read_after_ms", "programs_loaded_after_ms", "gap_ms", "max_hold_ms"):
    print(f"  {key}: {figures(key)}")
for signal in ("TERM", "KILL"):
    holds = [float(r["max_hold_ms"]) for r in rows if r["signal"] == signal and r["max_hold_ms"] != "-"]
    if holds:
        print(f"  longest hold after SIG{signal}: median {statistics.median(holds):.1f} ms, max {max(holds):.1f} ms")
EOF
}

measure "$1" skouterd
[[ $# -eq 2 ]] && measure "$2" other
echo "raw: $OUT"
