// Kubernetes objects as the daemon needs them: pure conversions from the API's JSON,
// with no I/O, so each can be tested on objects written as YAML.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/ip_address.h"
#include "policy/compiled_policy.h"
#include "policy/egress.h"
#include "resolver/resolver_address.h"

namespace skouter::daemon {

struct PodObject {
  std::string uid;
  std::string namespace_name;
  std::string name;
  policy::Labels labels;
  // status.podIPs (status.podIP on older clusters); empty until the CNI has run.
  std::vector<IpAddress> addresses;
  // Shares the node's addresses: judged as the node's own traffic.
  bool host_network = false;
  // Succeeded or Failed: its addresses may already belong to a newer pod.
  bool finished = false;

  std::string qualifiedName() const { return namespace_name + "/" + name; }
};

PodObject podFromObject(const nlohmann::json& object);
// metadata.labels; an absent or malformed map is no labels.
policy::Labels labelsOf(const nlohmann::json& object);

// An Egress object as the API server returns it. Throws policy::PolicyError with the
// same messages the file loader gives, naming the object instead of a file.
policy::Egress egressFromObject(const nlohmann::json& object);

// Why an Egress of the cluster is refused as a whole: outside the admin namespaces
// (--admin-namespaces) an Egress may select pods of its own namespace only, so whoever
// may write Egresses in one namespace changes the policy of no other namespace, nor the
// node's. nullopt when it may be enforced.
std::optional<std::string> tenantSelectionError(const policy::Egress& egress,
                                                const std::vector<std::string>& admin_namespaces);

// One address and port a Service's traffic goes to.
struct ServiceEndpoint {
  IpAddress ip;
  std::uint16_t port = 0;
  auto operator<=>(const ServiceEndpoint&) const = default;
};

// Every ready address of an EndpointSlice on each of its TCP ports.
std::vector<ServiceEndpoint> tcpEndpointsOf(const nlohmann::json& endpoint_slice);

// The addresses of the cluster DNS: every cluster IP of `service` on each of its UDP
// ports (its TCP twins are the same numbers), and every ready endpoint of
// `endpoint_slices` on each of theirs (pods reach the service address; node-local
// caches and some CNIs answer from the endpoints).
std::vector<resolver::ResolverAddress> dnsResolversOf(
    const nlohmann::json* service, const std::vector<const nlohmann::json*>& endpoint_slices);

// An Egress object of the cluster that is refused, and why.
struct InvalidEgress {
  std::string name;  // namespace/name
  std::string error;
};

// What the cluster tells this node at one moment (KubernetesSource::snapshot()).
struct ClusterSnapshot {
  // The valid ones: those of the admin namespaces first, which thereby take precedence
  // when Egresses cannot be united; then the others; each by namespace/name.
  std::vector<policy::Egress> egresses;
  std::vector<InvalidEgress> invalid_egresses;
  // Changes whenever an Egress object is added, changed or removed.
  std::uint64_t egress_generation = 0;
  std::vector<PodObject> pods;  // on this node
  std::map<std::string, policy::Labels> namespace_labels;
  std::optional<policy::Labels> node_labels;  // nullopt until the Node is seen
  std::vector<resolver::ResolverAddress> dns_resolvers;
  // Where the API server listens (the default/kubernetes Service's endpoints), with
  // its ports; the node's own policy always allows them.
  std::vector<ServiceEndpoint> api_server_endpoints;
};

}  // namespace skouter::daemon
