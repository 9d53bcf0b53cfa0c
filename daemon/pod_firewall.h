// Polices the pods on this node that an Egress selects: gives each an identity, keeps
// its static and learned entries in line with its policy, and attaches the pod
// programs to its host-side interface. Sole writer of the identities map.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bpf/datapath.h"
#include "daemon/cluster_objects.h"
#include "daemon/route_lookup.h"
#include "daemon/static_rule_table.h"
#include "policy/compiled_policy.h"
#include "resolver/allowed_ip_table.h"

namespace skouter::daemon {

// Pod identities start here; the ones below are reserved (0: unpoliced, 1: the host).
inline constexpr std::uint32_t kFirstPodIdentity = 256;

struct PolicedPod {
  PodObject pod;
  std::shared_ptr<const policy::CompiledPolicy> policy;
};

struct PodState {
  PodObject pod;
  std::uint32_t identity = 0;
  std::shared_ptr<const policy::CompiledPolicy> policy;
  // The interface carrying the pod programs; nullopt while the pod has none.
  std::optional<RouteInterface> interface;
  // Why the pod is not (fully) enforced yet; empty when it is.
  std::string problem;
};

class PodFirewall {
 public:
  // `uplinks`: the interfaces a pod's route must never lead to (a pod address routed
  // there is not on this node, and the uplink programs judge the host).
  PodFirewall(Datapath& datapath, resolver::AllowedIpTable& allowed_ips,
              StaticRuleTable& static_rules, std::set<int> uplinks);

  struct SyncResult {
    std::vector<std::uint32_t> newly_policed;  // identities whose names to look up now
    bool complete = true;                      // every pod attached and installed
  };
  // Makes the policed pods exactly `policed`. A pod keeps its identity while it lives;
  // after a restart it gets back the identity its address had, so its learned entries
  // stay valid. The first call also clears what identities of pods that went away
  // while no daemon ran still held. The addresses of `unpoliced` pods (on this node,
  // selected by nothing) are listed as unpoliced: behind an interface shared with a
  // policed pod (a bridge) they pass instead of being taken for spoofed sources. Pods
  // without an address yet are left out.
  SyncResult sync(const std::vector<PolicedPod>& policed, const std::vector<PodObject>& unpoliced);

  const PodState* byIdentity(std::uint32_t identity) const;
  const PodState* byAddress(const IpAddress& address) const;
  const std::map<std::uint32_t, PodState>& pods() const { return pods_; }

 private:
  std::uint32_t identityFor(const PodObject& pod, const std::set<std::uint32_t>& taken);
  // Installs the static and learned entries `policy` allows `identity`; false when a
  // table is full.
  bool applyEntries(std::uint32_t identity, const policy::CompiledPolicy& policy);
  void removeEntries(std::uint32_t identity);
  // False when the map refused an address (full).
  bool writeIdentity(const PodState& state);
  void eraseIdentity(const PodState& state);
  // Attaches to the interface the pod's route leads to; sets state.problem if none.
  void attach(PodState& state, const std::optional<RouteInterface>& previous);
  void detachUnlessShared(const RouteInterface& interface);

  Datapath& datapath_;
  resolver::AllowedIpTable& allowed_ips_;
  StaticRuleTable& static_rules_;
  IdentityMap identities_;
  std::set<int> uplinks_;
  std::map<std::uint32_t, PodState> pods_;
  // Address -> identity as a previous daemon left the identities map.
  std::map<IpAddress, std::uint32_t> recovered_;
  std::set<IpAddress> unpoliced_;
  bool first_sync_ = true;
  std::uint32_t next_identity_ = kFirstPodIdentity;
};

}  // namespace skouter::daemon
