#!/usr/bin/env bash
# The skouter e2e lab: two network namespaces joined by a veth pair.
#
#   NAME-node                                NAME-world
#   ---------                                ----------
#   NAME-up  198.51.100.2/24     <-- veth -->  NAME-dn  198.51.100.1/24   (gateway)
#            2001:db8:1::2/64                          2001:db8:1::1/64
#   default via 198.51.100.1                           198.51.100.53/24   (resolver)
#   default via 2001:db8:1::1                          2001:db8:1::53/64  (resolver)
#   resolv.conf: nameserver 198.51.100.53    local routes on lo: 203.0.113.0/24,
#   http_server.py on [::]:8080                198.18.0.0/15, 2001:db8:100::/64
#                                            unbound on 198.51.100.53 / 2001:db8:1::53
#                                            http_server.py on [::]:80 and [::]:443
#                                            (plain HTTP on both: 443 is for port rules)
#
# The node is the host skouter protects (its uplink is NAME-up); the world is
# "the Internet": it owns whole address ranges, so every lab name resolves to
# an address whose port 80 answers. Zone data: lab/lab.zone.in.
#
# A lab can also play one Kubernetes node (`cluster`, then `pod-add` per pod):
#
#   NAME-POD (a pod)                         NAME-node
#   eth0  POD_V4/32, POD_V6/128  <-- veth -->  vethNAMEPOD  169.254.1.1/32, fe80::1/64
#   default via 169.254.1.1 / fe80::1           route POD_V4/32, POD_V6/128 dev vethNAMEPOD
#   resolv.conf: nameserver 192.0.2.53       forwarding on; pod traffic (192.0.2.0/24,
#                                            2001:db8:2::/64) masqueraded on NAME-up;
#                                            the DNS service 192.0.2.53 / 2001:db8:2::53
#                                            port 53 DNATed to the world's resolver,
#                                            from pods and the node (as kube-proxy does)
#
# Usage:
#   lab.sh up NAME               build the lab (fails if it already exists)
#   lab.sh down NAME             tear it down (idempotent)
#   lab.sh exec NAME node|world|POD CMD...
#   lab.sh cluster NAME          make the node a Kubernetes node (NAT, forwarding)
#   lab.sh pod-add NAME POD V4 V6  a pod namespace NAME-POD (POD: 1-3 of [a-z0-9])
#   lab.sh pod-del NAME POD      delete that pod (its processes, namespace, veth)
#   lab.sh guest-add NAME        a guest behind a bridge on the node (as Docker or a VM)
#   lab.sh uplink6-add NAME      a second, IPv6-only link to the world, the IPv6 default route
#   lab.sh macvlan-add NAME      a guest on a macvlan of the uplink
#
# The three last are for traffic that is neither the node's own nor a pod's:
#
#   NAME-g (guest)                           NAME-node
#   eth0  192.0.2.194/26         <-- veth -->  NAME-gv, port of the bridge NAME-br:
#         2001:db8:3::2/64                     192.0.2.193/26, 2001:db8:3::1/64
#   default via the bridge                     forwarding on; guest traffic masqueraded
#   resolv.conf: nameserver 198.51.100.53      on NAME-up
#
#   NAME-node                                NAME-world
#   NAME-u6  2001:db8:4::2/64    <-- veth -->  NAME-d6  2001:db8:4::1/64
#   IPv6 default via 2001:db8:4::1 (moved from NAME-up; IPv4 stays on NAME-up)
#
#   NAME-m (macvlan guest)
#   eth0: macvlan (bridge mode) of NAME-up, 198.51.100.50/24, default via 198.51.100.1,
#   resolv.conf: nameserver 198.51.100.53
#
# NAME: 1-8 characters [A-Za-z0-9_-], so "NAME-world" and "NAME-up" stay
# within the interface/namespace name limits. Needs root.
# Everything up creates is recorded under /run/skouter-lab/NAME/.
set -euo pipefail

LAB_FILES="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lab"
readonly LAB_FILES
readonly STATE_ROOT=/run/skouter-lab
if [[ -n "${SKOUTER_LAB_PYTHON:-}" ]]; then
  readonly PYTHON="$SKOUTER_LAB_PYTHON"
