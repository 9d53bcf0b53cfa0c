// What skouterd takes from the Kubernetes API: Egress objects, the pods on this node,
// namespaces (for namespaceSelector), this Node (for nodeSelector) and the cluster
// DNS service. Each is a list + watch kept current by a Reflector; snapshot() reduces
// them to what the policy needs.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "daemon/cluster_objects.h"
#include "daemon/options.h"
#include "kubernetes/api_client.h"
#include "kubernetes/event_recorder.h"
#include "kubernetes/reflector.h"

namespace skouter::daemon {

class KubernetesSource {
 public:
  // Reads the in-cluster configuration or --kubeconfig; throws with the reason.
  KubernetesSource(boost::asio::io_context& io, const DaemonOptions& options,
                   std::function<void()> on_change);
  ~KubernetesSource();

  void start();
  // Every collection has been listed at least once.
  bool synced() const;
  // Parses what changed since the last call; an invalid Egress, or one selecting beyond
  // its namespace outside the admin namespaces, is reported as a Kubernetes Event on it
  // (once per distinct error) and left out.
  ClusterSnapshot snapshot();
  // Reports a problem of the Egress object `key` ("namespace/name") as a Warning Event
  // on it; the same one at most every 10 minutes.
  void warnAboutEgress(const std::string& key, const std::string& reason,
                       const std::string& message);
  nlohmann::json statusJson() const;

 private:
  std::vector<kubernetes::Reflector*> reflectors() const;
  void recordWarning(const nlohmann::json& egress, const std::string& reason,
                     const std::string& message);

  struct ParsedEgress {
    std::string resource_version;
    std::optional<policy::Egress> egress;
    std::string error;
  };
  struct ParsedPod {
    std::string uid;
    std::string resource_version;
    PodObject pod;
  };

  std::string node_name_;
  std::string dns_namespace_;
  std::string dns_service_;
  std::vector<std::string> admin_namespaces_;
  std::unique_ptr<kubernetes::ApiClient> client_;
  std::unique_ptr<kubernetes::EventRecorder> events_;
  std::unique_ptr<kubernetes::Reflector> egresses_;
  std::unique_ptr<kubernetes::Reflector> pods_;
  std::unique_ptr<kubernetes::Reflector> namespaces_;
  std::unique_ptr<kubernetes::Reflector> nodes_;
  std::unique_ptr<kubernetes::Reflector> services_;
  std::unique_ptr<kubernetes::Reflector> endpoint_slices_;
  std::unique_ptr<kubernetes::Reflector> api_server_slices_;
  // Egress key -> its last parse, so unchanged objects are not parsed again.
  std::map<std::string, ParsedEgress> parsed_;
  std::uint64_t egress_generation_ = 0;
  // Pod key -> its last parse: every change makes a snapshot of all the node's pods,
  // and parsing each again made the work per change grow with the pods on the node.
  std::map<std::string, ParsedPod> parsed_pods_;
};

}  // namespace skouter::daemon
