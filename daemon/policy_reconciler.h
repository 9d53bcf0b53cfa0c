// The policy of every workload on this node, from the policy files and the cluster:
// the node's own and each selected pod's, compiled. A function of its inputs (no map,
// no socket): the daemon hands it Egresses and cluster snapshots, and brings the
// datapath in line with the plan it returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "daemon/cluster_objects.h"
#include "policy/compiled_policy.h"
#include "policy/egress.h"

namespace skouter::daemon {

// A pod on this node an Egress selects, with the union of the Egresses that select it.
struct PolicedPod {
  PodObject pod;
  std::shared_ptr<const policy::CompiledPolicy> policy;
};

// What one reconciliation decided, for the daemon to apply.
struct PolicyPlan {
  // The node's literal names changed: look them up anew.
  bool host_names_changed = false;
  // An Egress was added, changed or removed since the previous plan.
  bool egresses_changed = false;
  // Some Egress selects pods: every pod interface is guarded from its first packet.
  bool guard_pods = false;
  std::vector<PolicedPod> policed;
  std::vector<PodObject> unpoliced;  // on this node, with an address, selected by nothing
  // Egresses refused: invalid, or defined both in the files and in the cluster.
  std::vector<std::string> refused;
  // Egresses left out of some workload's policy (they cannot be united with those
  // that take precedence), one line per Egress and reason.
  std::vector<std::string> left_out;
  // Egress objects of the cluster ("namespace/name") left out of some workload's
  // policy, with the reason: reported to the cluster as Events on them.
  std::vector<std::pair<std::string, std::string>> cluster_egresses_left_out;
};

class PolicyReconciler {
 public:
  // `audit`: --audit (every policy audits); `node_labels`: --node-label flags, which
  // override the Node object's labels.
  // `verify_sni`: --verify-sni, the check of every rule whose Egress has none;
  // `queries`: how queries are policed (--deny-queries and its companions).
  PolicyReconciler(bool audit, policy::NodeLabels node_labels,
                   std::optional<policy::ServerNameCheck> verify_sni = std::nullopt,
                   policy::QueryPolicingSettings queries = {});

  // The policy files' Egresses; reconcile() applies them.
  void setFileEgresses(std::vector<policy::Egress> egresses);
  // At start, before the cluster is known: the node's policy from the files alone.
  // Throws when it leaves an Egress out: the files are the operator's, who is there
  // to fix them.
  void adoptFilePolicy();
  void setCluster(ClusterSnapshot cluster);
  // Compiles the policy of the node and of every pod anew. Throws when that fails;
  // then the policy in force stays as it is.
  PolicyPlan reconcile();

  const policy::CompiledPolicy& hostPolicy() const { return host_policy_; }
  // The file policy and the cluster's Egress objects together, as last reconciled.
  const std::vector<policy::Egress>& egresses() const { return egresses_; }
  const ClusterSnapshot& cluster() const { return cluster_; }
  bool selectsThisNode(const policy::Egress& egress) const;
  policy::PodSelectionFacts selectionFacts(const PodObject& pod) const;

 private:
  // An Egress left out of the policy of one workload ("the node", "pod NAMESPACE/NAME").
  struct LeftOutOfWorkload {
    std::string workload;
    policy::LeftOutEgress egress;
  };
  // The policy of the pods one set of Egresses selects, and the Egresses left out of it.
  struct PodPolicy {
    std::shared_ptr<const policy::CompiledPolicy> policy;
    std::vector<policy::LeftOutEgress> left_out;
  };

  policy::WorkloadPolicy compileForNode(const std::vector<policy::Egress>& egresses) const;
  std::vector<PolicedPod> policedPods(const std::vector<policy::Egress>& egresses,
                                      std::vector<PodObject>& unpoliced,
                                      std::vector<LeftOutOfWorkload>& left_out);
  // One problem per Egress and reason, however many workloads share it; logged when
  // new. Egresses [first_cluster, end_cluster) of `egresses` are the cluster's.
  void reportLeftOut(const std::vector<policy::Egress>& egresses,
                     const std::vector<LeftOutOfWorkload>& left_out, std::size_t first_cluster,
                     std::size_t end_cluster, PolicyPlan& plan);

  bool audit_;
  std::optional<policy::ServerNameCheck> verify_sni_;
  policy::QueryPolicingSettings queries_;
  policy::NodeLabels flag_labels_;
  // The flags' labels over the Node object's.
  policy::NodeLabels node_labels_;
  std::vector<policy::Egress> file_egresses_;
  std::uint64_t file_generation_ = 0;
  ClusterSnapshot cluster_;
  std::vector<policy::Egress> egresses_;
  policy::CompiledPolicy host_policy_;
  // Pod policies by the Egresses (indices into the Egresses compiled) that select the
  // pod; valid for one (file, cluster Egress) generation pair.
  std::map<std::vector<std::size_t>, PodPolicy> pod_policies_;
  std::pair<std::uint64_t, std::uint64_t> pod_policies_generation_{~0ULL, ~0ULL};
  std::pair<std::uint64_t, std::uint64_t> planned_generation_{~0ULL, ~0ULL};
  // The left-out problems of the previous plan, as logged: each is logged when it
  // appears, not again at every pod change.
  std::set<std::string> left_out_logged_;
};

}  // namespace skouter::daemon