elif [[ -x /usr/bin/python3 ]]; then
  readonly PYTHON=/usr/bin/python3
else
  readonly PYTHON=python3
fi

die() {
  echo "lab.sh: $*" >&2
  exit 1
}

usage() {
  cat >&2 <<'EOF'
usage: lab.sh up NAME
       lab.sh down NAME
       lab.sh exec NAME node|world|POD CMD...
       lab.sh cluster NAME
       lab.sh pod-add NAME POD IPV4 IPV6
       lab.sh pod-del NAME POD
       lab.sh guest-add NAME
       lab.sh uplink6-add NAME
       lab.sh macvlan-add NAME
EOF
  exit 2
}

set_name() {
  [[ "$1" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,7}$ ]] ||
    die "invalid lab name '$1': use 1-8 characters [A-Za-z0-9_-], starting with a letter or digit"
  NAME=$1
  NODE_NS="$NAME-node"
  WORLD_NS="$NAME-world"
  UPLINK="$NAME-up"   # node side of the veth pair
  DOWNLINK="$NAME-dn" # world side of the veth pair
  STATE="$STATE_ROOT/$NAME"
}

require_root() {
  [[ $EUID -eq 0 ]] || die "must run as root"
}

ns_exists() {
  [[ -e "/run/netns/$1" ]]
}

# Files and processes that `up` creates are appended to $STATE/created and
# $STATE/pids ("PID STARTTIME", so a recycled PID is never killed).
record_file() {
  echo "$1" >>"$STATE/created"
}

start_time() {
  local stat rest fields
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  rest=${stat##*) }
  read -ra fields <<<"$rest"
  echo "${fields[19]}"
}

# start_daemon NS TAG CMD... : runs CMD in NS in its own session, output to $STATE/TAG.log.
start_daemon() {
  local ns=$1 tag=$2
  shift 2
  record_file "$STATE/$tag.log"
  setsid ip netns exec "$ns" "$@" </dev/null >"$STATE/$tag.log" 2>&1 &
  local pid=$!
  echo "$pid $(start_time "$pid" || echo 0)" >>"$STATE/pids"
  echo "$pid" >"$STATE/$tag.pid"
  record_file "$STATE/$tag.pid"
}

daemon_alive() {
  local pid
  pid=$(cat "$STATE/$1.pid")
  [[ -e "/proc/$pid" ]] && [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]]
}

# wait_for TAG DESCRIPTION CMD... : retries CMD for up to 10 s while daemon TAG lives.
wait_for() {
  local tag=$1 what=$2
  shift 2
  local i
  for ((i = 0; i < 100; i++)); do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    if ! daemon_alive "$tag"; then
      echo "lab.sh: $what exited; its log ($STATE/$tag.log):" >&2
      sed 's/^/  /' "$STATE/$tag.log" >&2 || true
      return 1
    fi
    sleep 0.1
  done
  echo "lab.sh: timed out waiting for $what; its log ($STATE/$tag.log):" >&2
  sed 's/^/  /' "$STATE/$tag.log" >&2 || true
  return 1
}

resolver_answers() {
  [[ "$(ip netns exec "$NODE_NS" dig +time=1 +tries=1 +short @"$1" example.com A)" == 203.0.113.10 ]]
}

listening() {
  [[ -n "$(ip netns exec "$1" ss -Hltn "sport = :$2")" ]]
}

write_zone() {
  local zone=$1 k
  cp "$LAB_FILES/lab.zone.in" "$zone"
  # nK.wikipedia.org -> 198.18.(1 + (K-1)/100).(1 + (K-1)%100), see lab.zone.in.
  for ((k = 1; k <= 300; k++)); do
    printf 'n%d.wikipedia.org. 300 IN A 198.18.%d.%d\n' "$k" $((1 + (k - 1) / 100)) $((1 + (k - 1) % 100))
  done >>"$zone"
  # big.wikipedia.org: 120 A records, 198.18.10.1 .. 198.18.10.120: too many for a
  # 512-byte UDP answer, so a client without EDNS gets it truncated.
  for ((k = 1; k <= 120; k++)); do
    printf 'big.wikipedia.org. 300 IN A 198.18.10.%d\n' "$k"
  done >>"$zone"
  # rebind.wikipedia.org: a public and two private addresses (DNS rebinding). Nothing
  # in the lab routes to the private ones; they only ever appear in answers.
  printf 'rebind.wikipedia.org. 300 IN A %s\n' 203.0.113.60 10.0.0.1 192.168.1.1 >>"$zone"
  # A name two labels below example.com, for wildcard rules.
  printf 'a.b.example.com. 300 IN A 203.0.113.15\n' >>"$zone"
}

