// Kubernetes objects, written as `kubectl get -o yaml` shows what the API server
// returns, converted to what the daemon needs: pods, the cluster DNS, Egress objects.
#include "daemon/cluster_objects.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "policy/egress.h"

namespace skouter::daemon {
namespace {

using nlohmann::json;

// A YAML node as the JSON the API server sent: plain scalars that look like numbers,
// booleans or null are those; quoted scalars stay strings.
json toJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Sequence: {
      json list = json::array();
      for (const YAML::Node& item : node) list.push_back(toJson(item));
      return list;
    }
    case YAML::NodeType::Map: {
      json map = json::object();
      for (const auto& entry : node) map[entry.first.Scalar()] = toJson(entry.second);
      return map;
    }
    case YAML::NodeType::Scalar:
      break;
  }
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") return text;  // quoted
  if (text == "true" || text == "false") return text == "true";
  if (text == "null" || text == "~") return nullptr;
  const bool integer =
      !text.empty() &&
      (std::isdigit(static_cast<unsigned char>(text[0])) || (text[0] == '-' && text.size() > 1)) &&
      std::all_of(text.begin() + 1, text.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  if (integer) return std::stoll(text);
  return text;
}

json object(const std::string& yaml) { return toJson(YAML::Load(yaml)); }

IpAddress ip(const char* text) { return IpAddress::parse(text).value(); }

std::vector<std::string> toStrings(const std::vector<IpAddress>& addresses) {
  std::vector<std::string> strings;
  for (const IpAddress& address : addresses) strings.push_back(address.toString());
  return strings;
}

// A pod as the API server returns it once the CNI gave it a dual-stack address.
const char* const kRunningPod = R"(apiVersion: v1
kind: Pod
metadata:
  creationTimestamp: "2024-05-02T09:14:03Z"
  generateName: web-7d4b9c6f5d-
  labels:
    app: web
    pod-template-hash: 7d4b9c6f5d
  name: web-7d4b9c6f5d-x2k8p
  namespace: shop
  ownerReferences:
  - apiVersion: apps/v1
    blockOwnerDeletion: true
    controller: true
    kind: ReplicaSet
    name: web-7d4b9c6f5d
    uid: 3c1f0a77-6a0e-4c36-9a4e-2f1f0c2b8e11
  resourceVersion: "48213"
  uid: 9b2e6c1a-1d3f-4e0b-a1c2-5f6e7d8c9b0a
spec:
  containers:
  - image: registry.example/web:1.4
    imagePullPolicy: IfNotPresent
    name: web
    ports:
    - containerPort: 8080
      protocol: TCP
  dnsPolicy: ClusterFirst
  enableServiceLinks: true
  nodeName: node-1
  restartPolicy: Always
  schedulerName: default-scheduler
  serviceAccountName: default
status:
  conditions:
  - lastTransitionTime: "2024-05-02T09:14:05Z"
    status: "True"
    type: Ready
  containerStatuses:
  - name: web
    ready: true
    restartCount: 0
    started: true
  hostIP: 192.0.2.11
  hostIPs:
  - ip: 192.0.2.11
  - ip: 2001:db8::11
  phase: Running
  podIP: 198.18.1.5
  podIPs:
  - ip: 198.18.1.5
  - ip: 2001:db8:1::5
  qosClass: BestEffort
  startTime: "2024-05-02T09:14:03Z"
)";

TEST(PodFromObjectTest, ReadsARunningDualStackPod) {
  const PodObject pod = podFromObject(object(kRunningPod));
  EXPECT_EQ(pod.uid, "9b2e6c1a-1d3f-4e0b-a1c2-5f6e7d8c9b0a");
  EXPECT_EQ(pod.namespace_name, "shop");
  EXPECT_EQ(pod.name, "web-7d4b9c6f5d-x2k8p");
  EXPECT_EQ(pod.qualifiedName(), "shop/web-7d4b9c6f5d-x2k8p");
  EXPECT_EQ(pod.labels, (policy::Labels{{"app", "web"}, {"pod-template-hash", "7d4b9c6f5d"}}));
  // podIP repeats the first of podIPs: each address once, in the API's order.
  EXPECT_EQ(toStrings(pod.addresses), (std::vector<std::string>{"198.18.1.5", "2001:db8:1::5"}));
  EXPECT_FALSE(pod.host_network);
  EXPECT_FALSE(pod.finished);
}

