#!/usr/bin/env bash
# The work skouterd does per pod change (issue 15, item 5): does it grow with the
# number of pods on the node, or only with what changed? Prints figures; never a test.
#
#   bench/pod_churn_bench.sh SKOUTERD          (skouterctl beside it)
#
# On a fresh lab made a Kubernetes node (tests/e2e/lab.sh `cluster`, documentation
# addresses only), with the API server double (tests/e2e/lab/kube_api_double.py) as
# its cluster, for each N in PODS:
#   - N pods on real veths (lab.sh pod-add), all in namespace shop, labelled app=gK
#     (K = pod % EGRESSES), plus SLOTS more pod namespaces whose Pod objects come and
#     go during the churn (their veths stay: the CNI's work is not skouterd's);
#   - EGRESSES Egresses, gK selecting app=gK, RULES rules each, rule 0 (a domain) the
#     same in all of them, the others their own names;
#   - skouterd started with --kubernetes against the double, as the e2e tests run it,
#     and waited for until every pod is policed without a problem;
#   - an idle window of WINDOW seconds: skouterd's CPU time and bpf() calls with no change;
#   - a churn window of WINDOW seconds at RATE changes/s, cycling through: add a pod (a slot's
#     Pod object written), relabel a pod (app=gK -> app=gK+1: another Egress applies),
#     delete a pod (a slot's object removed). CPU time from /proc/PID/task/*/schedstat
#     (every thread's run time, in ns);
#   - the same churn again under `strace -f -e trace=bpf` for the bpf() calls (strace
#     slows the daemon: this window's CPU time is not used), $OUT/bpf-by-map-N.txt
#     their breakdown per change by command and map;
#   - LATENCY pod adds one at a time: milliseconds from the Pod object written to the
#     pod in `skouterctl status` with its interface and no problem (includes the
#     double's --poll-interval, 20 ms here).
# Per change figures are the churn window's minus the idle window's, over the changes.
# Prints one row per N.
#
# Environment: PODS ("10 110"), RULES (4), EGRESSES (5), SLOTS (10), RATE (10),
# WINDOW (20 s), LATENCY (10), LAB (skchurn), OUT, PERF (set: one more churn window
# under `perf record -g`, $OUT/perf-N.data). Needs root, strace, openssl, python3
# with PyYAML, jq; perf for PERF. 120 pod namespaces take the lab some 10 s.
set -euo pipefail

PODS="${PODS:-10 110}"
RULES="${RULES:-4}"
EGRESSES="${EGRESSES:-5}"
SLOTS="${SLOTS:-10}"
RATE="${RATE:-10}"
WINDOW="${WINDOW:-20}"
LATENCY="${LATENCY:-10}"
LAB="${LAB:-skchurn}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
LAB_SH="$HERE/tests/e2e/lab.sh"
STATE="/run/skouter-lab/$LAB"
TOKEN=bench-token-9c1d
NODE_NAME=lab-node

die() {
  echo "pod_churn_bench: $*" >&2
  exit 1
}