UP_DONE=0
on_up_exit() {
  local rc=$?
  if [[ $UP_DONE -ne 1 ]]; then
    echo "lab.sh: up $NAME failed (exit $rc); cleaning up" >&2
    do_down || true
  fi
  exit "$rc"
}

do_up() {
  require_root
  local tool
  for tool in ip unbound dig ss setsid; do
    command -v "$tool" >/dev/null || die "'$tool' not found"
  done
  [[ -x "$PYTHON" ]] || command -v "$PYTHON" >/dev/null || die "python '$PYTHON' not found"

  local ns
  for ns in "$NODE_NS" "$WORLD_NS"; do
    ! ns_exists "$ns" || die "lab '$NAME' already exists (namespace $ns); run: lab.sh down $NAME"
    [[ ! -e "/etc/netns/$ns" ]] || die "lab '$NAME' already exists (/etc/netns/$ns); run: lab.sh down $NAME"
  done
  mkdir -p "$STATE_ROOT"
  mkdir "$STATE" 2>/dev/null || die "lab '$NAME' already exists ($STATE); run: lab.sh down $NAME"
  trap on_up_exit EXIT
  : >"$STATE/pids"
  : >"$STATE/created"

  # Namespaces and the veth pair (created inside the namespaces: the root
  # namespace never sees the interfaces).
  ip netns add "$WORLD_NS"
  echo "$WORLD_NS" >>"$STATE/netns"
  ip netns add "$NODE_NS"
  echo "$NODE_NS" >>"$STATE/netns"
  ip -n "$NODE_NS" link add "$UPLINK" type veth peer name "$DOWNLINK" netns "$WORLD_NS"

  # World: gateway, resolver addresses, and whole ranges answered locally.
  ip -n "$WORLD_NS" link set lo up
  ip -n "$WORLD_NS" addr add 198.51.100.1/24 dev "$DOWNLINK"
  ip -n "$WORLD_NS" addr add 198.51.100.53/24 dev "$DOWNLINK"
  ip -n "$WORLD_NS" addr add 2001:db8:1::1/64 dev "$DOWNLINK" nodad
  ip -n "$WORLD_NS" addr add 2001:db8:1::53/64 dev "$DOWNLINK" nodad
  ip -n "$WORLD_NS" link set "$DOWNLINK" up
  ip -n "$WORLD_NS" route add local 203.0.113.0/24 dev lo
  ip -n "$WORLD_NS" route add local 198.18.0.0/15 dev lo
  ip -n "$WORLD_NS" -6 route add local 2001:db8:100::/64 dev lo

  # Node: the protected host.
  ip -n "$NODE_NS" link set lo up
  ip -n "$NODE_NS" addr add 198.51.100.2/24 dev "$UPLINK"
  ip -n "$NODE_NS" addr add 2001:db8:1::2/64 dev "$UPLINK" nodad
  ip -n "$NODE_NS" link set "$UPLINK" up
  ip -n "$NODE_NS" route add default via 198.51.100.1 dev "$UPLINK"
  ip -n "$NODE_NS" -6 route add default via 2001:db8:1::1 dev "$UPLINK"

  # `ip netns exec` bind-mounts /etc/netns/NS/* over /etc: both namespaces use
  # the lab resolver.
  for ns in "$NODE_NS" "$WORLD_NS"; do
    mkdir -p "/etc/netns/$ns"
    record_file "/etc/netns/$ns"
    echo "nameserver 198.51.100.53" >"/etc/netns/$ns/resolv.conf"
  done

  # A bpffs of the lab's own for skouterd's pins: `ip netns exec` gives each command
  # a fresh /sys, so /sys/fs/bpf would not outlive one daemon there.
  mkdir "$STATE/bpffs"
  mount -t bpf bpf "$STATE/bpffs"
  echo "$STATE/bpffs" >"$STATE/bpffs-mounted"

  # Resolver.
  record_file "$STATE/lab.zone"
  write_zone "$STATE/lab.zone"
  record_file "$STATE/unbound.conf"
  sed "s|@STATE@|$STATE|g" "$LAB_FILES/unbound.conf.in" >"$STATE/unbound.conf"
  unbound-checkconf "$STATE/unbound.conf" >/dev/null
  record_file "$STATE/unbound.pid"
  start_daemon "$WORLD_NS" unbound unbound -d -c "$STATE/unbound.conf"

  # HTTP servers.
  start_daemon "$WORLD_NS" http-world "$PYTHON" "$LAB_FILES/http_server.py" --port 80
  start_daemon "$WORLD_NS" http-world-443 "$PYTHON" "$LAB_FILES/http_server.py" --port 443
  start_daemon "$NODE_NS" http-node "$PYTHON" "$LAB_FILES/http_server.py" --port 8080

  wait_for unbound "unbound" resolver_answers 198.51.100.53
  wait_for unbound "unbound (IPv6)" resolver_answers 2001:db8:1::53
  wait_for http-world "the world's http_server.py" listening "$WORLD_NS" 80
  wait_for http-world-443 "the world's http_server.py on 443" listening "$WORLD_NS" 443
  wait_for http-node "the node's http_server.py" listening "$NODE_NS" 8080

  UP_DONE=1
  echo "lab $NAME up: namespaces $NODE_NS (uplink $UPLINK) and $WORLD_NS (link $DOWNLINK), state in $STATE"
}

