#!/usr/bin/env bash
# The Debian package on a fresh Debian 12. `cpack -G DEB` builds it from BUILD_DIR;
# debootstrap makes a minimal bookworm from the host's own mirror; apt-get installs the
# package there (pulling the libraries its Depends: names); skouterd --version proves
# they satisfy it. Then the ExecStart= of the installed unit runs inside that root
# (without systemd, with the unit's capability bounding set), in a network namespace
# whose uplink has documentation addresses only, until `skouterctl status` answers.
# Stopping it leaves its programs attached and its maps pinned. Last, `apt-get remove`
# detaches them, takes the unit away and keeps the conffiles.
#
# Needs root and the Debian mirror. Runs in a mount namespace of its own, on a tmpfs:
# the root, its mounts, the network namespaces and skouterd go with it even if it is
# killed (an empty /tmp/skouter-deb-test.* directory stays then).
# usage: deb_install_test.sh BUILD_DIR [CPACK]
set -euo pipefail

if [[ $EUID -ne 0 ]]; then
  echo "deb_install_test: needs root (debootstrap, chroot, network namespaces, BPF)" >&2
  exit 77
fi
build="$(cd "$1" && pwd)"
cpack="${2:-cpack}"
if [ -z "${SKOUTER_DEB_TEST_PRIVATE:-}" ]; then
  SKOUTER_DEB_TEST_PRIVATE=1 exec unshare --mount --propagation private -- "$BASH" "$0" "$@"
fi

started=$(date +%s%N)
phase_started=$started
timing() {
  local now tenths
  now=$(date +%s%N)
  tenths=$(((now - phase_started) / 100000000))
  printf 'timing: %-34s %4d.%d s\n' "$1" $((tenths / 10)) $((tenths % 10))
  phase_started=$now
}
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

work="$(mktemp -d /tmp/skouter-deb-test.XXXXXX)"
root="$work/root"
node_ns="skouter-deb-node"
world_ns="skouter-deb-world"
skouterd_pid=""

cleanup() {
  set +e
  if [ -n "$skouterd_pid" ] && kill -0 "$skouterd_pid" 2>/dev/null; then
    kill -KILL "$skouterd_pid"
    wait "$skouterd_pid" 2>/dev/null
  fi
  for mount in "$root/sys/fs/bpf" "$root/sys" "$root/proc" "$root/dev" "$work" /run/netns; do
    mountpoint -q "$mount" && umount -l "$mount"
  done
  rm -rf "$work"
}
trap cleanup EXIT
# Private to this mount namespace: the root lives in memory, and the network namespaces'
# names are seen by no one else.
mount -t tmpfs -o size=2g,mode=0700 skouter-deb-test "$work"
mkdir -p /run/netns
mount -t tmpfs -o mode=0755 skouter-deb-netns /run/netns

# --- the package -------------------------------------------------------------------
mkdir "$work/package"
(cd "$build" && "$cpack" -G DEB -B "$work/package") >"$work/cpack.log" 2>&1 ||
  fail "cpack -G DEB:"$'\n'"$(cat "$work/cpack.log")"
debs=("$work"/package/skouter_*.deb)
[ -f "${debs[0]}" ] || fail "cpack made no skouter_*.deb:"$'\n'"$(ls -l "$work/package")"
deb="${debs[0]}"
version="$(dpkg-deb -f "$deb" Version)"
echo "package: $(basename "$deb"), Depends: $(dpkg-deb -f "$deb" Depends)"
timing "cpack -G DEB"

