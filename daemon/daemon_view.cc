#include "daemon/daemon_view.h"

#include <spdlog/fmt/fmt.h>

#include <algorithm>

namespace skouter::daemon {

const policy::CompiledPolicy* DaemonView::policyOf(std::uint32_t identity) const {
  if (identity == SKOUTER_HOST_IDENTITY) {
    const auto& host = policies.hostPolicy();
    return host.polices ? &host : nullptr;
  }
  const PodState* pod = pods.byIdentity(identity);
  return pod ? pod->policy.get() : nullptr;
}

std::string DaemonView::workloadName(std::uint32_t identity) const {
  if (identity == SKOUTER_HOST_IDENTITY) return "host";
  if (const PodState* pod = pods.byIdentity(identity)) return pod->pod.qualifiedName();
  return "identity " + std::to_string(identity);
}

std::string DaemonView::ruleName(std::uint32_t identity, policy::RuleId rule) const {
  if (const auto* policy = policyOf(identity)) {
    const auto found = policy->rule_descriptions.find(rule);
    if (found != policy->rule_descriptions.end()) return found->second;
  }
  return fmt::format("(rule {:08x} of an earlier policy)", rule);
}

std::vector<resolver::ResolverAddress> trustedResolversOf(const DaemonOptions& options,
                                                          const ClusterSnapshot& cluster) {
  auto addresses = options.trusted_dns;
  for (const auto& address : cluster.dns_resolvers) {
    if (std::find(addresses.begin(), addresses.end(), address) == addresses.end()) {
      addresses.push_back(address);
    }
  }
  return addresses;
}

std::vector<resolver::ResolverAddress> DaemonView::trustedResolvers() const {
  return trustedResolversOf(options, policies.cluster());
}

std::string DaemonView::notReadyReason() const {
  if (kubernetes && !kubernetes->synced()) return "the Kubernetes API has not been listed yet";
  if (!record.applied_once) return "the cluster's policy has not been applied yet";
  return "";
}

std::vector<Fill> DaemonView::ringFill() const {
  std::vector<Fill> rings;
  for (const auto& [name, ring] : {std::pair{"answers", Datapath::Ring::kAnswers},
                                   std::pair{"events", Datapath::Ring::kEvents}}) {
    const auto fill = datapath.ringFill(ring);
    rings.push_back({name, fill.used_bytes, fill.size_bytes});
  }
  return rings;
}

std::vector<Fill> DaemonView::tableFill() const {
  std::vector<Fill> tables;
  for (const auto& [name, capacity] : datapath.tableCapacities()) {
    std::size_t entries = 0;
    if (name == "identities") {
      entries = pods.identityCount();
    } else if (name == "allowed_ips") {
      entries = allowed_ips.size();
    } else if (name == "learned_names") {
      entries = allowed_ips.nameCount();
    } else if (name == "allowed_cidrs") {
      entries = static_rules.size();
    } else if (name == "port_sets") {
      entries = port_sets.size();
    } else if (name == "flows") {
      entries = record.last_sweep.flows_remaining;
    } else if (name == "inbound_flows") {
      entries = record.last_sweep.inbound_flows_remaining;
    } else if (name == "interfaces") {
      entries = interface_table.interfaceCount();
    } else if (name == "link_prefixes") {
      entries = interface_table.prefixCount();
    } else if (name == "dns_queries") {
      entries = record.last_sweep.dns_queries_remaining;
    } else if (name == "trusted_resolvers") {
      entries = trusted_resolvers.size();
    } else if (name == "answer_bytes_punted") {
      entries = answer_ring_quota.puntedEntries();
    } else if (name == "answer_bytes_consumed") {
      entries = answer_ring_quota.consumedEntries();
    } else if (name == "learnable_names") {
      entries = learnable_names.size();
    }
    tables.push_back({name, entries, capacity});
  }
  tables.push_back({"audit", audit_table.size(), options.audit_table_size});
  tables.push_back({"observed_names", observed_names.size(), observed_names.capacity()});
  const auto& streams = answers.tcpStreams();
  tables.push_back({"tcp_streams", streams.size(), streams.limits().max_streams});
  tables.push_back(
      {"tcp_buffer_bytes", streams.bufferedBytes(), streams.limits().max_buffered_bytes});
  tables.push_back(
      {"pending_lookups", answers.pendingLookups(), answers.limits().max_pending_lookups});
  return tables;
}

}  // namespace skouter::daemon