[[ $EUID -eq 0 ]] || die "must run as root"
[[ $# -eq 1 && -x "$1" ]] || die "usage: $0 SKOUTERD"
SKOUTERD="$1"
SKOUTERCTL="$(dirname "$SKOUTERD")/skouterctl"
[[ -x "$SKOUTERCTL" ]] || die "no skouterctl beside $SKOUTERD"
command -v strace >/dev/null || die "strace not found"
for n in $PODS; do
  ((n + SLOTS <= 180)) || die "PODS + SLOTS: at most 180 (pod addresses are 192.0.2.60-.239)"
done
OUT="${OUT:-$(mktemp -d /tmp/pod-churn-bench-XXXXXX)}"
mkdir -p "$OUT"
echo "pod_churn_bench: output in $OUT" >&2

DAEMON_PID=""
DOUBLE_PID=""
STRACE_PID=""
PERF_PID=""
stop_daemon() {
  if [[ -n "$PERF_PID" ]] && kill -0 "$PERF_PID" 2>/dev/null; then
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true
  fi
  PERF_PID=""
  if [[ -n "$STRACE_PID" ]] && kill -0 "$STRACE_PID" 2>/dev/null; then
    kill -INT "$STRACE_PID" 2>/dev/null || true
    wait "$STRACE_PID" 2>/dev/null || true
  fi
  STRACE_PID=""
  if [[ -n "$DAEMON_PID" ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
  fi
  DAEMON_PID=""
  if [[ -d "$STATE/bpffs/skouter" ]]; then
    ip netns exec "$LAB-node" "$SKOUTERD" --detach --interface "$LAB-up" \
      --bpffs "$STATE/bpffs/skouter" >>"$OUT/skouterd.log" 2>&1 || true
  fi
}
stop_double() {
  if [[ -n "$DOUBLE_PID" ]] && kill -0 "$DOUBLE_PID" 2>/dev/null; then
    kill -TERM "$DOUBLE_PID" 2>/dev/null || true
    wait "$DOUBLE_PID" 2>/dev/null || true
  fi
  DOUBLE_PID=""
}
cleanup() {
  local rc=$?
  stop_daemon
  stop_double
  "$LAB_SH" down "$LAB" >/dev/null 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT

ctl() { "$SKOUTERCTL" --socket "$STATE/skouterd.sock" "$@"; }

# --- the API server double: certificate, kubeconfig, objects -------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=kube-api-double -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -keyout "$OUT/key.pem" -out "$OUT/cert.pem" >/dev/null 2>&1 || die "openssl req failed"
cat >"$OUT/kubeconfig" <<EOF
apiVersion: v1
kind: Config
current-context: lab
clusters:
- name: lab
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: $(base64 -w0 <"$OUT/cert.pem")
users:
- name: skouterd
  user:
    token: $TOKEN
contexts:
- name: lab
  context: {cluster: lab, user: skouterd}
EOF

OBJECTS="$OUT/objects"
# put FILE: stdin becomes objects/FILE, written aside and renamed (never read half).
put() {
  cat >"$OUT/$1.tmp"
  mv -f "$OUT/$1.tmp" "$OBJECTS/$1"
}

pod_v4() { echo "192.0.2.$((60 + $1))"; }
pod_v6() { printf '2001:db8:2::%x\n' "$((0x60 + $1))"; }
# pod_yaml NAME ADDRESS-INDEX GROUP
pod_yaml() {
  local v4 v6
  v4=$(pod_v4 "$2")
  v6=$(pod_v6 "$2")
  cat <<EOF
apiVersion: v1
kind: Pod
metadata: {name: "$1", namespace: shop, uid: "uid-$1", labels: {app: "g$3"}}
spec:
  nodeName: $NODE_NAME
  containers: [{name: app, image: debian:12}]
status:
  phase: Running
  podIP: $v4
  podIPs: [{ip: $v4}, {ip: "$v6"}]
EOF
}

write_cluster() {
  rm -rf "$OBJECTS"
  mkdir -p "$OBJECTS"
  put cluster.yaml <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $NODE_NAME
  labels: {role: worker, kubernetes.io/hostname: $NODE_NAME}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: shop}}
---
apiVersion: v1
kind: Namespace
metadata: {name: kube-system}
---
apiVersion: v1
kind: Namespace
metadata: {name: skouter-system}
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec:
  clusterIP: 192.0.2.53
  clusterIPs: [192.0.2.53, "2001:db8:2::53"]
  ports:
    - {name: dns, port: 53, protocol: UDP, targetPort: 53}
    - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-x7k2p
  namespace: kube-system
  labels: {kubernetes.io/service-name: kube-dns}
addressType: IPv4
endpoints:
  - addresses: [198.51.100.53]
    conditions: {ready: true}
ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kubernetes
  namespace: default
  labels: {kubernetes.io/service-name: kubernetes}
addressType: IPv4
endpoints:
  - addresses: [203.0.113.99]
ports:
  - {name: https, port: 443, protocol: TCP}
---
apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata: {name: node, namespace: skouter-system}
spec:
  nodeSelector: {matchLabels: {role: worker}}
  rules:
    - domains: [github.com]
EOF
  local k j
  for ((k = 0; k < EGRESSES; k++)); do
    {
      cat <<EOF
apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata: {name: g$k, namespace: shop}
spec:
  podSelector: {matchLabels: {app: g$k}}
  rules:
    - domains: [shared.example.org]
EOF
      for ((j = 1; j < RULES; j++)); do
        echo "    - domains: [r$j.g$k.example.com, '*.r$j.g$k.example.net']"
        echo "      ports: [{port: 443, protocol: TCP}]"
      done
    } | put "egress-g$k.yaml"
  done
}

start_double() {
  ip netns exec "$LAB-node" python3 "$HERE/tests/e2e/lab/kube_api_double.py" \
    --objects "$OBJECTS" --listen 127.0.0.1:6443 --cert "$OUT/cert.pem" \
    --key "$OUT/key.pem" --token "$TOKEN" --poll-interval 0.02 \
    >"$OUT/double.out" 2>>"$OUT/double.log" &
  DOUBLE_PID=$!
  local i
  for ((i = 0; i < 100; i++)); do
    grep -q "listening on" "$OUT/double.out" 2>/dev/null && return 0
    sleep 0.1
  done
  die "the API server double did not start, see $OUT/double.log"
}

start_daemon() {
  rm -rf "$STATE/bpffs/skouter"
  ip netns exec "$LAB-node" "$SKOUTERD" --interface "$LAB-up" \
    --trusted-dns 198.51.100.53 --trusted-dns '[2001:db8:1::53]' \
    --bpffs "$STATE/bpffs/skouter" --admin-socket "$STATE/skouterd.sock" \
    --kubernetes --kubeconfig "$OUT/kubeconfig" --node-name "$NODE_NAME" \
    >>"$OUT/skouterd.log" 2>&1 &
  DAEMON_PID=$!
  local i
  for ((i = 0; i < 300; i++)); do
    ctl ready >/dev/null 2>&1 && return 0
    kill -0 "$DAEMON_PID" 2>/dev/null || die "skouterd exited, see $OUT/skouterd.log"
    sleep 0.1
  done
  die "skouterd not ready, see $OUT/skouterd.log"
}

# policed_ok: how many pods `status` shows policed with an interface and no problem.
policed_ok() {
  ctl status -o json 2>/dev/null |
    jq '[.pods[]? | select(.interface != null and .problem == null)] | length' 2>/dev/null ||
    echo 0
}
# has_pod NAME: whether `status` shows shop/NAME policed with an interface, no problem.
has_pod() {
  ctl status -o json 2>/dev/null | jq -e --arg name "shop/$1" \
    'any(.pods[]?; .pod == $name and .interface != null and .problem == null)' >/dev/null
}

# cpu_ns: every skouterd thread's run time so far, in ns.
cpu_ns() {
  local total=0 run _ f
  for f in /proc/"$DAEMON_PID"/task/*/schedstat; do
    read -r run _ <"$f" 2>/dev/null || continue
    total=$((total + run))
  done
  echo "$total"
}

# churn COUNT: COUNT changes at RATE per second; state in PRESENT (slots with an
# object), NEXT_SLOT, GROUP_OF (each steady pod's group), N.
churn() {
  local count=$1 k start target now op slot pod
  start=${EPOCHREALTIME/./}
  for ((k = 0; k < count; k++)); do
    target=$((start + k * 1000000 / RATE))
    now=${EPOCHREALTIME/./}
    if ((target > now)); then sleep "$(printf '0.%06d' $((target - now)))"; fi
    op=$((CHANGE % 3))
    CHANGE=$((CHANGE + 1))
    case $op in
      0) # add: the next slot without an object
        for ((slot = NEXT_SLOT; ; slot = (slot + 1) % SLOTS)); do
          [[ -z "${PRESENT[$slot]:-}" ]] && break
        done
        NEXT_SLOT=$(((slot + 1) % SLOTS))
        PRESENT[slot]=1
        pod_yaml "slot-$slot" $((N + slot)) $((slot % EGRESSES)) | put "pod-c$slot.yaml"
        ;;
      1) # relabel a steady pod: the next Egress applies
        pod=$(((CHANGE / 3) % N))
        GROUP_OF[pod]=$(((GROUP_OF[pod] + 1) % EGRESSES))
        pod_yaml "web-$pod" "$pod" "${GROUP_OF[pod]}" | put "pod-$pod.yaml"
        ;;
      2) # delete: the oldest-added slot with an object (after NEXT_SLOT, cyclically)
        for ((slot = NEXT_SLOT; ; slot = (slot + 1) % SLOTS)); do
          [[ -n "${PRESENT[$slot]:-}" ]] && break
        done
        unset 'PRESENT[slot]'
        rm -f "$OBJECTS/pod-c$slot.yaml"
        ;;
    esac
  done
}

# by_map FILE CHANGES: the bpf() calls of an strace log per command and map, per change
# (maps named from skouterd's descriptors: run while it does).
by_map() {
  local fd id names=()
  while read -r fd; do
    id=$(awk '/^map_id:/ { print $2 }' "/proc/$DAEMON_PID/fdinfo/$fd" 2>/dev/null || true)
    [[ -z "$id" ]] || names+=("$fd=$(bpftool map show id "$id" -j 2>/dev/null | jq -r .name)")
  done < <(grep -o 'map_fd=[0-9]*' "$1" | sort -u | cut -d= -f2)
  python3 - "$1" "$2" "${names[@]}" <<'PY'
import collections, re, sys
path, changes, names = sys.argv[1], int(sys.argv[2]), dict(a.split("=", 1) for a in sys.argv[3:])
counts = collections.Counter()
for line in open(path):
    call = re.search(r"bpf\((BPF_[A-Z_]+)", line)
    if call:
        fd = re.search(r"map_fd=(\d+)", line)
        counts[(call.group(1), names.get(fd.group(1), "fd " + fd.group(1)) if fd else "-")] += 1
for (command, name), count in counts.most_common(12):
    print(f"{count / changes:8.1f}  {command:24} {name}")
PY
}

# bpf_calls FILE: the bpf() call count in an strace -c summary.
bpf_calls() {
  awk '$NF == "bpf" { print $4 }' "$1" | head -1
}

"$LAB_SH" up "$LAB" >"$OUT/lab.txt" 2>&1 || die "lab.sh up failed, see $OUT/lab.txt"
"$LAB_SH" cluster "$LAB" >>"$OUT/lab.txt" 2>&1 || die "lab.sh cluster failed"

MADE=0 # pod namespaces made so far: steady pods 0..N-1 share indexes with slots, so
# the lab is rebuilt per N (slots are addressed after the steady pods).
CHANGES=$((WINDOW * RATE))
printf '%-5s %-6s %-8s %9s %10s %11s %11s %10s %12s\n' pods rules egresses changes \
  idle_cpu/s cpu/change bpf/change idle_bpf/s add_ms_p50/max >"$OUT/table.txt"
for N in $PODS; do
  stop_daemon
  stop_double
  if ((MADE > 0)); then
    "$LAB_SH" down "$LAB" >/dev/null 2>&1 || true
    "$LAB_SH" up "$LAB" >>"$OUT/lab.txt" 2>&1 || die "lab.sh up failed"
    "$LAB_SH" cluster "$LAB" >>"$OUT/lab.txt" 2>&1 || die "lab.sh cluster failed"
  fi
  started=$SECONDS
  for ((i = 0; i < N; i++)); do
    "$LAB_SH" pod-add "$LAB" "$i" "$(pod_v4 "$i")" "$(pod_v6 "$i")" >>"$OUT/lab.txt" 2>&1 ||
      die "pod-add $i failed"
  done
  for ((s = 0; s < SLOTS; s++)); do
    "$LAB_SH" pod-add "$LAB" "c$s" "$(pod_v4 $((N + s)))" "$(pod_v6 $((N + s)))" \
      >>"$OUT/lab.txt" 2>&1 || die "pod-add c$s failed"
  done
  MADE=1
  echo "pod_churn_bench: N=$N: $((N + SLOTS)) pod namespaces in $((SECONDS - started)) s" >&2

  write_cluster
  declare -a GROUP_OF=() PRESENT=()
  for ((i = 0; i < N; i++)); do
    GROUP_OF[i]=$((i % EGRESSES))
    pod_yaml "web-$i" "$i" "${GROUP_OF[i]}" | put "pod-$i.yaml"
  done
  # Half the slots start with their pod.
  for ((s = 0; s < SLOTS; s += 2)); do
    PRESENT[s]=1
    pod_yaml "slot-$s" $((N + s)) $((s % EGRESSES)) | put "pod-c$s.yaml"
  done
  NEXT_SLOT=1
  CHANGE=0
  start_double
  start_daemon
  want=$((N + (SLOTS + 1) / 2))
  for ((i = 0; i < 300; i++)); do
    [[ $(policed_ok) -eq $want ]] && break
    sleep 0.2
  done
  got=$(policed_ok)
  [[ $got -eq $want ]] || die "N=$N: $got of $want pods policed, see $OUT/skouterd.log"
  sleep 2 # the first prewarm lookups and attachments settle

  # Idle window: CPU and bpf() calls with nothing changing.
  c0=$(cpu_ns)
  sleep "$WINDOW"
  c1=$(cpu_ns)
  idle_ns=$((c1 - c0))
  strace -c -f -e trace=bpf -p "$DAEMON_PID" -o "$OUT/strace-idle-$N.txt" 2>/dev/null &
  STRACE_PID=$!
  sleep 1 # attached
  sleep "$WINDOW"
  kill -INT "$STRACE_PID"
  wait "$STRACE_PID" 2>/dev/null || true
  STRACE_PID=""
  idle_bpf=$(bpf_calls "$OUT/strace-idle-$N.txt")
  idle_bpf=${idle_bpf:-0}

  # Churn window, CPU.
  c0=$(cpu_ns)
  churn "$CHANGES"
  sleep 1 # the last change applied
  c1=$(cpu_ns)
  churn_ns=$((c1 - c0))
  # Churn window under strace, bpf() calls, every one (for the breakdown by map).
  strace -f -qq -e trace=bpf -p "$DAEMON_PID" -o "$OUT/strace-churn-$N.txt" 2>/dev/null &
  STRACE_PID=$!
  sleep 1
  churn "$CHANGES"
  sleep 1
  kill -INT "$STRACE_PID"
  wait "$STRACE_PID" 2>/dev/null || true
  STRACE_PID=""
  churn_bpf=$(grep -c 'bpf(BPF_' "$OUT/strace-churn-$N.txt" || true)
  churn_bpf=${churn_bpf:-0}
  by_map "$OUT/strace-churn-$N.txt" "$CHANGES" >"$OUT/bpf-by-map-$N.txt"

  # With PERF=1, a third churn window under perf record (call graphs from DWARF).
  if [[ -n "${PERF:-}" ]]; then
    perf record -F 999 --call-graph dwarf,16384 -p "$DAEMON_PID" -o "$OUT/perf-$N.data" \
      >"$OUT/perf-$N.log" 2>&1 &
    PERF_PID=$!
    sleep 1
    churn "$CHANGES"
    sleep 1
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true
    PERF_PID=""
  fi

  # Latency of adds, one at a time, into a slot without an object.
  : >"$OUT/add-ms-$N.txt"
  for ((k = 0; k < LATENCY; k++)); do
    for ((slot = 0; slot < SLOTS; slot++)); do
      [[ -z "${PRESENT[$slot]:-}" ]] && break
    done
    ((slot < SLOTS)) || die "no free slot"
    t0=${EPOCHREALTIME/./}
    pod_yaml "slot-$slot" $((N + slot)) $((slot % EGRESSES)) | put "pod-c$slot.yaml"
    until has_pod "slot-$slot"; do
      (((${EPOCHREALTIME/./} - t0) < 10000000)) || die "pod c$slot not policed after 10 s"
      sleep 0.01
    done
    echo $(((${EPOCHREALTIME/./} - t0) / 1000)) >>"$OUT/add-ms-$N.txt"
    rm -f "$OBJECTS/pod-c$slot.yaml"
    t0=${EPOCHREALTIME/./}
    while has_pod "slot-$slot"; do
      (((${EPOCHREALTIME/./} - t0) < 20000000)) || die "pod c$slot still policed 20 s after its removal"
      sleep 0.01
    done
  done
  ctl status -o json >"$OUT/status-$N.json"

  python3 - "$N" "$RULES" "$EGRESSES" "$CHANGES" "$WINDOW" "$idle_ns" "$churn_ns" \
    "$idle_bpf" "$((WINDOW + 1))" "$churn_bpf" "$((WINDOW + 2))" "$OUT/add-ms-$N.txt" \
    >>"$OUT/table.txt" <<'EOF'
import statistics, sys
(n, rules, egresses, changes, window, idle_ns, churn_ns, idle_bpf, idle_bpf_s, churn_bpf,
 churn_bpf_s) = map(int, sys.argv[1:12])
adds = sorted(int(line) for line in open(sys.argv[12]))
# Churn windows last WINDOW s plus a second to settle (CPU) or two (strace).
idle_rate = idle_ns / window
cpu = (churn_ns - idle_rate * (window + 1)) / changes
bpf = (churn_bpf - idle_bpf / idle_bpf_s * churn_bpf_s) / changes
print(f"{n:<5} {rules:<6} {egresses:<8} {changes:9} {idle_rate / 1e6:8.2f}ms "
      f"{cpu / 1e6:9.3f}ms {bpf:11.1f} {idle_bpf / idle_bpf_s:10.1f} "
      f"{statistics.median(adds):6.0f}/{max(adds)}")
EOF
  tail -1 "$OUT/table.txt" >&2
  echo "bpf() calls per change at N=$N, by command and map (before the idle rate is taken off):" \
    >>"$OUT/by-map.txt"
  cat "$OUT/bpf-by-map-$N.txt" >>"$OUT/by-map.txt"
done
cat "$OUT/table.txt" "$OUT/by-map.txt"