# --- a fresh Debian 12 from the host's mirror ---------------------------------------
# The host's Debian sources (one-line and deb822), as "URI SUITE COMPONENTS..." lines.
mapfile -t sources < <(/usr/bin/python3 - <<'PYTHON'
import glob
import re

entries = []
for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        words = re.sub(r"\[[^]]*\]", " ", line.split("#")[0]).split()
        if len(words) >= 4 and words[0] == "deb":
            entries.append((words[1], words[2], words[3:]))
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in re.split(r"\n\s*\n", open(path).read()):
        fields = {}
        for line in stanza.splitlines():
            if ":" in line and not line.startswith(("#", " ")):
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.split("#")[0].split()
        if "deb" not in fields.get("types", []) or fields.get("enabled", ["yes"]) == ["no"]:
            continue
        for uri in fields.get("uris", []):
            for suite in fields.get("suites", []):
                entries.append((uri, suite, fields.get("components", ["main"])))
for uri, suite, components in entries:
    if re.fullmatch(r"bookworm(-updates|-security)?", suite):
        print(uri, suite, " ".join(components))
PYTHON
)
mirror=""
for source in "${sources[@]}"; do
  read -r uri suite _ <<<"$source"
  [ "$suite" = bookworm ] && mirror="$uri" && break
done
[ -n "$mirror" ] || fail "no bookworm source in /etc/apt/sources.list{,.d}"
echo "mirror: $mirror"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  fail "debootstrap:"$'\n'"$(tail -n 30 "$work/debootstrap.log")"
printf 'deb %s\n' "${sources[@]}" >"$root/etc/apt/sources.list"
timing "debootstrap --variant=minbase"

mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount -t sysfs sysfs "$root/sys"
mount -t bpf bpf "$root/sys/fs/bpf"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
cp "$deb" "$root/tmp/"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }

# --- apt-get install -----------------------------------------------------------------
in_root apt-get update -qq >"$work/apt.log" 2>&1 ||
  fail "apt-get update in the root:"$'\n'"$(cat "$work/apt.log")"
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  "/tmp/$(basename "$deb")" >"$work/apt.log" 2>&1 ||
  fail "apt-get install ./$(basename "$deb") in the root:"$'\n'"$(cat "$work/apt.log")"
timing "apt-get install (with Depends)"

unit=/lib/systemd/system/skouterd.service
conffiles=(/etc/skouter/skouterd.yaml /etc/skouter/policy.d/example.yaml)
for file in /usr/sbin/skouterd /usr/bin/skouterctl "$unit" "${conffiles[@]}" \
  /usr/share/skouter/skouter-dashboard.json; do
  [ -f "$root$file" ] || fail "the package did not install $file"
done
# shellcheck disable=SC2016 # dpkg-query's format, not the shell's
registered="$(in_root dpkg-query -W -f='${Conffiles}' skouter)"
for file in "${conffiles[@]}"; do
  grep -q "^ $file " <<<"$registered" || fail "$file is not a conffile: $registered"
done
output="$(in_root skouterd --version 2>&1)" || fail "skouterd --version in the root: $output"
[[ "$output" == "skouterd $version"* ]] || fail "skouterd --version says '$output', not $version"
in_root skouterctl --help >/dev/null 2>&1 || fail "skouterctl --help fails in the root"
echo "installed: $output"

# --- the unit's ExecStart=, without systemd ------------------------------------------
mapfile -t exec_start < <(sed -n 's/^ExecStart=//p' "$root$unit")
[ "${#exec_start[@]}" -eq 1 ] || fail "want one ExecStart= in $unit: ${exec_start[*]}"
read -r -a command <<<"${exec_start[0]}"
capabilities="$(sed -n 's/^CapabilityBoundingSet=//p' "$root$unit")"
[ -n "$capabilities" ] || fail "$unit sets no CapabilityBoundingSet="
bounding_set="-all"
for capability in $capabilities; do
  capability="${capability#CAP_}"
  bounding_set+=",+${capability,,}"
done