# kill_all PID... : SIGTERM, up to 3 s grace, then SIGKILL. Zombies count as gone.
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n "$state" && "$state" != Z ]]
}

kill_all() {
  local pid i left
  [[ $# -gt 0 ]] || return 0
  kill -TERM "$@" 2>/dev/null || true
  for ((i = 0; i < 30; i++)); do
    left=()
    for pid in "$@"; do
      if alive "$pid"; then left+=("$pid"); fi
    done
    [[ ${#left[@]} -gt 0 ]] || return 0
    sleep 0.1
  done
  kill -KILL "${left[@]}" 2>/dev/null || true
  for ((i = 0; i < 20; i++)); do
    left=()
    for pid in "$@"; do
      if alive "$pid"; then left+=("$pid"); fi
    done
    [[ ${#left[@]} -gt 0 ]] || return 0
    sleep 0.1
  done
  echo "lab.sh: processes still alive after SIGKILL: ${left[*]}" >&2
  return 1
}

do_cluster() {
  require_root
  ns_exists "$NODE_NS" || die "lab '$NAME' is not up"
  command -v nft >/dev/null || die "'nft' not found (package nftables)"
  ip netns exec "$NODE_NS" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  ip netns exec "$NODE_NS" nft -f - <<NFT
table inet lab_cluster {
  chain prerouting {
    type nat hook prerouting priority dstnat;
    ip daddr 192.0.2.53 meta l4proto { udp, tcp } th dport 53 dnat ip to 198.51.100.53
    ip6 daddr 2001:db8:2::53 meta l4proto { udp, tcp } th dport 53 dnat ip6 to 2001:db8:1::53
  }
  # The node's own processes reach the service too (kube-proxy's OUTPUT rules): skouterd
  # confirms pods' answers there.
  chain output {
    type nat hook output priority -100;
    ip daddr 192.0.2.53 meta l4proto { udp, tcp } th dport 53 dnat ip to 198.51.100.53
    ip6 daddr 2001:db8:2::53 meta l4proto { udp, tcp } th dport 53 dnat ip6 to 2001:db8:1::53
  }
  chain postrouting {
    type nat hook postrouting priority srcnat;
    oifname "$UPLINK" ip saddr 192.0.2.0/24 masquerade
    oifname "$UPLINK" ip6 saddr 2001:db8:2::/64 masquerade
  }
}
NFT
}

set_pod() {
  [[ "$1" =~ ^[a-z0-9]{1,3}$ ]] || die "invalid pod name '$1': use 1-3 characters [a-z0-9]"
  POD_NS="$NAME-$1"
  POD_LINK="veth$NAME$1" # the pod's host-side interface, named as CNIs name them
}

do_pod_add() {
  require_root
  set_pod "$1"
  local v4=$2 v6=$3
  ns_exists "$NODE_NS" || die "lab '$NAME' is not up"
  ! ns_exists "$POD_NS" || die "pod '$1' already exists"
  ip netns add "$POD_NS"
  echo "$POD_NS" >>"$STATE/netns"
  mkdir -p "/etc/netns/$POD_NS"
  echo "nameserver 192.0.2.53" >"/etc/netns/$POD_NS/resolv.conf"
  ip -n "$NODE_NS" link add "$POD_LINK" type veth peer name eth0 netns "$POD_NS"
  ip -n "$NODE_NS" addr add 169.254.1.1/32 dev "$POD_LINK"
  ip -n "$NODE_NS" addr add fe80::1/64 dev "$POD_LINK" nodad
  ip -n "$NODE_NS" link set "$POD_LINK" up
  ip -n "$POD_NS" link set lo up
  ip -n "$POD_NS" addr add "$v4/32" dev eth0
  ip -n "$POD_NS" addr add "$v6/128" dev eth0 nodad
  ip -n "$POD_NS" link set eth0 up
  ip -n "$POD_NS" route add 169.254.1.1 dev eth0 scope link
  ip -n "$POD_NS" route add default via 169.254.1.1 dev eth0
  ip -n "$POD_NS" -6 route add default via fe80::1 dev eth0
  ip -n "$NODE_NS" route add "$v4/32" dev "$POD_LINK"
  ip -n "$NODE_NS" -6 route add "$v6/128" dev "$POD_LINK"
}

do_pod_del() {
  require_root
  set_pod "$1"
  if ns_exists "$POD_NS"; then
    local pids=() pid
    for pid in $(ip netns pids "$POD_NS" 2>/dev/null); do pids+=("$pid"); done
    kill_all "${pids[@]}" || true
    ip netns del "$POD_NS"
  fi
  rm -rf "/etc/netns/$POD_NS"
}

# new_netns NS : a namespace `down` removes, with its own resolv.conf.
new_netns() {
  ! ns_exists "$1" || die "namespace $1 already exists"
  ip netns add "$1"
  echo "$1" >>"$STATE/netns"
  ip -n "$1" link set lo up
  mkdir -p "/etc/netns/$1"
  echo "nameserver $2" >"/etc/netns/$1/resolv.conf"
}

do_guest_add() {
  require_root
  ns_exists "$NODE_NS" || die "lab '$NAME' is not up"
  command -v nft >/dev/null || die "'nft' not found (package nftables)"
  local guest_ns="$NAME-g" bridge="$NAME-br" port="$NAME-gv"
  new_netns "$guest_ns" 198.51.100.53
  ip -n "$NODE_NS" link add "$bridge" type bridge
  ip -n "$NODE_NS" addr add 192.0.2.193/26 dev "$bridge"
  ip -n "$NODE_NS" addr add 2001:db8:3::1/64 dev "$bridge" nodad
  ip -n "$NODE_NS" link set "$bridge" up
  ip -n "$NODE_NS" link add "$port" type veth peer name eth0 netns "$guest_ns"
  ip -n "$NODE_NS" link set "$port" master "$bridge" up
  ip -n "$guest_ns" addr add 192.0.2.194/26 dev eth0
  ip -n "$guest_ns" addr add 2001:db8:3::2/64 dev eth0 nodad
  ip -n "$guest_ns" link set eth0 up
  ip -n "$guest_ns" route add default via 192.0.2.193
  ip -n "$guest_ns" -6 route add default via 2001:db8:3::1
  ip netns exec "$NODE_NS" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  ip netns exec "$NODE_NS" nft -f - <<NFT
table inet lab_guest {
  chain postrouting {
    type nat hook postrouting priority srcnat;
    oifname "$UPLINK" ip saddr 192.0.2.192/26 masquerade
    oifname "$UPLINK" ip6 saddr 2001:db8:3::/64 masquerade
  }
}
NFT
}

do_uplink6_add() {
  require_root
  ns_exists "$NODE_NS" || die "lab '$NAME' is not up"
  local node_link="$NAME-u6" world_link="$NAME-d6"
  ip -n "$NODE_NS" link add "$node_link" type veth peer name "$world_link" netns "$WORLD_NS"
  ip -n "$WORLD_NS" addr add 2001:db8:4::1/64 dev "$world_link" nodad
  ip -n "$WORLD_NS" link set "$world_link" up
  ip -n "$NODE_NS" addr add 2001:db8:4::2/64 dev "$node_link" nodad
  ip -n "$NODE_NS" link set "$node_link" up
  ip -n "$NODE_NS" -6 route replace default via 2001:db8:4::1 dev "$node_link"
}

do_macvlan_add() {
  require_root
  ns_exists "$NODE_NS" || die "lab '$NAME' is not up"
  local guest_ns="$NAME-m" link="$NAME-mv"
  new_netns "$guest_ns" 198.51.100.53
  ip -n "$NODE_NS" link add "$link" link "$UPLINK" type macvlan mode bridge
  ip -n "$NODE_NS" link set "$link" netns "$guest_ns"
  ip -n "$guest_ns" link set "$link" name eth0
  ip -n "$guest_ns" addr add 198.51.100.50/24 dev eth0
  ip -n "$guest_ns" link set eth0 up
  ip -n "$guest_ns" route add default via 198.51.100.1
}

do_down() {
  require_root
  local pids=() pid started ns rc=0

  # Recorded daemons (also when their namespace is already gone).
  if [[ -f "$STATE/pids" ]]; then
    while read -r pid started; do
      [[ -n "$pid" ]] || continue
      if [[ "$(start_time "$pid" 2>/dev/null || true)" == "$started" ]]; then pids+=("$pid"); fi
    done <"$STATE/pids"
  fi
  # Every namespace the lab made: the node, the world and any pods or guests.
  local namespaces=("$NODE_NS" "$WORLD_NS")
  if [[ -f "$STATE/netns" ]]; then
    while read -r ns; do
      if [[ -n "$ns" && "$ns" != "$NODE_NS" && "$ns" != "$WORLD_NS" ]]; then namespaces+=("$ns"); fi
    done <"$STATE/netns"
  fi
  # Everything else still running in the namespaces (e.g. skouterd, tests' helpers).
  for ns in "${namespaces[@]}"; do
    if ns_exists "$ns"; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do
        if [[ "$pid" != "$$" ]]; then pids+=("$pid"); fi
      done
    fi
  done
  kill_all "${pids[@]}" || rc=1

  # Deleting the node namespace also deletes the veth pairs.
  for ns in "${namespaces[@]}"; do
    if ns_exists "$ns"; then
      ip netns del "$ns" || rc=1
    fi
    rm -rf "/etc/netns/$ns"
  done
  rmdir /etc/netns 2>/dev/null || true
  if [[ -f "$STATE/bpffs-mounted" ]] && mountpoint -q "$STATE/bpffs"; then
    umount "$STATE/bpffs" || rc=1
  fi
  rm -rf "$STATE"
  rmdir "$STATE_ROOT" 2>/dev/null || true
  return "$rc"
}

main() {
  [[ $# -ge 2 ]] || usage
  local cmd=$1
  set_name "$2"
  shift 2
  case "$cmd" in
    up)
      [[ $# -eq 0 ]] || usage
      do_up
      ;;
    down)
      [[ $# -eq 0 ]] || usage
      do_down
      ;;
    exec)
      [[ $# -ge 2 ]] || usage
      local role=$1
      shift
      ns_exists "$NAME-$role" || die "lab '$NAME' has no namespace for '$role'"
      exec ip netns exec "$NAME-$role" "$@"
      ;;
    cluster)
      [[ $# -eq 0 ]] || usage
      do_cluster
      ;;
    pod-add)
      [[ $# -eq 3 ]] || usage
      do_pod_add "$@"
      ;;
    pod-del)
      [[ $# -eq 1 ]] || usage
      do_pod_del "$1"
      ;;
    guest-add)
      [[ $# -eq 0 ]] || usage
      do_guest_add
      ;;
    uplink6-add)
      [[ $# -eq 0 ]] || usage
      do_uplink6_add
      ;;
    macvlan-add)
      [[ $# -eq 0 ]] || usage
      do_macvlan_add
      ;;
    *) usage ;;
  esac
}

main "$@"
