#include "daemon/kubernetes_source.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include "policy/compiled_policy.h"

namespace skouter::daemon {
namespace {

using nlohmann::json;

const json& metadataOf(const json& object) {
  static const json kEmpty = json::object();
  const auto found = object.find("metadata");
  return found != object.end() && found->is_object() ? *found : kEmpty;
}

// A string field of `metadata`; empty when it has none.
std::string metadataText(const json& metadata, const char* key) {
  const auto found = metadata.find(key);
  return found != metadata.end() && found->is_string() ? found->get<std::string>() : std::string();
}

json reflectorStatus(const kubernetes::Reflector& reflector) {
  const auto& stats = reflector.stats();
  return {{"synced", reflector.synced()},
          {"objects", reflector.objects().size()},
          {"resource_version", stats.resource_version},
          {"lists", stats.lists},
          {"watches", stats.watches},
          {"events", stats.events},
          {"bookmarks", stats.bookmarks},
          {"expired", stats.expired},
          {"errors", stats.errors},
          {"last_error", stats.last_error.empty() ? json(nullptr) : json(stats.last_error)}};
}

}  // namespace

KubernetesSource::KubernetesSource(boost::asio::io_context& io, const DaemonOptions& options,
                                   std::function<void()> on_change)
    : node_name_(options.node_name),
      dns_namespace_(options.trusted_dns_service_namespace),
      dns_service_(options.trusted_dns_service_name),
      admin_namespaces_(options.admin_namespaces) {
  auto config = options.kubeconfig.empty() ? kubernetes::inClusterConfig()
                                           : kubernetes::loadKubeconfig(options.kubeconfig);
  spdlog::info("Kubernetes API server {}:{} ({})", config.host, config.port, config.origin);
  kubernetes::ApiClientTimeouts timeouts;
  timeouts.dead_connection = std::chrono::seconds(options.api_connection_timeout_s);
  client_ = std::make_unique<kubernetes::ApiClient>(io, std::move(config), timeouts);
  events_ = std::make_unique<kubernetes::EventRecorder>(*client_, "skouterd", node_name_);
  const auto reflector = [&](std::string collection, std::string selectors) {
    return std::make_unique<kubernetes::Reflector>(io, *client_, std::move(collection),
                                                   std::move(selectors), on_change);
  };
  egresses_ = reflector("/apis/egress.skouter/v1alpha1/egresses", "");
  pods_ = reflector("/api/v1/pods",
                    "fieldSelector=" + kubernetes::queryEscaped("spec.nodeName=" + node_name_));
  namespaces_ = reflector("/api/v1/namespaces", "");
  nodes_ = reflector("/api/v1/nodes",
                     "fieldSelector=" + kubernetes::queryEscaped("metadata.name=" + node_name_));
  services_ =
      reflector("/api/v1/namespaces/" + dns_namespace_ + "/services",
                "fieldSelector=" + kubernetes::queryEscaped("metadata.name=" + dns_service_));
  endpoint_slices_ = reflector(
      "/apis/discovery.k8s.io/v1/namespaces/" + dns_namespace_ + "/endpointslices",
      "labelSelector=" + kubernetes::queryEscaped("kubernetes.io/service-name=" + dns_service_));
  api_server_slices_ = reflector(
      "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
      "labelSelector=" + kubernetes::queryEscaped("kubernetes.io/service-name=kubernetes"));
}

KubernetesSource::~KubernetesSource() = default;

void KubernetesSource::start() {
  for (auto* reflector : reflectors()) reflector->start();
}

std::vector<kubernetes::Reflector*> KubernetesSource::reflectors() const {
  return {egresses_.get(),         pods_.get(),
          namespaces_.get(),       nodes_.get(),
          services_.get(),         endpoint_slices_.get(),
          api_server_slices_.get()};
}

bool KubernetesSource::synced() const {
  const auto all = reflectors();
  return std::all_of(all.begin(), all.end(), [](const auto* r) { return r->synced(); });
}

ClusterSnapshot KubernetesSource::snapshot() {
  ClusterSnapshot snapshot;
  std::map<std::string, ParsedEgress> parsed;
  bool egresses_changed = egresses_->objects().size() != parsed_.size();
  for (const auto& [key, object] : egresses_->objects()) {
    const json& metadata = metadataOf(object);
    const std::string version = metadata.value("resourceVersion", "");
    auto previous = parsed_.find(key);
    ParsedEgress entry;
    if (previous != parsed_.end() && previous->second.resource_version == version) {
      entry = std::move(previous->second);
    } else {
      egresses_changed = true;
      entry.resource_version = version;
      std::string reason = "InvalidEgress";
      try {
        auto egress = egressFromObject(object);
        // Regexes are compiled only here: a bad one must fail this Egress alone.
        policy::compileSelected({egress}, [](const policy::Egress&) { return true; });
        if (auto refused = tenantSelectionError(egress, admin_namespaces_)) {
          entry.error = std::move(*refused);
          reason = "SelectorNotAllowed";
        } else {
          entry.egress = std::move(egress);
        }
      } catch (const std::exception& error) {
        entry.error = error.what();
      }
      if (!entry.egress) {
        spdlog::error("Egress {} is not enforced: {}", key, entry.error);
        recordWarning(object, reason, entry.error);
      }
    }
    if (entry.egress) {
      snapshot.egresses.push_back(*entry.egress);
    } else {
      snapshot.invalid_egresses.push_back({key, entry.error});
    }
    parsed.emplace(key, std::move(entry));
  }
  parsed_ = std::move(parsed);
  std::stable_partition(snapshot.egresses.begin(), snapshot.egresses.end(),
                        [this](const policy::Egress& egress) {
                          return std::find(admin_namespaces_.begin(), admin_namespaces_.end(),
                                           egress.namespace_name) != admin_namespaces_.end();
                        });
  if (egresses_changed) ++egress_generation_;
  snapshot.egress_generation = egress_generation_;

  std::map<std::string, ParsedPod> parsed_pods;
  for (const auto& [key, object] : pods_->objects()) {
    const json& metadata = metadataOf(object);
    std::string uid = metadataText(metadata, "uid");
    std::string version = metadataText(metadata, "resourceVersion");
    auto previous = parsed_pods_.find(key);
    ParsedPod entry;
    if (previous != parsed_pods_.end() && previous->second.uid == uid &&
        previous->second.resource_version == version) {
      entry = std::move(previous->second);
    } else {
      entry = {.uid = std::move(uid),
               .resource_version = std::move(version),
               .pod = podFromObject(object)};
    }
    snapshot.pods.push_back(entry.pod);
    parsed_pods.emplace_hint(parsed_pods.end(), key, std::move(entry));
  }
  parsed_pods_ = std::move(parsed_pods);
  for (const auto& [name, object] : namespaces_->objects()) {
    snapshot.namespace_labels[name] = labelsOf(object);
  }
  if (const auto node = nodes_->objects().find(node_name_); node != nodes_->objects().end()) {
    snapshot.node_labels = labelsOf(node->second);
  }
  const json* service = nullptr;
  const auto service_key = dns_namespace_ + "/" + dns_service_;
  if (const auto found = services_->objects().find(service_key);
      found != services_->objects().end()) {
    service = &found->second;
  }
  std::vector<const json*> slices;
  for (const auto& [key, object] : endpoint_slices_->objects()) slices.push_back(&object);
  snapshot.dns_resolvers = dnsResolversOf(service, slices);
  for (const auto& [key, slice] : api_server_slices_->objects()) {
    const auto endpoints = tcpEndpointsOf(slice);
    snapshot.api_server_endpoints.insert(snapshot.api_server_endpoints.end(), endpoints.begin(),
                                         endpoints.end());
  }
  return snapshot;
}

void KubernetesSource::warnAboutEgress(const std::string& key, const std::string& reason,
                                       const std::string& message) {
  const auto found = egresses_->objects().find(key);
  if (found != egresses_->objects().end()) recordWarning(found->second, reason, message);
}

void KubernetesSource::recordWarning(const json& egress, const std::string& reason,
                                     const std::string& message) {
  const json& metadata = metadataOf(egress);
  events_->record({"egress.skouter/v1alpha1", "Egress", metadata.value("namespace", ""),
                   metadata.value("name", ""), metadata.value("uid", "")},
                  "Warning", reason, message);
}

json KubernetesSource::statusJson() const {
  return {{"api_server", client_->config().host + ":" + client_->config().port},
          {"origin", client_->config().origin},
          {"node", node_name_},
          {"synced", synced()},
          {"egresses", reflectorStatus(*egresses_)},
          {"pods", reflectorStatus(*pods_)},
          {"namespaces", reflectorStatus(*namespaces_)},
          {"nodes", reflectorStatus(*nodes_)},
          {"dns_services", reflectorStatus(*services_)},
          {"dns_endpoint_slices", reflectorStatus(*endpoint_slices_)},
          {"api_server_endpoint_slices", reflectorStatus(*api_server_slices_)}};
}

}  // namespace skouter::daemon
