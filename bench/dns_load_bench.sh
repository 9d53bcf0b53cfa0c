#!/usr/bin/env bash
# The whole answer path under load: DNS latency, throughput and losses through a cached
# resolver, without skouterd and with it, in one run. Prints figures; never a test.
#
#   bench/dns_load_bench.sh SKOUTERD        (skouterctl is not needed; curl is)
#
# On a fresh lab (tests/e2e/lab.sh, documentation addresses only) the zone gets 400
# names nK.race.test and 400 nK.deny.test, each with its own A (198.18.20.0/22,
# 198.18.30.0/22) and AAAA (2001:db8:100::1:K, 2001:db8:100::2:K). dnsperf, in the node,
# queries the world's unbound (198.51.100.53) for DURATION seconds per run, at each
# rate of RATES and unlimited (-q OUTSTANDING queries in flight, CLIENTS sockets), with
# one query mix per table:
#   allowed  the 400 race names, A
#   denied   race and deny.test names alternately, A (deny.test gets skouterd's NXDOMAIN)
#   dual     the race names, A and AAAA alternately
#   tcp      the race names, A; 90% of the rate over UDP, 10% over TCP (two dnsperfs
#            side by side, their latencies merged; unlimited: 90% / 10% of OUTSTANDING)
# Two setups, interleaved per rate (their order alternates, so drift on a shared machine
# hits both alike):
#   baseline no skouterd: the resolver's own figures
#   skouterd skouterd policing the node with `domains: ['*.race.test']` and
#            --deny-response nxdomain; a fresh daemon (state removed) for every run
# Unbound's cache is warmed first, so the baseline measures a cached resolver. Unbound
# runs from a private copy of the lab's unbound.conf that differs in one line,
# `log-queries: no`: the lab logs every query into /run (tmpfs), some 5 MB/s at
# 60k queries/s, which would limit the baseline and fill memory; num-threads stays 1
# (a 2-core machine runs dnsperf, unbound and skouterd side by side).
#
# Per run: p50, p99 and p99.9 latency (µs, from dnsperf -v's per-query lines), answers
# per second, lost queries. For skouterd also: its CPU time (utime+stime, all threads)
# over the run per answer, the datapath's drop counters over the run
# (dns_answer_ringbuf_full, dns_answer_failsafe, dns_answer_over_quota,
# dns_answer_too_large, dns_answer_unsolicited), the answers it dropped as
# install_failed, STATUS_CALLS GET /v1/status on the admin socket (curl --unix-socket)
# spread over the run: their p99 in ms and the largest heartbeat_age_ms they reported
# (the heartbeat is a 250 ms timer on the daemon's event loop; nothing reports its lag
# as such). From the daemon's status after the run: answers whose new addresses
# --verify-answers removed because --max-pending-lookups confirmations were under way
# (verify_over_limit), its own lookups, the longest hold of an answer (max_hold_us),
# answers over TCP it matched to no query on their connection (tcp_unmatched: delivered,
# nothing installed).
# For both setups: UDP datagrams dropped by full socket buffers in the world (unbound)
# and the node (dnsperf), /proc/net/snmp RcvbufErrors. Lost queries: those dnsperf saw
# no answer to within 2 s (-t 2; it waits for the last ones before it stops). A run
# during which skouterd exits (another process's signal, say) is measured again.
#
# Environment: LAB (skload), DURATION (10, seconds per run), RATES ("10000 30000",
# queries/s; an unlimited run is always added), MIXES ("allowed denied dual tcp"),
# OUTSTANDING (500), CLIENTS (8), STATUS_CALLS (100), SKOUTERD_FLAGS (more flags for
# skouterd, split on spaces, e.g. "--verify-answers off"; none by default), OUT. Needs
# root, dnsperf (2.x), unbound, dig, curl, python3. Results: OUT/results.tsv,
# OUT/results.json, the tables on stdout; each run's raw output in OUT/runs.
set -euo pipefail

LAB="${LAB:-skload}"
DURATION="${DURATION:-10}"
RATES="${RATES:-10000 30000}"
MIXES="${MIXES:-allowed denied dual tcp}"
OUTSTANDING="${OUTSTANDING:-500}"
CLIENTS="${CLIENTS:-8}"
STATUS_CALLS="${STATUS_CALLS:-100}"
read -ra SKOUTERD_FLAGS <<<"${SKOUTERD_FLAGS:-}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
LAB_SH="$HERE/tests/e2e/lab.sh"
STATE="/run/skouter-lab/$LAB"
SOCK="$STATE/admin.sock"
RESOLVER=198.51.100.53
NAMES=400

