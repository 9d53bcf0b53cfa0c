// Polices the pods on this node that an Egress selects: gives each an identity bound to
// the interface its packets enter by, keeps its static and learned entries in line
// with its policy, and attaches the pod programs to its interface. While any Egress
// selects pods, it guards every pod interface of the node from the moment it appears:
// a pod whose address the API server does not show yet is judged too (its packets
// come from no known address, and are dropped). Decides the identities map, which
// maps::IdentityTable writes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bpf/datapath.h"
#include "bpf/maps/flow_table.h"
#include "bpf/maps/identity_table.h"
#include "daemon/cluster_objects.h"
#include "daemon/host_network.h"
#include "daemon/policy_reconciler.h"
#include "daemon/route_lookup.h"
#include "daemon/workload_entries.h"
#include "policy/compiled_policy.h"

namespace skouter::daemon {

// Pod identities start here; the ones below are reserved (0: unpoliced, 1: the host).
inline constexpr std::uint32_t kFirstPodIdentity = 256;

struct PodState {
  PodObject pod;
  std::uint32_t identity = 0;
  std::shared_ptr<const policy::CompiledPolicy> policy;
  // The interface carrying the pod programs; nullopt while the pod has none.
  std::optional<PodInterface> interface;
  // Why the pod is not (fully) enforced yet; empty when it is.
  std::string problem;
};

class PodFirewall {
 public:
  // `uplinks`: the interfaces a pod's route must never lead to (a pod address routed
  // there is not on this node, and the uplink programs judge the host).
  // `guard`: whether the previous daemon guarded every pod interface (the pinned
  // configuration says), which holds until the first sync says otherwise.
  PodFirewall(Datapath& datapath, WorkloadEntries& entries, maps::FlowTable& flows,
              std::set<int> uplinks, bool guard);

  // The pod interfaces of the node as they are now, and the node's own addresses.
  // While guarding, attaches the pod programs at once to the interfaces that carry
  // none (those a previous daemon attached to get this daemon's programs at the first
  // sync, once their pods' addresses are bound to them). The node's addresses are
  // listed with the host's identity, bound to no interface: to a pod they are on its
  // link (its gateway), and no pod may send as them.
  void observe(std::vector<PodInterface> interfaces, const std::vector<IpAddress>& node_addresses);

  struct SyncResult {
    std::vector<std::uint32_t> newly_policed;  // identities whose names to look up now
    bool complete = true;                      // every pod attached and installed
  };
  // Makes the policed pods exactly `policed`. A pod keeps its identity while it lives;
  // after a restart it gets back the identity its address had, so its learned entries
  // stay valid. The first call also clears what identities of pods that went away
  // while no daemon ran still held. The addresses of `unpoliced` pods (on this node,
  // selected by nothing) are listed as unpoliced, bound to their interface: they pass,
  // and no policed pod can pose as them. `guard`: some Egress selects pods, so every
  // pod interface observed carries the pod programs; otherwise only policed pods'.
  // Pods without an address yet are left out (guarded, their packets are dropped).
  SyncResult sync(const std::vector<PolicedPod>& policed, const std::vector<PodObject>& unpoliced,
                  bool guard);

  const PodState* byIdentity(std::uint32_t identity) const;
  const PodState* byAddress(const IpAddress& address) const;
  const std::map<std::uint32_t, PodState>& pods() const { return pods_; }
  bool guarding() const { return guard_; }
  // Entries in the identities map.
  std::size_t identityCount() const { return identities_.size(); }
  // Pod interfaces that should carry the pod programs and do not (yet).
  std::set<int> unguarded() const;

 private:
  // `by_uid`: the identity of each pod in pods_, by uid.
  std::uint32_t identityFor(const PodObject& pod,
                            const std::map<std::string, std::uint32_t>& by_uid,
                            const std::set<std::uint32_t>& taken);
  // Where the packets of `pod` enter the node: the observed interface of the network
  // namespace holding its address, else the interface its route leads to. Sets
  // `problem` when there is none.
  std::optional<PodInterface> locate(const PodObject& pod, std::string& problem) const;
  // Binds `addresses` to `identity` (and the interface) in the identities map; false
  // when the map refused one (full).
  bool writeIdentity(const std::vector<IpAddress>& addresses, std::uint32_t identity,
                     std::uint32_t flags, const std::optional<PodInterface>& interface);
  void eraseIdentity(const PodState& state);
  // Puts this daemon's pod programs on the interface unless they are there; false
  // (logged, in `problem`) when that fails.
  bool attach(const PodInterface& interface, std::string& problem);
  // Takes the pod programs off the interfaces that need them no longer.
  void detachUnneeded();

  Datapath& datapath_;
  WorkloadEntries& entries_;
  maps::FlowTable& flows_;
  maps::IdentityTable identities_;
  std::set<int> uplinks_;
  std::vector<PodInterface> observed_;
  // Each address of an observed interface, with the position in observed_ of the
  // first interface holding it: locate() runs for every pod at every sync.
  std::map<IpAddress, std::size_t> observed_addresses_;
  bool guard_;
  // Interfaces carrying the pod programs: this daemon's, or (until the first sync)
  // a previous daemon's.
  std::set<int> attached_;
  // Those carrying this daemon's.
  std::set<int> current_;
  std::map<std::uint32_t, PodState> pods_;
  // Address -> identity as a previous daemon left the identities map.
  std::map<IpAddress, std::uint32_t> recovered_;
  std::set<IpAddress> unpoliced_;
  std::set<IpAddress> node_addresses_;
  bool first_sync_ = true;
  std::uint32_t next_identity_ = kFirstPodIdentity;
};

}  // namespace skouter::daemon
