#!/usr/bin/env bash
# `kubectl kustomize deploy/kubernetes` renders, and the result holds every object a
# cluster needs to run skouter, wired together. With KUBECTL=PATH another kubectl
# (kubectl 1.20 of Debian's kubernetes-client, say) is tried instead.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
kubectl="${KUBECTL:-kubectl}"

if ! command -v "$kubectl" >/dev/null; then
  echo "FAIL: no '$kubectl' command: run deploy/install-deps.sh (it installs Debian's" \
    "kubernetes-client when no kubectl is present)" >&2
  exit 1
fi

rendered="$(mktemp)"
trap 'rm -f "$rendered"' EXIT
if ! "$kubectl" kustomize "$repo/deploy/kubernetes" >"$rendered"; then
  echo "FAIL: '$kubectl kustomize deploy/kubernetes' did not render" >&2
  exit 1
fi

/usr/bin/python3 - "$rendered" <<'PYTHON'
import sys

import yaml

with open(sys.argv[1]) as rendered:
    objects = [document for document in yaml.safe_load_all(rendered) if document]
by_kind = {}
for obj in objects:
    by_kind.setdefault(obj["kind"], []).append(obj)

failures = []


def expect(condition, message):
    if not condition:
        failures.append(message)


expected_kinds = {"Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole",
                  "ClusterRoleBinding", "DaemonSet"}
expect(set(by_kind) == expected_kinds,
       f"rendered kinds {sorted(by_kind)}, expected {sorted(expected_kinds)}")
for kind, found in by_kind.items():
    expect(len(found) == 1, f"{len(found)} objects of kind {kind}, expected one")

if not failures:
    (namespace,) = by_kind["Namespace"]
    (crd,) = by_kind["CustomResourceDefinition"]
    (account,) = by_kind["ServiceAccount"]
    (role,) = by_kind["ClusterRole"]
    (binding,) = by_kind["ClusterRoleBinding"]
    (daemonset,) = by_kind["DaemonSet"]
    system = namespace["metadata"]["name"]
    expect(system == "skouter-system", f"namespace {system}, expected skouter-system")
    expect(crd["metadata"]["name"] == "egresses.egress.skouter",
           f"CRD {crd['metadata']['name']}, expected egresses.egress.skouter")
    expect(account["metadata"].get("namespace") == system, "ServiceAccount outside " + system)
    expect(binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io",
                                  "kind": "ClusterRole", "name": role["metadata"]["name"]},
           f"ClusterRoleBinding refers to {binding['roleRef']}")
    expect(binding["subjects"] == [{"kind": "ServiceAccount",
                                    "name": account["metadata"]["name"],
                                    "namespace": system}],
           f"ClusterRoleBinding binds {binding['subjects']}")

    expect(daemonset["metadata"].get("namespace") == system, "DaemonSet outside " + system)
    pod = daemonset["spec"]["template"]["spec"]
    expect(pod.get("serviceAccountName") == account["metadata"]["name"],
           "the DaemonSet's pods do not run as the skouter ServiceAccount")
    expect(pod.get("hostNetwork") is True, "hostNetwork is not true")
    # The node's own resolv.conf: its nameservers judge the node's own lookups.
    expect(pod.get("dnsPolicy") == "Default", "dnsPolicy is not Default")
    expect(pod.get("priorityClassName") == "system-node-critical",
           "priorityClassName is not system-node-critical")
    expect(pod.get("tolerations") == [{"operator": "Exists"}],
           "the DaemonSet does not tolerate every taint")
    strategy = daemonset["spec"].get("updateStrategy", {})
    expect(strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
           f"updateStrategy {strategy}")
    (container,) = pod["containers"]
    image = container["image"]
    expect(image.endswith(":0.1.0") and "skouter" in image,
           f"image {image}: kustomize's images did not set the tag")
    args = container.get("args", [])
    for flag in ["--kubernetes", "--node-name=$(NODE_NAME)",
                 "--admin-socket=/run/skouter/skouterd.sock", "--bpffs=/sys/fs/bpf/skouter"]:
        expect(flag in args, f"skouterd is not given {flag}")
    env = {variable["name"]: variable for variable in container.get("env", [])}
    expect(env.get("NODE_NAME", {}).get("valueFrom") == {"fieldRef": {"fieldPath":
                                                                      "spec.nodeName"}},
           "NODE_NAME does not come from spec.nodeName")
    security = container.get("securityContext", {})
    expect(security.get("privileged") is False, "the container is privileged")
    capabilities = security.get("capabilities", {})
    expect(capabilities.get("drop") == ["ALL"], "capabilities are not dropped to none first")
    expect(set(capabilities.get("add", [])) <= {"BPF", "PERFMON", "NET_ADMIN", "NET_RAW",
                                                "SYS_ADMIN"},
           f"capabilities beyond those needed: {capabilities.get('add')}")
    for probe, command in [("livenessProbe", "health"), ("readinessProbe", "ready")]:
        expect(container.get(probe, {}).get("exec", {}).get("command") ==
               ["skouterctl", "--socket", "/run/skouter/skouterd.sock", command],
               f"{probe} does not run skouterctl ... {command}")
    mounts = {mount["mountPath"]: mount["name"] for mount in container.get("volumeMounts", [])}
    volumes = {volume["name"]: volume.get("hostPath", {})
               for volume in pod.get("volumes", [])}
    for path in ["/sys/fs/bpf", "/run/skouter"]:
        host_path = volumes.get(mounts.get(path), {})
        expect(host_path.get("path") == path, f"{path} is not the host's {path}")
    resources = container.get("resources", {})
    expect(resources.get("requests") == {"cpu": "50m", "memory": "64Mi"},
           f"requests {resources.get('requests')}")
    expect(resources.get("limits") == {"memory": "512Mi"}, f"limits {resources.get('limits')}")

for failure in failures:
    print("FAIL:", failure, file=sys.stderr)
if failures:
    sys.exit(1)
print(f"rendered {len(objects)} objects: {', '.join(sorted(by_kind))}")
PYTHON
