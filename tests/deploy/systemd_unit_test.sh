#!/usr/bin/env bash
# deploy/systemd/skouterd.service against the built skouterd: `systemd-analyze verify`
# accepts the unit (when systemd-analyze is installed), and skouterd accepts the flags of
# its ExecStart= with the packaged config (deploy/etc/skouter/skouterd.yaml), both as
# shipped and with every commented key set to its example value. CONFIG_CHECK
# (config_check.cc) parses a command line as skouterd does, without starting it.
# usage: systemd_unit_test.sh SKOUTERD CONFIG_CHECK
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
skouterd="$1"
config_check="$2"
unit="$repo/deploy/systemd/skouterd.service"
config="$repo/deploy/etc/skouter/skouterd.yaml"
packaged_config=/etc/skouter/skouterd.yaml
failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mapfile -t exec_starts < <(sed -n 's/^ExecStart=//p' "$unit")
if [ "${#exec_starts[@]}" -ne 1 ]; then
  fail "want one ExecStart= in $unit, found ${#exec_starts[@]}"
  exit 1
fi
read -r -a argv <<<"${exec_starts[0]}"
[ "${argv[0]}" = /usr/sbin/skouterd ] || fail "ExecStart= runs ${argv[0]}, not /usr/sbin/skouterd"
[[ " ${argv[*]} " == *" --config $packaged_config "* ]] ||
  fail "ExecStart= does not read $packaged_config: ${exec_starts[0]}"
# Stopping must leave enforcement in place (see the unit's header).
if grep -Eq '^Exec(Stop|StopPost)=.*--detach' "$unit"; then
  fail "the unit detaches skouterd when it stops"
fi

if command -v systemd-analyze >/dev/null; then
  # verify also checks that ExecStart='s program exists: point it at the built one.
  sed "s#^ExecStart=/usr/sbin/skouterd#ExecStart=$skouterd#" "$unit" >"$work/skouterd.service"
  if ! output="$(systemd-analyze verify "$work/skouterd.service" 2>&1)"; then
    fail "systemd-analyze verify:"$'\n'"$output"
  elif grep -q 'skouterd\.service' <<<"$output"; then
    # Unknown keys and bad values are only warnings to verify.
    fail "systemd-analyze verify warns:"$'\n'"$output"
  else
    echo "systemd-analyze verify: ok"
  fi
else
  echo "systemd-analyze not installed: the unit's syntax is not checked"
fi

for index in "${!argv[@]}"; do
  [ "${argv[$index]}" = "$packaged_config" ] && argv[index]="$config"
done
if ! output="$("$skouterd" "${argv[@]:1}" --help 2>&1)"; then
  fail "skouterd rejects the unit's ExecStart= flags (${exec_starts[0]}):"$'\n'"$output"
fi
if output="$("$config_check" "${argv[@]:1}" 2>&1)"; then
  echo "ExecStart= with $config: $output"
else
  fail "skouterd would not start with the unit's ExecStart= and $config:"$'\n'"$output"
fi

# Every commented key, set to the value its comment shows. kubeconfig and node-name
# need --kubernetes, which the command line gives (it wins over the file's false).
sed -E 's/^#([a-z][a-z0-9-]*:)/\1/' "$config" >"$work/every-key.yaml"
keys="$(grep -cE '^[a-z][a-z0-9-]*:' "$work/every-key.yaml")"
if output="$("$config_check" --config "$work/every-key.yaml" --kubernetes 2>&1)"; then
  echo "every key of $config ($keys) accepted"
else
  fail "$config with every key set:"$'\n'"$output"
fi

[ "$failures" -eq 0 ] || exit 1
echo "ok"
