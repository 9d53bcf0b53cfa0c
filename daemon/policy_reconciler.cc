#include "daemon/policy_reconciler.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace skouter::daemon {

namespace {

// Allows the node the API server's endpoints on their ports, one rule per port.
policy::Egress apiServerEgress(const std::vector<ServiceEndpoint>& endpoints) {
  policy::Egress egress;
  egress.name = "skouterd:kubernetes-api-server";  // no Kubernetes name has a colon
  egress.source = "skouterd (the node always reaches its Kubernetes API server)";
  egress.node_selector = policy::LabelSelector{};
  std::map<std::uint16_t, policy::EgressRule> rules;
  for (const auto& endpoint : endpoints) {
    auto& rule = rules[endpoint.port];
    rule.ips.push_back({endpoint.ip, endpoint.ip.maxPrefixLength()});
    rule.ports = {{policy::PortProtocol::kTcp, endpoint.port, endpoint.port}};
  }
  for (auto& [port, rule] : rules) egress.rules.push_back(std::move(rule));
  return egress;
}

std::string qualifiedName(const policy::Egress& egress) {
  return egress.namespace_name.empty() ? egress.name : egress.namespace_name + "/" + egress.name;
}

}  // namespace

PolicyReconciler::PolicyReconciler(bool audit, policy::NodeLabels node_labels,
                                   std::optional<policy::ServerNameCheck> verify_sni,
                                   policy::QueryPolicingSettings queries)
    : audit_(audit),
      verify_sni_(std::move(verify_sni)),
      queries_(std::move(queries)),
      flag_labels_(node_labels),
      node_labels_(std::move(node_labels)) {}

void PolicyReconciler::setFileEgresses(std::vector<policy::Egress> egresses) {
  file_egresses_ = std::move(egresses);
  ++file_generation_;
}

void PolicyReconciler::setCluster(ClusterSnapshot cluster) {
  cluster_ = std::move(cluster);
  node_labels_ = cluster_.node_labels.value_or(policy::NodeLabels{});
  for (const auto& [key, value] : flag_labels_) node_labels_[key] = value;
}

void PolicyReconciler::adoptFilePolicy() {
  auto host = compileForNode(file_egresses_);
  if (!host.left_out.empty()) throw policy::PolicyError(host.left_out.front().reason);
  egresses_ = file_egresses_;
  host_policy_ = std::move(host.policy);
}

bool PolicyReconciler::selectsThisNode(const policy::Egress& egress) const {
  return policy::selectsNode(egress, node_labels_);
}

policy::PodSelectionFacts PolicyReconciler::selectionFacts(const PodObject& pod) const {
  policy::PodSelectionFacts facts{pod.namespace_name, pod.labels, {}};
  if (const auto found = cluster_.namespace_labels.find(pod.namespace_name);
      found != cluster_.namespace_labels.end()) {
    facts.namespace_labels = found->second;
  }
  return facts;
}

policy::WorkloadPolicy PolicyReconciler::compileForNode(
    const std::vector<policy::Egress>& egresses) const {
  auto compiled = policy::compileLeavingOut(
      egresses, [this](const policy::Egress& egress) { return selectsThisNode(egress); });
  compiled.policy.audit_everything = audit_;
  if (verify_sni_) policy::checkServerNamesOfEveryRule(compiled.policy, *verify_sni_);
  policy::policeQueries(compiled.policy, queries_);
  return compiled;
}