die() {
  echo "dns_load_bench: $*" >&2
  exit 1
}
note() {
  echo "dns_load_bench: $*" >&2
}

[[ $EUID -eq 0 ]] || die "must run as root"
[[ $# -eq 1 && -x "$1" ]] || die "usage: $0 SKOUTERD"
SKOUTERD="$1"
for tool in dnsperf dig curl python3 unbound; do
  command -v "$tool" >/dev/null || die "'$tool' not found"
done
for mix in $MIXES; do
  [[ $mix =~ ^(allowed|denied|dual|tcp)$ ]] || die "unknown mix '$mix'"
done
for rate in $RATES; do
  [[ $rate =~ ^[1-9][0-9]*$ ]] || die "bad rate '$rate'"
done
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "bad DURATION '$DURATION'"
OUT="${OUT:-$(mktemp -d /tmp/dns-load-bench-XXXXXX)}"
mkdir -p "$OUT/runs"
note "output in $OUT"
CLK_TCK="$(getconf CLK_TCK)"

DAEMON_PID=""
UNBOUND_PID=""
SAMPLER_PID=""
stop_daemon() {
  if [[ -n "$DAEMON_PID" ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
  fi
  DAEMON_PID=""
  if ip netns list | grep -qw "$LAB-node"; then
    ip netns exec "$LAB-node" "$SKOUTERD" --detach --interface "$LAB-up" \
      --bpffs "$STATE/bpffs/skouter" >>"$OUT/skouterd.log" 2>&1 || true
  fi
}
cleanup() {
  local rc=$?
  if [[ -n "$SAMPLER_PID" ]]; then kill "$SAMPLER_PID" 2>/dev/null || true; fi
  stop_daemon
  if [[ -n "$UNBOUND_PID" ]]; then kill "$UNBOUND_PID" 2>/dev/null || true; fi
  "$LAB_SH" down "$LAB" >/dev/null 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT

mkdir -p "$OUT/policy"
cat >"$OUT/policy/bench.yaml" <<'EOF'
apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata:
  name: dns-load-bench
spec:
  nodeSelector: {}
  rules:
    - domains: ['*.race.test']
EOF

# Query files (dnsperf -d: "name type" per line).
for ((k = 1; k <= NAMES; k++)); do echo "n$k.race.test A"; done >"$OUT/q-allowed.txt"
for ((k = 1; k <= NAMES; k++)); do
  echo "n$k.race.test A"
  echo "n$k.deny.test A"
done >"$OUT/q-denied.txt"
for ((k = 1; k <= NAMES; k++)); do
  echo "n$k.race.test A"
  echo "n$k.race.test AAAA"
done >"$OUT/q-dual.txt"
cp "$OUT/q-allowed.txt" "$OUT/q-tcp.txt"

"$LAB_SH" up "$LAB" >"$OUT/lab.txt" 2>&1 || die "lab.sh up failed, see $OUT/lab.txt"

# The names: nK.race.test -> 198.18.(20 + (K-1)/250).(1 + (K-1)%250), 2001:db8:100::1:K;
# nK.deny.test -> 198.18.(30 + ...).(...), 2001:db8:100::2:K (K in hex). TTL 3600: the
# cache stays warm over the whole run.
for ((k = 1; k <= NAMES; k++)); do
  printf 'n%d.race.test. 3600 IN A 198.18.%d.%d\n' "$k" $((20 + (k - 1) / 250)) $((1 + (k - 1) % 250))
  printf 'n%d.race.test. 3600 IN AAAA 2001:db8:100::1:%x\n' "$k" "$k"
  printf 'n%d.deny.test. 3600 IN A 198.18.%d.%d\n' "$k" $((30 + (k - 1) / 250)) $((1 + (k - 1) % 250))
  printf 'n%d.deny.test. 3600 IN AAAA 2001:db8:100::2:%x\n' "$k" "$k"
done >>"$STATE/lab.zone"

# Unbound again, from the private config (see the header), with the names above.
sed 's/^\( *\)log-queries: yes/\1log-queries: no/' "$STATE/unbound.conf" >"$OUT/unbound.conf"
grep -q 'log-queries: no' "$OUT/unbound.conf" || die "could not turn log-queries off"
lab_unbound="$(cat "$STATE/unbound.pid")"
kill -TERM "$lab_unbound"
for ((i = 0; i < 50; i++)); do
  kill -0 "$lab_unbound" 2>/dev/null || break
  sleep 0.1
done
setsid ip netns exec "$LAB-world" unbound -d -c "$OUT/unbound.conf" </dev/null \
  >"$OUT/unbound.log" 2>&1 &
UNBOUND_PID=$!
resolver_ready() {
  [[ "$(ip netns exec "$LAB-node" dig +time=1 +tries=1 +short @"$RESOLVER" "n$NAMES.deny.test" A)" == \
    "198.18.31.150" ]]
}
for ((i = 0; i < 100; i++)); do
  resolver_ready && break
  kill -0 "$UNBOUND_PID" 2>/dev/null || die "unbound exited, see $OUT/unbound.log"
  sleep 0.1
done
resolver_ready || die "unbound does not answer n$NAMES.deny.test, see $OUT/unbound.log"

start_daemon() {
  rm -rf "$STATE/bpffs/skouter"
  ip netns exec "$LAB-node" "$SKOUTERD" --policy "$OUT/policy" --interface "$LAB-up" \
    --trusted-dns "$RESOLVER" --bpffs "$STATE/bpffs/skouter" --admin-socket "$SOCK" \
    --deny-response nxdomain "${SKOUTERD_FLAGS[@]}" >>"$OUT/skouterd.log" 2>&1 &
  DAEMON_PID=$!
  for ((i = 0; i < 200; i++)); do
    curl -sf --max-time 1 --unix-socket "$SOCK" http://skouterd/v1/ready >/dev/null 2>&1 &&
      return 0
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.1
  done
  die "skouterd did not start, see $OUT/skouterd.log"
}

cpu_ticks() {  # utime + stime of PID, all threads
  local stat rest fields
  stat="$(cat "/proc/$1/stat")"
  rest="${stat##*) }"
  read -ra fields <<<"$rest"
  echo $((fields[11] + fields[12]))
}

# status_sampler FILE: STATUS_CALLS GET /v1/status spread over DURATION; one line each,
# "seconds heartbeat_age_ms" (curl's time_total; -1 for a failed call).
status_sampler() {
  local file=$1 pause body t age
  pause="$(python3 -c "print($DURATION / $STATUS_CALLS)")"
  for ((i = 0; i < STATUS_CALLS; i++)); do
    sleep "$pause"
    if t="$(curl -s --max-time 5 -o "$file.body" -w '%{time_total}' --unix-socket "$SOCK" \
      http://skouterd/v1/status)"; then
      body="$(cat "$file.body")"
      age="$(grep -o '"heartbeat_age_ms": *[0-9]*' <<<"$body" | grep -o '[0-9]*$' || echo -1)"
      echo "$t ${age:--1}"
    else
      echo "-1 -1"
    fi
  done >"$file"
  rm -f "$file.body"
}

# dnsperf_run FILE RATE|max OUTSTANDING MODE LOG
dnsperf_run() {
  local file=$1 rate=$2 outstanding=$3 mode=$4 log=$5
  local args=(-s "$RESOLVER" -d "$file" -l "$DURATION" -t 2 -v -m "$mode"
    -q "$outstanding" -c "$CLIENTS")
  if [[ $rate != max ]]; then args+=(-Q "$rate"); fi
  ip netns exec "$LAB-node" dnsperf "${args[@]}" >"$log" 2>&1
}

alive() {  # alive PID: running, not a zombie
  local state
  state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != Z ]]
}

# udp_errors NS: "RcvbufErrors" of the namespace's UDP (IPv4) statistics: datagrams a
# full socket buffer dropped (unbound's in the world, dnsperf's in the node).
udp_errors() {
  ip netns exec "$1" cat /proc/net/snmp | awk '
    $1 == "Udp:" && !seen { for (i = 2; i <= NF; i++) col[$i] = i; seen = 1; next }
    $1 == "Udp:" { print $col["RcvbufErrors"]; exit }'
}

# run MIX SETUP RATE|max: one measurement, its files OUT/runs/MIX-SETUP-RATE.*
run() {
  local mix=$1 setup=$2 rate=$3 tag="$1-$2-$3" ticks_before=0 ticks_after=0
  local world_before node_before
  if [[ $setup == skouterd ]]; then
    start_daemon
    curl -sf --unix-socket "$SOCK" http://skouterd/metrics >"$OUT/runs/$tag.metrics-before"
    ticks_before="$(cpu_ticks "$DAEMON_PID")"
    status_sampler "$OUT/runs/$tag.status" &
    SAMPLER_PID=$!
  fi
  world_before="$(udp_errors "$LAB-world")"
  node_before="$(udp_errors "$LAB-node")"
  local pids=()
  if [[ $mix == tcp ]]; then
    local udp_rate=max tcp_rate=max
    if [[ $rate != max ]]; then
      udp_rate=$((rate * 9 / 10))
      tcp_rate=$((rate - udp_rate))
    fi
    dnsperf_run "$OUT/q-$mix.txt" "$udp_rate" $((OUTSTANDING * 9 / 10)) udp \
      "$OUT/runs/$tag.udp.dnsperf" &
    pids+=($!)
    dnsperf_run "$OUT/q-$mix.txt" "$tcp_rate" $((OUTSTANDING / 10)) tcp \
      "$OUT/runs/$tag.tcp.dnsperf" &
    pids+=($!)
  else
    dnsperf_run "$OUT/q-$mix.txt" "$rate" "$OUTSTANDING" udp "$OUT/runs/$tag.udp.dnsperf" &
    pids+=($!)
  fi
  local pid failed=0
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  [[ $failed -eq 0 ]] || die "dnsperf failed in $tag, see $OUT/runs/$tag.*.dnsperf"
  echo "$(($(udp_errors "$LAB-world") - world_before)) $(($(udp_errors "$LAB-node") - node_before))" \
    >"$OUT/runs/$tag.rcvbuf"
  if [[ $setup == skouterd ]] && ! alive "$DAEMON_PID"; then
    # Not ours to explain here (skouterd.log says which signal, if one): measure again.
    wait "$SAMPLER_PID" || true
    SAMPLER_PID=""
    stop_daemon
    echo "$tag" >>"$OUT/reruns.txt"
    note "skouterd exited during $tag (see $OUT/skouterd.log); measuring again"
    RUN_FAILED=1
    return 0
  fi
  if [[ $setup == skouterd ]]; then
    ticks_after="$(cpu_ticks "$DAEMON_PID")"
    wait "$SAMPLER_PID" || true
    SAMPLER_PID=""
    curl -sf --unix-socket "$SOCK" http://skouterd/metrics >"$OUT/runs/$tag.metrics-after"
    curl -sf --unix-socket "$SOCK" http://skouterd/v1/status >"$OUT/runs/$tag.status.json"
    echo "$(((ticks_after - ticks_before) * 1000000 / CLK_TCK))" >"$OUT/runs/$tag.cpu-us"
    stop_daemon
  fi
  note "done $tag"
}

# Warm unbound's cache: every name and type of every mix, at a modest rate.
for mix in allowed denied dual; do
  ip netns exec "$LAB-node" dnsperf -s "$RESOLVER" -d "$OUT/q-$mix.txt" -n 2 -Q 5000 \
    >"$OUT/warm-$mix.txt" 2>&1 || die "warming failed, see $OUT/warm-$mix.txt"
done

order=0
for mix in $MIXES; do
  for rate in $RATES max; do
    if ((order % 2 == 0)); then setups=(baseline skouterd); else setups=(skouterd baseline); fi
    order=$((order + 1))
    for setup in "${setups[@]}"; do
      for attempt in 1 2 3; do
        RUN_FAILED=0
        run "$mix" "$setup" "$rate"
        [[ $RUN_FAILED -eq 1 ]] || break
        [[ $attempt -lt 3 ]] || die "skouterd exited during $mix-$setup-$rate three times"
      done
    done
  done
done

python3 - "$OUT" "$DURATION" "$MIXES" "$RATES max" <<'EOF'
import glob, json, math, os, re, sys

out, duration, mixes, rates = sys.argv[1], float(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split()
DROPS = ("dns_answer_ringbuf_full", "dns_answer_failsafe", "dns_answer_over_quota",
         "dns_answer_too_large", "dns_answer_unsolicited")

def pct(values, p):
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, math.ceil(p / 100 * len(values)) - 1))]

def dnsperf(tag):
    lat, sent, completed, lost, runtime, rcodes = [], 0, 0, 0, 0.0, {}
    rcvbuf = [int(x) for x in open(f"{out}/runs/{tag}.rcvbuf").read().split()]
    for path in glob.glob(f"{out}/runs/{tag}.*.dnsperf"):
        for line in open(path, errors="replace"):
            if line.startswith("> "):
                fields = line.split()
                try:
                    seconds = float(fields[-1])
                except ValueError:
                    continue
                if fields[1] == "T":  # timed out
                    continue
                lat.append(seconds * 1e6)
                rcodes[fields[1]] = rcodes.get(fields[1], 0) + 1
                continue
            m = re.match(r"\s*Queries (sent|completed|lost):\s+(\d+)", line)
            if m:
                n = int(m.group(2))
                if m.group(1) == "sent": sent += n
                elif m.group(1) == "completed": completed += n
                else: lost += n
            m = re.match(r"\s*Run time \(s\):\s+([\d.]+)", line)
            if m:
                runtime = max(runtime, float(m.group(1)))
    lat.sort()
    return {"sent": sent, "completed": completed, "lost": lost,
            "answers_per_s": completed / (runtime or duration),
            "p50_us": pct(lat, 50), "p99_us": pct(lat, 99), "p999_us": pct(lat, 99.9),
            "rcodes": rcodes, "rcvbuf_world": rcvbuf[0], "rcvbuf_node": rcvbuf[1]}

def metrics(path):
    drops = {name: 0.0 for name in DROPS}
    install_failed = 0.0
    if not os.path.exists(path):
        return drops, install_failed
    for line in open(path):
        m = re.match(r'skouter_datapath_events_total\{.*reason="([a-z_]+)".*\}\s+([\d.e+]+)', line)
        if m and m.group(1) in drops:
            drops[m.group(1)] += float(m.group(2))
        m = re.match(r'skouter_dns_answers_total\{outcome="install_failed"\}\s+([\d.e+]+)', line)
        if m:
            install_failed += float(m.group(1))
    return drops, install_failed

rows = []
for mix in mixes:
    for rate in rates:
        row = {"mix": mix, "rate": rate}
        for setup in ("baseline", "skouterd"):
            row[setup] = dnsperf(f"{mix}-{setup}-{rate}")
        tag = f"{mix}-skouterd-{rate}"
        before, fail_before = metrics(f"{out}/runs/{tag}.metrics-before")
        after, fail_after = metrics(f"{out}/runs/{tag}.metrics-after")
        row["drops"] = {k: int(after[k] - before[k]) for k in DROPS}
        row["install_failed"] = int(fail_after - fail_before)
        cpu_us = int(open(f"{out}/runs/{tag}.cpu-us").read())
        row["cpu_us"] = cpu_us
        row["cpu_us_per_answer"] = cpu_us / max(1, row["skouterd"]["completed"])
        calls = [l.split() for l in open(f"{out}/runs/{tag}.status")]
        times = sorted(float(t) * 1000 for t, _ in calls if float(t) >= 0)
        ages = [int(a) for _, a in calls if int(a) >= 0]
        row["status_calls"] = len(times)
        row["status_failed"] = len(calls) - len(times)
        row["status_p99_ms"] = pct(times, 99)
        row["status_max_ms"] = times[-1] if times else float("nan")
        row["heartbeat_age_max_ms"] = max(ages) if ages else None
        answers = json.load(open(f"{out}/runs/{tag}.status.json"))["counters"]["answers"]
        for key in ("verify_over_limit", "rewritten", "own_lookups", "tcp_unmatched",
                    "max_hold_us", "already_answered", "question_mismatch"):
            row[key] = answers.get(key)
        rows.append(row)

json.dump(rows, open(f"{out}/results.json", "w"), indent=1)
cols = ["mix", "rate", "setup", "sent", "completed", "lost", "answers_per_s", "p50_us", "p99_us",
        "p999_us", "rcodes", "cpu_us", "cpu_us_per_answer", *DROPS, "install_failed",
        "status_p99_ms", "status_max_ms", "heartbeat_age_max_ms", "rcvbuf_world", "rcvbuf_node",
        "verify_over_limit", "rewritten", "own_lookups", "tcp_unmatched", "max_hold_us"]
with open(f"{out}/results.tsv", "w") as tsv:
    print("\t".join(cols), file=tsv)
    for row in rows:
        for setup in ("baseline", "skouterd"):
            d = row[setup]
            extra = ([row["cpu_us"], f'{row["cpu_us_per_answer"]:.2f}',
                      *[row["drops"][k] for k in DROPS], row["install_failed"],
                      f'{row["status_p99_ms"]:.2f}', f'{row["status_max_ms"]:.2f}',
                      row["heartbeat_age_max_ms"]]
                     if setup == "skouterd" else [""] * (len(DROPS) + 6))
            extra += [d["rcvbuf_world"], d["rcvbuf_node"]]
            extra += ([row[k] for k in ("verify_over_limit", "rewritten", "own_lookups",
                                        "tcp_unmatched", "max_hold_us")]
                      if setup == "skouterd" else [""] * 5)
            rc = ",".join(f"{k}:{v}" for k, v in sorted(d["rcodes"].items()))
            print("\t".join(str(x) for x in [row["mix"], row["rate"], setup, d["sent"],
                  d["completed"], d["lost"], f'{d["answers_per_s"]:.0f}', f'{d["p50_us"]:.0f}',
                  f'{d["p99_us"]:.0f}', f'{d["p999_us"]:.0f}', rc, *extra]), file=tsv)

for mix in mixes:
    print(f"\nmix {mix}: latency in µs (B baseline, S skouterd), answers/s, lost queries")
    print(f"{'rate':>6} | {'B p50':>6} {'p99':>6} {'p99.9':>6} | {'S p50':>6} {'p99':>6} {'p99.9':>6} | "
          f"{'+p50':>5} {'+p99':>6} | {'B ans/s':>8} {'S ans/s':>8} {'S/B':>5} | {'B lost':>6} "
          f"{'S lost':>6} | {'cpu/ans':>7} {'rb_full':>7} {'fsafe':>5} {'other':>5} | "
          f"{'st p99':>6} {'hb max':>6} | {'B rcvq':>6} {'S rcvq':>6} | {'vlimit':>6} {'hold':>6} {'tcpU':>5}")
    for row in (r for r in rows if r["mix"] == mix):
        b, s = row["baseline"], row["skouterd"]
        other = sum(v for k, v in row["drops"].items()
                    if k not in ("dns_answer_ringbuf_full", "dns_answer_failsafe")) + row["install_failed"]
        hb = row["heartbeat_age_max_ms"]
        print(f"{row['rate']:>6} | {b['p50_us']:6.0f} {b['p99_us']:6.0f} {b['p999_us']:6.0f} | "
              f"{s['p50_us']:6.0f} {s['p99_us']:6.0f} {s['p999_us']:6.0f} | "
              f"{s['p50_us'] - b['p50_us']:5.0f} {s['p99_us'] - b['p99_us']:6.0f} | "
              f"{b['answers_per_s']:8.0f} {s['answers_per_s']:8.0f} "
              f"{s['answers_per_s'] / max(b['answers_per_s'], 1e-9):5.2f} | "
              f"{b['lost']:6} {s['lost']:6} | {row['cpu_us_per_answer']:7.2f} "
              f"{row['drops']['dns_answer_ringbuf_full']:7} {row['drops']['dns_answer_failsafe']:5} "
              f"{other:5} | {row['status_p99_ms']:6.1f} {hb if hb is not None else '-':>6} | "
              f"{b['rcvbuf_world'] + b['rcvbuf_node']:6} {s['rcvbuf_world'] + s['rcvbuf_node']:6} | "
              f"{row['verify_over_limit']:6} {row['max_hold_us'] / 1000:6.1f} "
              f"{row['tcp_unmatched']:5}")
print("\ncpu/ans: skouterd CPU µs per answer; rb_full, fsafe: dns_answer_ringbuf_full and "
      "dns_answer_failsafe over the run;\nother: over_quota, too_large, unsolicited and "
      "install_failed; st p99: GET /v1/status p99 (ms); hb max: largest heartbeat_age_ms seen;\n"
      "B/S rcvq: UDP datagrams dropped by full socket buffers (unbound's and dnsperf's, "
      "RcvbufErrors);\nvlimit: answers whose new addresses --verify-answers removed, "
      "--max-pending-lookups being under way (verify_over_limit);\nhold: longest time "
      "skouterd held an answer (max_hold_us, ms);\ntcpU: answers over TCP matched to "
      "no query on their connection (tcp_unmatched; delivered, nothing installed)")
if os.path.exists(f"{out}/reruns.txt"):
    print("measured again after skouterd exited during the run:",
          " ".join(open(f"{out}/reruns.txt").read().split()))
print(f"results: {out}/results.tsv, {out}/results.json")
EOF
