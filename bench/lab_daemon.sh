# Sourced by the benchmarks that run skouterd on a lab node (tests/e2e/lab.sh) under one
# policy after another: start it on fresh state, stop it, and leave nothing behind.
# Expects LAB, LAB_SH, SKOUTERD, SOCK, PINS, OUT and a die() function.

DAEMON_PID=""

# skouterd with the policies of POLICY_DIR on the lab's uplink, pins removed first;
# returns once its programs are loaded.
start_daemon() { # POLICY_DIR
  rm -rf "$PINS"
  ip netns exec "$LAB-node" "$SKOUTERD" --policy "$1" --interface "$LAB-up" \
    --trusted-dns 198.51.100.53 --bpffs "$PINS" --admin-socket "$SOCK" \
    >>"$OUT/skouterd.log" 2>&1 &
  DAEMON_PID=$!
  local i status
  for ((i = 0; i < 1000; i++)); do
    status="$(curl -sf --unix-socket "$SOCK" http://skouterd/v1/status 2>/dev/null || true)"
    if [[ -n "$status" ]] && python3 -c 'import json,sys; sys.exit(0 if json.loads(sys.argv[1])["startup"]["programs_loaded"] else 1)' "$status" 2>/dev/null; then
      return 0
    fi
    kill -0 "$DAEMON_PID" 2>/dev/null || die "skouterd exited, see $OUT/skouterd.log"
    sleep 0.01
  done
  die "skouterd did not load its programs, see $OUT/skouterd.log"
}

stop_daemon() {
  [[ -n "$DAEMON_PID" ]] || return 0
  kill -TERM "$DAEMON_PID" 2>/dev/null || true
  wait "$DAEMON_PID" 2>/dev/null || true
  DAEMON_PID=""
}

# The daemon stopped, its programs detached, the lab down.
stop_daemon_and_lab() {
  stop_daemon
  if ip netns list | grep -qw "$LAB-node"; then
    ip netns exec "$LAB-node" "$SKOUTERD" --detach --interface "$LAB-up" --bpffs "$PINS" \
      >>"$OUT/skouterd.log" 2>&1 || true
  fi
  "$LAB_SH" down "$LAB" >/dev/null 2>&1 || true
}
