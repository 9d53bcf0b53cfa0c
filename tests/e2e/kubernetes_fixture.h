// The Kubernetes lab shared by the e2e tests: the lab node as a cluster node with pods
// on veths (pod A, shop/web-0, selected by the Egress "web"; pod B, other/tool-0,
// selected by none), the node's own Egress in the operators' namespace skouter-system,
// the API server double with the cluster's objects, and skouterd started with
// --kubernetes against it.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "firewall_test_fixture.h"
#include "kube_api_double.h"

namespace skouter::e2e {

inline constexpr const char* kNodeName = "lab-node";
inline constexpr const char* kPodA = "192.0.2.10";
inline constexpr const char* kPodAV6 = "2001:db8:2::a";
inline constexpr const char* kPodB = "192.0.2.11";
inline constexpr const char* kPodBV6 = "2001:db8:2::b";
inline constexpr const char* kPodC = "192.0.2.12";
inline constexpr const char* kPodCV6 = "2001:db8:2::c";

inline std::string podYaml(const std::string& namespace_name, const std::string& name,
                           const std::string& labels, const std::string& ipv4,
                           const std::string& ipv6) {
  return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name +
         "\n  namespace: " + namespace_name + "\n  labels: " + labels +
         "\nspec:\n  nodeName: " + kNodeName +
         "\n  containers: [{name: app, image: debian:12}]\nstatus:\n  phase: Running\n  podIP: " +
         ipv4 + "\n  podIPs: [{ip: " + ipv4 + "}, {ip: \"" + ipv6 + "\"}]\n";
}

// A pod as the API shows it between scheduling and the kubelet's status update: on
// this node, running or not, but without podIP/podIPs yet.
inline std::string podYamlWithoutIp(const std::string& namespace_name, const std::string& name,
                                    const std::string& labels) {
  return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name +
         "\n  namespace: " + namespace_name + "\n  labels: " + labels +
         "\nspec:\n  nodeName: " + kNodeName +
         "\n  containers: [{name: app, image: debian:12}]\nstatus:\n  phase: Pending\n";
}

inline std::string webEgressYaml(const std::string& domains) {
  return "apiVersion: egress.skouter/v1alpha1\nkind: Egress\nmetadata:\n  name: web\n"
         "  namespace: shop\nspec:\n  podSelector: {matchLabels: {app: web}}\n  rules:\n"
         "    - domains: [" +
         domains + "]\n";
}

inline constexpr const char* kClusterYaml = R"(apiVersion: v1
kind: Node
metadata:
  name: lab-node
  labels: {role: worker, kubernetes.io/hostname: lab-node}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: shop}}
---
apiVersion: v1
kind: Namespace
metadata: {name: other}
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
# Where the API server listens, as the node's policy must always allow it (the world
# answers HTTP on every address it owns, port 443 included).
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
)";

// The node's own traffic: only github.com. In the operators' namespace, the one whose
// Egresses may select nodes by default.
inline constexpr const char* kNodeEgressYaml = R"(apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata: {name: node, namespace: skouter-system}
spec:
  nodeSelector: {matchLabels: {role: worker}}
  rules:
    - domains: [github.com]
)";

class KubernetesTest : public FirewallTest {
 protected:
  void SetUp() override {
    FirewallTest::SetUp();
    if (IsSkipped()) return;
    lab_->makeClusterNode();
    lab_->addPod("a", kPodA, kPodAV6);
    lab_->addPod("b", kPodB, kPodBV6);
    api_ = std::make_unique<KubeApiDouble>(*lab_);
    api_->write("cluster.yaml", kClusterYaml);
    api_->write("node-egress.yaml", kNodeEgressYaml);
    api_->write("pods.yaml", podYaml("shop", "web-0", "{app: web}", kPodA, kPodAV6) + "---\n" +
                                 podYaml("other", "tool-0", "{app: tool}", kPodB, kPodBV6));
    api_->write("web-egress.yaml", webEgressYaml("example.com"));
    daemon_ = std::make_unique<Skouterd>(*lab_, "", daemonFlags());
    daemon_->start();
    ASSERT_TRUE(eventually([&] { return ctl({"ready"}).ok(); }, std::chrono::seconds(10)))
        << daemon_->log() << api_->log();
  }

  void TearDown() override {
    // The daemon before the double: its last watches end quietly.
    daemon_.reset();
    api_.reset();
  }

  // skouterd's flags as a DaemonSet on this lab node would run it.
  std::vector<std::string> daemonFlags() const {
    return {"--kubernetes", "--kubeconfig", api_->kubeconfigPath(), "--node-name", kNodeName};
  }

  CommandResult pod(const std::string& name, const std::string& command) {
    return lab_->run(name, command);
  }

  // The status entry of a policed pod ("namespace/name"), or null.
  nlohmann::json policedPod(const std::string& name) {
    const auto status = daemon_->status();
    for (const auto& entry : status["pods"]) {
      if (entry["pod"] == name) return entry;
    }
    return nullptr;
  }

  // The Events skouterd reported on the Egress `namespace_name`/`name`.
  nlohmann::json eventsOn(const std::string& namespace_name, const std::string& name) {
    const auto list = api_->get("/api/v1/namespaces/" + namespace_name + "/events");
    nlohmann::json events = nlohmann::json::array();
    for (const auto& event : list["items"]) {
      if (event["involvedObject"]["kind"] == "Egress" && event["involvedObject"]["name"] == name) {
        events.push_back(event);
      }
    }
    return events;
  }

  std::uint64_t reflectorStat(const std::string& collection, const std::string& stat) {
    return daemon_->status()["kubernetes"][collection][stat].get<std::uint64_t>();
  }

  std::unique_ptr<KubeApiDouble> api_;
};

}  // namespace skouter::e2e