PolicyPlan PolicyReconciler::reconcile() {
  PolicyPlan plan;
  std::vector<policy::Egress> egresses = file_egresses_;
  const std::size_t first_cluster = egresses.size();
  std::set<std::string> file_names;
  for (const auto& egress : file_egresses_) {
    file_names.insert(egress.namespace_name + "/" + egress.name);
  }
  for (const auto& egress : cluster_.egresses) {
    if (file_names.count(egress.namespace_name + "/" + egress.name)) {
      plan.refused.push_back("Egress " + egress.namespace_name + "/" + egress.name +
                             " is defined both in the policy files and in the cluster; the "
                             "files' one is enforced");
      continue;
    }
    egresses.push_back(egress);
  }
  const std::size_t end_cluster = egresses.size();
  for (const auto& invalid : cluster_.invalid_egresses) plan.refused.push_back(invalid.error);
  // kubelet and skouterd itself need the API server: a node policy that forgot it
  // would cut the node off its cluster.
  if (std::any_of(egresses.begin(), egresses.end(),
                  [this](const policy::Egress& egress) { return selectsThisNode(egress); }) &&
      !cluster_.api_server_endpoints.empty()) {
    egresses.push_back(apiServerEgress(cluster_.api_server_endpoints));
  }

  // Everything that can throw comes before the first change to this object's state.
  std::vector<LeftOutOfWorkload> left_out;
  auto host = compileForNode(egresses);
  for (auto& egress : host.left_out) left_out.push_back({"the node", std::move(egress)});
  plan.policed = policedPods(egresses, plan.unpoliced, left_out);

  plan.host_names_changed = host.policy.names.exactNames() != host_policy_.names.exactNames();
  // While any Egress selects pods, a pod is judged from its first packet, before the
  // API server shows who it is.
  plan.guard_pods = std::any_of(egresses.begin(), egresses.end(), [](const policy::Egress& egress) {
    return egress.pod_selector || egress.namespace_selector;
  });
  const auto generation = std::make_pair(file_generation_, cluster_.egress_generation);
  plan.egresses_changed = generation != planned_generation_;
  planned_generation_ = generation;
  reportLeftOut(egresses, left_out, first_cluster, end_cluster, plan);
  egresses_ = std::move(egresses);
  host_policy_ = std::move(host.policy);
  return plan;
}

std::vector<PolicedPod> PolicyReconciler::policedPods(const std::vector<policy::Egress>& egresses,
                                                      std::vector<PodObject>& unpoliced,
                                                      std::vector<LeftOutOfWorkload>& left_out) {
  const auto generation = std::make_pair(file_generation_, cluster_.egress_generation);
  if (generation != pod_policies_generation_) {
    pod_policies_.clear();
    pod_policies_generation_ = generation;
  }
  std::vector<PolicedPod> policed;
  for (const PodObject& pod : cluster_.pods) {
    // A host-network pod's traffic is the node's own; a finished pod's address may be
    // a newer pod's already.
    if (pod.host_network || pod.finished || pod.addresses.empty()) continue;
    const auto facts = selectionFacts(pod);
    std::vector<std::size_t> selecting;
    for (std::size_t i = 0; i < egresses.size(); ++i) {
      if (policy::selectsPod(egresses[i], facts)) selecting.push_back(i);
    }
    if (selecting.empty()) {
      unpoliced.push_back(pod);
      continue;
    }
    auto& compiled = pod_policies_[selecting];
    if (!compiled.policy) {
      auto united = policy::compileLeavingOut(egresses, [&](const policy::Egress& egress) {
        return policy::selectsPod(egress, facts);
      });
      united.policy.audit_everything = audit_;
      if (verify_sni_) policy::checkServerNamesOfEveryRule(united.policy, *verify_sni_);
      policy::policeQueries(united.policy, queries_);
      compiled = {std::make_shared<const policy::CompiledPolicy>(std::move(united.policy)),
                  std::move(united.left_out)};
    }
    for (const auto& egress : compiled.left_out) {
      left_out.push_back({"pod " + pod.qualifiedName(), egress});
    }
    policed.push_back({pod, compiled.policy});
  }
  return policed;
}

void PolicyReconciler::reportLeftOut(const std::vector<policy::Egress>& egresses,
                                     const std::vector<LeftOutOfWorkload>& left_out,
                                     std::size_t first_cluster, std::size_t end_cluster,
                                     PolicyPlan& plan) {
  std::map<policy::LeftOutEgress, std::vector<std::string>> workloads;
  for (const auto& entry : left_out) workloads[entry.egress].push_back(entry.workload);
  std::set<std::string> logged;
  for (const auto& [egress, names] : workloads) {
    const std::string name = qualifiedName(egresses[egress.index]);
    const std::string others =
        names.size() > 1 ? fmt::format(" and {} other workload(s)", names.size() - 1) : "";
    std::string problem = fmt::format("Egress {} is left out of the policy of {}{}: {}", name,
                                      names.front(), others, egress.reason);
    if (!left_out_logged_.contains(problem)) spdlog::error("{}", problem);
    plan.left_out.push_back(problem);
    logged.insert(std::move(problem));
    if (egress.index >= first_cluster && egress.index < end_cluster) {
      plan.cluster_egresses_left_out.push_back({name, egress.reason});
    }
  }
  left_out_logged_ = std::move(logged);
}

}  // namespace skouter::daemon