TEST(PodFromObjectTest, FallsBackToPodIpWithoutPodIps) {
  const PodObject pod = podFromObject(object(R"(apiVersion: v1
kind: Pod
metadata: {name: old, namespace: default, uid: u-old}
spec: {containers: [{name: c, image: busybox}]}
status:
  phase: Running
  podIP: 198.18.1.6
)"));
  EXPECT_EQ(toStrings(pod.addresses), std::vector<std::string>{"198.18.1.6"});
}

TEST(PodFromObjectTest, APodTheCniHasNotRunForHasNoAddress) {
  const PodObject pod = podFromObject(object(R"(apiVersion: v1
kind: Pod
metadata:
  name: starting
  namespace: shop
  uid: u-starting
spec:
  containers: [{name: c, image: busybox}]
  nodeName: node-1
status:
  conditions:
  - {type: PodScheduled, status: "True"}
  hostIP: 192.0.2.11
  phase: Pending
  qosClass: BestEffort
)"));
  EXPECT_TRUE(pod.addresses.empty());
  EXPECT_FALSE(pod.finished);
  EXPECT_EQ(pod.uid, "u-starting");
}

TEST(PodFromObjectTest, APodJustCreatedHasNoStatusYet) {
  const PodObject pod = podFromObject(object(R"(apiVersion: v1
kind: Pod
metadata: {name: new, namespace: shop, uid: u-new, labels: {app: web}}
spec: {containers: [{name: c, image: busybox}]}
)"));
  EXPECT_TRUE(pod.addresses.empty());
  EXPECT_FALSE(pod.finished);
  EXPECT_FALSE(pod.host_network);
  EXPECT_EQ(pod.labels, (policy::Labels{{"app", "web"}}));
}

TEST(PodFromObjectTest, AHostNetworkPodIsMarked) {
  const PodObject pod = podFromObject(object(R"(apiVersion: v1
kind: Pod
metadata: {name: kube-proxy-abcde, namespace: kube-system, uid: u-proxy}
spec:
  containers: [{name: kube-proxy, image: registry.k8s.io/kube-proxy:v1.30.0}]
  hostNetwork: true
  nodeName: node-1
status:
  phase: Running
  hostIP: 192.0.2.11
  podIP: 192.0.2.11
  podIPs: [{ip: 192.0.2.11}]
)"));
  EXPECT_TRUE(pod.host_network);
  EXPECT_EQ(toStrings(pod.addresses), std::vector<std::string>{"192.0.2.11"});
}

TEST(PodFromObjectTest, SucceededAndFailedPodsAreFinished) {
  const auto in_phase = [](const std::string& phase) {
    return podFromObject(
        object("apiVersion: v1\nkind: Pod\n"
               "metadata: {name: job, namespace: shop, uid: u-job}\n"
               "status: {phase: " +
               phase + ", podIP: 198.18.1.7}\n"));
  };
  EXPECT_TRUE(in_phase("Succeeded").finished);
  EXPECT_TRUE(in_phase("Failed").finished);
  EXPECT_FALSE(in_phase("Running").finished);
  EXPECT_FALSE(in_phase("Pending").finished);
  EXPECT_FALSE(in_phase("Unknown").finished);
  // A finished pod still says which address it had.
  EXPECT_EQ(toStrings(in_phase("Succeeded").addresses), std::vector<std::string>{"198.18.1.7"});
}

TEST(LabelsOfTest, ReadsMetadataLabelsAndNothingElse) {
  EXPECT_EQ(labelsOf(object(R"(apiVersion: v1
kind: Namespace
metadata:
  annotations: {owner: shop-team}
  labels:
    kubernetes.io/metadata.name: shop
    team: shop
  name: shop
spec: {finalizers: [kubernetes]}
status: {phase: Active}
)")),
            (policy::Labels{{"kubernetes.io/metadata.name", "shop"}, {"team", "shop"}}));
  EXPECT_TRUE(labelsOf(object("apiVersion: v1\nkind: Node\nmetadata: {name: node-1}\n")).empty());
  EXPECT_TRUE(labelsOf(json::object()).empty());
  EXPECT_TRUE(labelsOf(json()).empty());
  // Not a map of strings: as good as none, rather than an exception in the watch.
  EXPECT_TRUE(labelsOf(object("metadata: {name: x, labels: [a, b]}\n")).empty());
}

using resolver::ResolverAddress;

ResolverAddress resolverAt(const char* address, std::uint16_t port = 53) {
  return {ip(address), port};
}

// "ADDRESS port PORT" of each resolver, sorted: the order carries no meaning.
std::vector<std::string> described(const std::vector<ResolverAddress>& resolvers) {
  std::vector<std::string> strings;
  for (const ResolverAddress& resolver : resolvers) {
    strings.push_back(resolver.ip.toString() + " port " + std::to_string(resolver.port));
  }
  std::sort(strings.begin(), strings.end());
  return strings;
}

std::vector<std::string> sorted(std::vector<std::string> strings) {
  std::sort(strings.begin(), strings.end());
  return strings;
}

// kube-dns of a dual-stack cluster, as kubeadm sets it up; without the metrics port
// (see TheMetricsPortOfKubeDnsIsNotAResolver).
const char* const kDualStackService = R"(apiVersion: v1
kind: Service
metadata:
  annotations:
    prometheus.io/port: "9153"
    prometheus.io/scrape: "true"
  labels:
    k8s-app: kube-dns
    kubernetes.io/cluster-service: "true"
    kubernetes.io/name: CoreDNS
  name: kube-dns
  namespace: kube-system
  resourceVersion: "234"
  uid: 5a9d0c1e-8f7b-4d2a-9c3e-1b2a3c4d5e6f
spec:
  clusterIP: 198.18.0.10
  clusterIPs:
  - 198.18.0.10
  - 2001:db8:53::a
  internalTrafficPolicy: Cluster
  ipFamilies: [IPv4, IPv6]
  ipFamilyPolicy: PreferDualStack
  ports:
  - name: dns
    port: 53
    protocol: UDP
    targetPort: 53
  - name: dns-tcp
    port: 53
    protocol: TCP
    targetPort: 53
  selector:
    k8s-app: kube-dns
  sessionAffinity: None
  type: ClusterIP
status:
  loadBalancer: {}
)";

TEST(DnsResolversOfTest, EveryClusterIpOfTheServiceOnPort53Once) {
  const json service = object(kDualStackService);
  EXPECT_EQ(described(dnsResolversOf(&service, {})),
            sorted({"198.18.0.10 port 53", "2001:db8:53::a port 53"}));
}

TEST(DnsResolversOfTest, AnOlderServiceWithOnlyClusterIp) {
  const json service = object(R"(apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec:
  clusterIP: 198.18.0.10
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
)");
  EXPECT_EQ(dnsResolversOf(&service, {}), std::vector<ResolverAddress>{resolverAt("198.18.0.10")});
}

TEST(DnsResolversOfTest, AnSctpPortIsNotADnsPort) {
  const json service = object(R"(apiVersion: v1
kind: Service
metadata: {name: dns, namespace: infra}
spec:
  clusterIP: 198.18.0.20
  clusterIPs: [198.18.0.20]
  ports:
  - {name: dns, port: 5353, protocol: UDP}
  - {name: signalling, port: 3868, protocol: SCTP}
)");
  EXPECT_EQ(dnsResolversOf(&service, {}),
            std::vector<ResolverAddress>{resolverAt("198.18.0.20", 5353)});
}

// The EndpointSlices of kube-dns: one per family, as the EndpointSlice controller
// writes them. One CoreDNS pod is terminating, one has no conditions at all.
const char* const kIpv4Slice = R"(addressType: IPv4
apiVersion: discovery.k8s.io/v1
endpoints:
- addresses: [198.18.1.20]
  conditions: {ready: true, serving: true, terminating: false}
  nodeName: node-1
  targetRef: {kind: Pod, name: coredns-5d78c9869d-abcde, namespace: kube-system, uid: u-1}
- addresses: [198.18.2.21]
  conditions: {ready: false, serving: true, terminating: true}
  nodeName: node-2
  targetRef: {kind: Pod, name: coredns-5d78c9869d-fghij, namespace: kube-system, uid: u-2}
- addresses: [198.18.3.22]
  nodeName: node-3
kind: EndpointSlice
metadata:
  generateName: kube-dns-
  labels:
    endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io
    kubernetes.io/service-name: kube-dns
  name: kube-dns-x7q2m
  namespace: kube-system
  ownerReferences:
  - {apiVersion: v1, kind: Service, name: kube-dns, uid: 5a9d0c1e-8f7b-4d2a-9c3e-1b2a3c4d5e6f}
ports:
- {name: dns-tcp, port: 53, protocol: TCP}
- {name: dns, port: 53, protocol: UDP}
)";

const char* const kIpv6Slice = R"(addressType: IPv6
apiVersion: discovery.k8s.io/v1
endpoints:
- addresses: ["2001:db8:1::20"]
  conditions: {ready: true}
- addresses: ["2001:db8:2::21"]
  conditions: {ready: false}
kind: EndpointSlice
metadata:
  labels: {kubernetes.io/service-name: kube-dns}
  name: kube-dns-p4r8n
  namespace: kube-system
ports:
- {name: dns, port: 53, protocol: UDP}
- {name: dns-tcp, port: 53, protocol: TCP}
)";

TEST(DnsResolversOfTest, ReadyEndpointsOfEverySliceBesideTheClusterIps) {
  const json service = object(kDualStackService);
  const json ipv4 = object(kIpv4Slice);
  const json ipv6 = object(kIpv6Slice);
  EXPECT_EQ(described(dnsResolversOf(&service, {&ipv4, &ipv6})),
            sorted({
                "198.18.0.10 port 53", "2001:db8:53::a port 53",
                "198.18.1.20 port 53",     // ready
                "198.18.3.22 port 53",     // no conditions: ready, as the API defines it
                "2001:db8:1::20 port 53",  // ready
            }));
}

TEST(DnsResolversOfTest, AHeadlessServiceContributesOnlyItsEndpoints) {
  const json headless = object(R"(apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec:
  clusterIP: None
  clusterIPs: [None]
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
)");
  EXPECT_TRUE(dnsResolversOf(&headless, {}).empty());
  const json ipv6 = object(kIpv6Slice);
  EXPECT_EQ(dnsResolversOf(&headless, {&ipv6}),
            std::vector<ResolverAddress>{resolverAt("2001:db8:1::20")});
}

TEST(DnsResolversOfTest, NoServiceAndNoSlicesIsNoResolver) {
  EXPECT_TRUE(dnsResolversOf(nullptr, {}).empty());
  const json ipv4 = object(kIpv4Slice);
  EXPECT_EQ(described(dnsResolversOf(nullptr, {&ipv4})),
            sorted({"198.18.1.20 port 53", "198.18.3.22 port 53"}));
}

TEST(DnsResolversOfTest, ASliceWithoutEndpointsOrPortsGivesNothing) {
  // The controller writes `endpoints: null` while no CoreDNS pod exists.
  const json empty = object(R"(addressType: IPv4
apiVersion: discovery.k8s.io/v1
endpoints: null
kind: EndpointSlice
metadata: {name: kube-dns-empty, namespace: kube-system}
ports: null
)");
  EXPECT_TRUE(dnsResolversOf(nullptr, {&empty}).empty());
}

// kube-dns as kubeadm and most distributions deploy it also serves CoreDNS's metrics
// on 9153/TCP. That port speaks HTTP, not DNS: a trusted resolver there would have
// the datapath hold and parse a policed pod's metrics scrape as DNS over TCP.
TEST(DnsResolversOfTest, TheMetricsPortOfKubeDnsIsNotAResolver) {
  const json service = object(R"(apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec:
  clusterIP: 198.18.0.10
  clusterIPs: [198.18.0.10]
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
  - {name: metrics, port: 9153, protocol: TCP, targetPort: 9153}
)");
  const json slice = object(R"(addressType: IPv4
apiVersion: discovery.k8s.io/v1
endpoints:
- addresses: [198.18.1.20]
  conditions: {ready: true}
kind: EndpointSlice
metadata: {name: kube-dns-x7q2m, namespace: kube-system}
ports:
- {name: dns-tcp, port: 53, protocol: TCP}
- {name: dns, port: 53, protocol: UDP}
- {name: metrics, port: 9153, protocol: TCP}
)");
  EXPECT_EQ(described(dnsResolversOf(&service, {&slice})),
            sorted({"198.18.0.10 port 53", "198.18.1.20 port 53"}));
}

// An Egress as the API server returns it: server-set metadata, the annotation kubectl
// apply leaves, managedFields and a status written by a controller.
const char* const kEgressFromTheApi = R"(apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata:
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {"apiVersion":"egress.skouter/v1alpha1","kind":"Egress","metadata":{"annotations":{},"name":"web","namespace":"shop"},"spec":{"podSelector":{"matchLabels":{"app":"web"}},"rules":[{"domains":["api.example.com"]}]}}
  creationTimestamp: "2024-05-02T09:20:11Z"
  generation: 3
  labels: {team: shop}
  managedFields:
  - apiVersion: egress.skouter/v1alpha1
    fieldsType: FieldsV1
    fieldsV1:
      f:metadata:
        f:annotations:
          .: {}
          f:kubectl.kubernetes.io/last-applied-configuration: {}
      f:spec:
        .: {}
        f:podSelector: {}
        f:rules: {}
    manager: kubectl-client-side-apply
    operation: Update
    time: "2024-05-02T09:20:11Z"
  name: web
  namespace: shop
  resourceVersion: "51877"
  uid: 0d8f6b2a-3c4e-4f5a-8b9c-7d6e5f4a3b2c
spec:
  podSelector:
    matchLabels: {app: web}
  namespaceSelector:
    matchExpressions:
    - {key: team, operator: In, values: [shop, shop-staging]}
  mode: audit
  denyResponse: nxdomain
  rules:
  - domains: [api.example.com, "*.cdn.example.net"]
    ports:
    - {port: 443}
    - {port: 8000, endPort: 8080, protocol: TCP}
  - cidrs: [203.0.113.0/24, "2001:db8:f::/48"]
    ips: [192.0.2.10]
  - regex: ['^img[0-9]+\.example\.org$']
status:
  observedGeneration: 3
)";

TEST(EgressFromObjectTest, AcceptsAnObjectAsTheApiServerReturnsIt) {
  const policy::Egress egress = egressFromObject(object(kEgressFromTheApi));
  EXPECT_EQ(egress.name, "web");
  EXPECT_EQ(egress.namespace_name, "shop");
  EXPECT_EQ(egress.source, "Egress shop/web (Kubernetes API)");
  EXPECT_EQ(egress.mode, policy::EgressMode::kAudit);
  EXPECT_EQ(egress.deny_response, policy::DenyResponse::kNxdomain);
  EXPECT_EQ(egress.node_selector, std::nullopt);
  ASSERT_TRUE(egress.pod_selector.has_value());
  EXPECT_EQ(egress.pod_selector->match_labels, (policy::Labels{{"app", "web"}}));
  ASSERT_TRUE(egress.namespace_selector.has_value());
  ASSERT_EQ(egress.namespace_selector->match_expressions.size(), 1u);
  EXPECT_EQ(egress.namespace_selector->match_expressions[0].values,
            (std::vector<std::string>{"shop", "shop-staging"}));

  ASSERT_EQ(egress.rules.size(), 3u);
  EXPECT_EQ(egress.rules[0].domains,
            (std::vector<std::string>{"api.example.com", "*.cdn.example.net"}));
  // Numbers arrive as JSON numbers, not strings.
  EXPECT_EQ(egress.rules[0].ports, (policy::PortSet{{policy::PortProtocol::kTcp, 443, 443},
                                                    {policy::PortProtocol::kTcp, 8000, 8080}}));
  ASSERT_EQ(egress.rules[1].cidrs.size(), 2u);
  EXPECT_EQ(egress.rules[1].cidrs[0].toString(), "203.0.113.0/24");
  EXPECT_EQ(egress.rules[1].cidrs[1].toString(), "2001:db8:f::/48");
  ASSERT_EQ(egress.rules[1].ips.size(), 1u);
  EXPECT_EQ(egress.rules[1].ips[0].toString(), "192.0.2.10/32");
  EXPECT_EQ(egress.rules[2].regexes, std::vector<std::string>{"^img[0-9]+\\.example\\.org$"});

  // It selects what its selectors say.
  EXPECT_TRUE(policy::selectsPod(egress, {"shop", {{"app", "web"}}, {}}));
  EXPECT_TRUE(
      policy::selectsPod(egress, {"shop-staging", {{"app", "web"}}, {{"team", "shop-staging"}}}));
  EXPECT_FALSE(policy::selectsPod(egress, {"other", {{"app", "web"}}, {{"team", "other"}}}));
}

// The message of the PolicyError egressFromObject throws for `yaml`.
std::string egressError(const std::string& yaml) {
  try {
    egressFromObject(object(yaml));
  } catch (const policy::PolicyError& error) {
    return error.what();
  }
  ADD_FAILURE() << "no PolicyError thrown";
  return "";
}

testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

TEST(EgressFromObjectTest, AnInvalidObjectNamesTheObjectAndTheField) {
  const std::string bad_cidr = egressError(R"(apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata: {name: web, namespace: shop, uid: u-web, resourceVersion: "7"}
spec:
  podSelector: {}
  rules:
  - domains: [api.example.com]
  - cidrs: [203.0.113.0/33]
)");
  EXPECT_TRUE(contains(bad_cidr, "Egress shop/web (Kubernetes API)")) << bad_cidr;
  EXPECT_TRUE(contains(bad_cidr, "spec.rules[1].cidrs[0]: '203.0.113.0/33' is not a valid CIDR"))
      << bad_cidr;

  const std::string bad_operator = egressError(R"(apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata: {name: db, namespace: data}
spec:
  podSelector:
    matchExpressions:
    - {key: app, operator: Equals, values: [db]}
)");
  EXPECT_TRUE(contains(bad_operator, "Egress data/db (Kubernetes API)")) << bad_operator;
  EXPECT_TRUE(contains(bad_operator,
                       "spec.podSelector.matchExpressions[0].operator: 'Equals' is not In, "
                       "NotIn, Exists or DoesNotExist"))
      << bad_operator;

  // Kubernetes allows named ports in a NetworkPolicy; an Egress does not.
  const std::string named_port = egressError(R"(apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata: {name: web, namespace: shop}
spec:
  podSelector: {}
  rules:
  - domains: [api.example.com]
    ports: [{port: https}]
)");
  EXPECT_TRUE(contains(named_port, "spec.rules[0].ports[0].port: 'https' is not a port number"))
      << named_port;

  const std::string unknown_field = egressError(R"(apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata: {name: web, namespace: shop}
spec:
  podSelector: {}
  egress: []
)");
  EXPECT_TRUE(contains(unknown_field, "Egress shop/web (Kubernetes API)")) << unknown_field;
  EXPECT_TRUE(contains(unknown_field, "spec.egress: unknown field 'egress'")) << unknown_field;
}

TEST(EgressFromObjectTest, AnObjectWithoutSpecOrNameIsRejected) {
  const std::string no_spec = egressError(
      "apiVersion: egress.skouter/v1alpha1\nkind: Egress\nmetadata: {name: web, namespace: "
      "shop}\n");
  EXPECT_TRUE(contains(no_spec, "Egress shop/web (Kubernetes API)")) << no_spec;
  EXPECT_TRUE(contains(no_spec, "spec: is required")) << no_spec;

  const std::string wrong_kind = egressError(
      "apiVersion: egress.skouter/v1alpha1\nkind: NetworkPolicy\n"
      "metadata: {name: web, namespace: shop}\nspec: {podSelector: {}}\n");
  EXPECT_TRUE(contains(wrong_kind, "kind: must be Egress, not 'NetworkPolicy'")) << wrong_kind;
}

// An Egress object in `namespace_name` with the spec lines `selectors`, as the API
// server returns it.
policy::Egress egressWithSelectors(const std::string& namespace_name,
                                   const std::string& selectors) {
  return egressFromObject(
      object("apiVersion: egress.skouter/v1alpha1\nkind: Egress\n"
             "metadata: {name: wide, namespace: " +
             namespace_name + "}\nspec:\n" + selectors + "  rules:\n  - domains: [example.com]\n"));
}

// THREATS "What must hold" 5: a tenant's Egress changes the policy of its own
// namespace only; node-wide and cross-namespace selection is for the operators'
// namespaces.
TEST(TenantSelectionErrorTest, OutsideTheAdminNamespacesAnEgressSelectsItsOwnPodsOnly) {
  const std::vector<std::string> admin = {"skouter-system"};
  EXPECT_EQ(tenantSelectionError(egressWithSelectors("other", "  podSelector: {}\n"), admin),
            std::nullopt);
  EXPECT_EQ(tenantSelectionError(
                egressWithSelectors("other", "  podSelector: {matchLabels: {app: tool}}\n"), admin),
            std::nullopt);

  EXPECT_EQ(tenantSelectionError(egressWithSelectors("other", "  namespaceSelector: {}\n"), admin),
            "Egress other/wide (Kubernetes API): spec.namespaceSelector: an Egress in namespace "
            "other may select pods of its own namespace only (podSelector); selecting pods of "
            "other namespaces is for the admin namespaces (skouterd --admin-namespaces: "
            "skouter-system), so this Egress is not enforced");
  // A namespaceSelector that matches only its own namespace's labels is refused too:
  // labels are the tenant's to set.
  const auto own_labels =
      tenantSelectionError(egressWithSelectors("other",
                                               "  namespaceSelector: {matchLabels: {team: other}}\n"
                                               "  podSelector: {}\n"),
                           admin);
  ASSERT_TRUE(own_labels);
  EXPECT_TRUE(contains(*own_labels, "spec.namespaceSelector: ")) << *own_labels;

  const auto node =
      tenantSelectionError(egressWithSelectors("other", "  nodeSelector: {}\n"), admin);
  ASSERT_TRUE(node);
  EXPECT_TRUE(contains(*node,
                       "spec.nodeSelector: an Egress in namespace other may select "
                       "pods of its own namespace only (podSelector); selecting nodes "
                       "is for the admin namespaces"))
      << *node;

  const auto both =
      tenantSelectionError(egressWithSelectors("other",
                                               "  nodeSelector: {}\n  namespaceSelector: {}\n"
                                               "  mode: audit\n"),
                           admin);
  ASSERT_TRUE(both);
  EXPECT_TRUE(contains(*both, "spec.namespaceSelector, spec.nodeSelector: ")) << *both;
  EXPECT_TRUE(contains(*both, "selecting pods of other namespaces and nodes is for")) << *both;
}

TEST(TenantSelectionErrorTest, AnEgressOfAnAdminNamespaceSelectsAsItSays) {
  const std::string wide = "  nodeSelector: {}\n  namespaceSelector: {}\n";
  EXPECT_EQ(tenantSelectionError(egressWithSelectors("skouter-system", wide), {"skouter-system"}),
            std::nullopt);
  const std::vector<std::string> platform = {"platform", "sre"};
  EXPECT_EQ(tenantSelectionError(egressWithSelectors("sre", wide), platform), std::nullopt);
  // The default admin namespace is not one when others are given.
  const auto refused = tenantSelectionError(egressWithSelectors("skouter-system", wide), platform);
  ASSERT_TRUE(refused);
  EXPECT_TRUE(contains(*refused, "(skouterd --admin-namespaces: platform, sre)")) << *refused;
  // No admin namespace at all: only the policy files select beyond one namespace.
  const auto none = tenantSelectionError(egressWithSelectors("skouter-system", wide), {});
  ASSERT_TRUE(none);
  EXPECT_TRUE(contains(*none, "(skouterd --admin-namespaces: none)")) << *none;
}

}  // namespace
}  // namespace skouter::daemon