# The node's uplink: a veth to a second namespace, documentation addresses only.
ip netns add "$node_ns"
ip netns add "$world_ns"
ip link add eth0 netns "$node_ns" type veth peer name eth0 netns "$world_ns"
ip -n "$world_ns" address add 192.0.2.1/24 dev eth0
ip -n "$world_ns" link set eth0 up
ip -n "$node_ns" link set lo up
ip -n "$node_ns" address add 192.0.2.10/24 dev eth0
ip -n "$node_ns" link set eth0 up
ip -n "$node_ns" route add default via 192.0.2.1
# The trusted resolver skouterd takes from resolv.conf: a documentation address.
echo "nameserver 192.0.2.53" >"$root/etc/resolv.conf"
# What RuntimeDirectory=skouter makes under systemd.
mkdir -m 0700 "$root/run/skouter"

echo "running: ${command[*]} (capabilities: $capabilities)"
# setpriv (util-linux, in the root): the unit's bounding set and NoNewPrivileges=, and
# skouterd dies with this script.
ip netns exec "$node_ns" chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  setpriv --pdeathsig KILL --no-new-privs --bounding-set "$bounding_set" -- "${command[@]}" \
  >"$work/skouterd.log" 2>&1 &
skouterd_pid=$!
status=""
for _ in $(seq 1 150); do
  kill -0 "$skouterd_pid" 2>/dev/null ||
    fail "skouterd exited:"$'\n'"$(cat "$work/skouterd.log")"
  status="$(in_root skouterctl status -o json 2>/dev/null)" && break
  status=""
  sleep 0.2
done
[ -n "$status" ] ||
  fail "skouterctl status got no answer in 30 s:"$'\n'"$(cat "$work/skouterd.log")"
reported="$(/usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])' \
  <<<"$status")"
[[ "$reported" == "$version"* ]] ||
  fail "skouterctl status reports version '$reported', not $version"
echo "skouterctl status: version $reported"
sed 's/^/  skouterd: /' "$work/skouterd.log"
timing "ExecStart= until status answers"

# Read whole before matching: `tc ... | grep -q` under pipefail fails when grep quits
# at the first match and tc, still writing, dies of SIGPIPE. skouterd attaches with a
# tcx link where the kernel has tcx (the e2e tests' foreign agent lists the chain;
# this bpftool does not), a clsact filter elsewhere.
egress_programs() {
  tc -n "$node_ns" filter show dev eth0 egress
  ip netns exec "$node_ns" "$build/bin/skouter_foreign_agent" chain eth0 egress 2>/dev/null || true
}

kill -TERM "$skouterd_pid"
wait "$skouterd_pid" || true
skouterd_pid=""
[ -e "$root/sys/fs/bpf/skouter" ] || fail "stopping skouterd removed its pinned maps"
[[ "$(egress_programs)" == *uplink_egress* ]] || fail "stopping skouterd took its program off eth0"
timing "stop"

# --- apt-get remove -----------------------------------------------------------------
# In the node's namespace: the prerm detaches skouterd from the uplink it policed.
ip netns exec "$node_ns" chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  DEBIAN_FRONTEND=noninteractive apt-get remove -y -q skouter >"$work/apt.log" 2>&1 ||
  fail "apt-get remove skouter:"$'\n'"$(cat "$work/apt.log")"
[ ! -e "$root/sys/fs/bpf/skouter" ] ||
  fail "apt-get remove left /sys/fs/bpf/skouter:"$'\n'"$(cat "$work/apt.log")"
[[ "$(egress_programs)" != *uplink_egress* ]] ||
  fail "apt-get remove left skouter's program on eth0:"$'\n'"$(cat "$work/apt.log")"
for file in "$unit" /usr/sbin/skouterd /usr/bin/skouterctl; do
  [ ! -e "$root$file" ] || fail "apt-get remove left $file"
done
for file in "${conffiles[@]}"; do
  [ -f "$root$file" ] || fail "apt-get remove took the conffile $file"
done
# shellcheck disable=SC2016
state="$(in_root dpkg-query -W -f='${Status}' skouter)"
[ "$state" = "deinstall ok config-files" ] || fail "after apt-get remove, dpkg says '$state'"
timing "apt-get remove"

ip netns delete "$node_ns"
ip netns delete "$world_ns"
phase_started=$started
timing "total"
echo "ok"
