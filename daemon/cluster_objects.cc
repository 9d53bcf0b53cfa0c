#include "daemon/cluster_objects.h"

#include <algorithm>
#include <set>

#include "policy/loader.h"

namespace skouter::daemon {
namespace {

using nlohmann::json;

const json& field(const json& object, const char* key) {
  static const json kNull;
  if (!object.is_object()) return kNull;
  const auto found = object.find(key);
  return found == object.end() ? kNull : *found;
}

std::string stringField(const json& object, const char* key) {
  const json& value = field(object, key);
  return value.is_string() ? value.get<std::string>() : std::string();
}

void addResolver(std::vector<resolver::ResolverAddress>& resolvers, const IpAddress& ip,
                 std::uint16_t port) {
  const resolver::ResolverAddress address{ip, port};
  if (std::find(resolvers.begin(), resolvers.end(), address) == resolvers.end()) {
    resolvers.push_back(address);
  }
}

// The port numbers of one protocol in a Service's or EndpointSlice's ports list.
std::set<std::uint16_t> portsOf(const json& ports, const std::string& protocol) {
  std::set<std::uint16_t> numbers;
  if (!ports.is_array()) return numbers;
  for (const json& port : ports) {
    if (stringField(port, "protocol") != protocol) continue;
    const json& number = field(port, "port");
    if (number.is_number_integer() && number.get<int>() > 0 && number.get<int>() <= 65535) {
      numbers.insert(static_cast<std::uint16_t>(number.get<int>()));
    }
  }
  return numbers;
}

// Calls visit(address) for every address of a ready endpoint of `slice` (absent
// "ready" means ready, as the EndpointSlice API defines it).
template <typename Visit>
void forEachReadyAddress(const json& slice, Visit&& visit) {
  const json& endpoints = field(slice, "endpoints");
  if (!endpoints.is_array()) return;
  for (const json& endpoint : endpoints) {
    const json& ready = field(field(endpoint, "conditions"), "ready");
    if (ready.is_boolean() && !ready.get<bool>()) continue;
    const json& addresses = field(endpoint, "addresses");
    if (!addresses.is_array()) continue;
    for (const json& text : addresses) {
      const auto ip = text.is_string() ? IpAddress::parse(text.get<std::string>()) : std::nullopt;
      if (ip) visit(*ip);
    }
  }
}

}  // namespace

std::vector<ServiceEndpoint> tcpEndpointsOf(const json& endpoint_slice) {
  std::vector<ServiceEndpoint> endpoints;
  const auto ports = portsOf(field(endpoint_slice, "ports"), "TCP");
  forEachReadyAddress(endpoint_slice, [&](const IpAddress& ip) {
    for (const auto port : ports) endpoints.push_back({ip, port});
  });
  return endpoints;
}

policy::Labels labelsOf(const json& object) {
  policy::Labels labels;
  const json& map = field(field(object, "metadata"), "labels");
  if (!map.is_object()) return labels;
  for (const auto& [key, value] : map.items()) {
    if (value.is_string()) labels[key] = value.get<std::string>();
  }
  return labels;
}

PodObject podFromObject(const json& object) {
  PodObject pod;
  const json& metadata = field(object, "metadata");
  pod.uid = stringField(metadata, "uid");
  pod.namespace_name = stringField(metadata, "namespace");
  pod.name = stringField(metadata, "name");
  pod.labels = labelsOf(object);
  const json& spec = field(object, "spec");
  pod.host_network =
      field(spec, "hostNetwork").is_boolean() && field(spec, "hostNetwork").get<bool>();
  const json& status = field(object, "status");
  const std::string phase = stringField(status, "phase");
  pod.finished = phase == "Succeeded" || phase == "Failed";
  const auto add = [&pod](const std::string& text) {
    const auto address = IpAddress::parse(text);
    if (address &&
        std::find(pod.addresses.begin(), pod.addresses.end(), *address) == pod.addresses.end()) {
      pod.addresses.push_back(*address);
    }
  };
  const json& pod_ips = field(status, "podIPs");
  if (pod_ips.is_array()) {
    for (const json& entry : pod_ips) add(stringField(entry, "ip"));
  }
  add(stringField(status, "podIP"));
  return pod;
}

policy::Egress egressFromObject(const json& object) {
  const json& metadata = field(object, "metadata");
  const std::string source = "Egress " + stringField(metadata, "namespace") + "/" +
                             stringField(metadata, "name") + " (Kubernetes API)";
  // Items of a list may come without their kind and apiVersion.
  json document = object;
  if (document.is_object()) {
    if (!document.contains("apiVersion")) document["apiVersion"] = "egress.skouter/v1alpha1";
    if (!document.contains("kind")) document["kind"] = "Egress";
  }
  // JSON is YAML: the file loader reads it with the same checks and messages.
  auto egresses = policy::parsePolicyDocuments(document.dump(), source);
  if (egresses.size() != 1) throw policy::PolicyError(source + ": not one Egress document");
  return std::move(egresses.front());
}

std::optional<std::string> tenantSelectionError(const policy::Egress& egress,
                                                const std::vector<std::string>& admin_namespaces) {
  if (std::find(admin_namespaces.begin(), admin_namespaces.end(), egress.namespace_name) !=
      admin_namespaces.end()) {
    return std::nullopt;
  }
  std::string fields;
  std::string selecting;
  if (egress.namespace_selector) {
    fields = "spec.namespaceSelector";
    selecting = "pods of other namespaces";
  }
  if (egress.node_selector) {
    fields += fields.empty() ? "spec.nodeSelector" : ", spec.nodeSelector";
    selecting += selecting.empty() ? "nodes" : " and nodes";
  }
  if (fields.empty()) return std::nullopt;
  std::string admin;
  for (const std::string& name : admin_namespaces) admin += (admin.empty() ? "" : ", ") + name;
  return egress.source + ": " + fields + ": an Egress in namespace " + egress.namespace_name +
         " may select pods of its own namespace only (podSelector); selecting " + selecting +
         " is for the admin namespaces (skouterd --admin-namespaces: " +
         (admin.empty() ? "none" : admin) + "), so this Egress is not enforced";
}

std::vector<resolver::ResolverAddress> dnsResolversOf(
    const json* service, const std::vector<const json*>& endpoint_slices) {
  std::vector<resolver::ResolverAddress> resolvers;
  if (service) {
    const json& spec = field(*service, "spec");
    std::vector<std::string> cluster_ips;
    if (field(spec, "clusterIPs").is_array()) {
      for (const json& ip : field(spec, "clusterIPs")) {
        if (ip.is_string()) cluster_ips.push_back(ip.get<std::string>());
      }
    }
    cluster_ips.push_back(stringField(spec, "clusterIP"));
    // DNS is served over UDP, with TCP on the same ports; a DNS service's other ports,
    // such as CoreDNS's metrics on 9153/TCP, answer no queries.
    const auto ports = portsOf(field(spec, "ports"), "UDP");
    for (const std::string& text : cluster_ips) {
      const auto ip = IpAddress::parse(text);  // "None" (headless) and "" are not addresses
      if (!ip) continue;
      for (const auto port : ports) addResolver(resolvers, *ip, port);
    }
  }
  for (const json* slice : endpoint_slices) {
    const auto ports = portsOf(field(*slice, "ports"), "UDP");
    forEachReadyAddress(*slice, [&](const IpAddress& ip) {
      for (const auto port : ports) addResolver(resolvers, ip, port);
    });
  }
  return resolvers;
}

}  // namespace skouter::daemon
