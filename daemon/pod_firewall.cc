#include "daemon/pod_firewall.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace skouter::daemon {
namespace {

// Identities wrap around below this, far from any count of pods one node can hold.
constexpr std::uint32_t kLastPodIdentity = 0xfffffff0u;

}  // namespace

PodFirewall::PodFirewall(Datapath& datapath, WorkloadEntries& entries, maps::FlowTable& flows,
                         std::set<int> uplinks, bool guard)
    : datapath_(datapath),
      entries_(entries),
      flows_(flows),
      identities_(datapath.identities()),
      uplinks_(std::move(uplinks)),
      guard_(guard),
      recovered_(identities_.identities()) {
  for (const auto& [address, identity] : recovered_) {
    next_identity_ = std::max(next_identity_, identity + 1);
  }
  try {
    const auto inherited = Datapath::podAttachments(datapath.pinDir(), uplinks_);
    attached_.insert(inherited.begin(), inherited.end());
  } catch (const std::exception& error) {
    spdlog::warn("cannot list the interfaces a previous daemon attached to: {}", error.what());
  }
}

std::uint32_t PodFirewall::identityFor(const PodObject& pod,
                                       const std::map<std::string, std::uint32_t>& by_uid,
                                       const std::set<std::uint32_t>& taken) {
  if (const auto known = by_uid.find(pod.uid); known != by_uid.end()) return known->second;
  for (const IpAddress& address : pod.addresses) {
    const auto found = recovered_.find(address);
    if (found != recovered_.end() && found->second >= kFirstPodIdentity &&
        !taken.count(found->second) && !pods_.count(found->second)) {
      return found->second;
    }
  }
  for (;;) {
    const std::uint32_t identity = next_identity_;
    next_identity_ = next_identity_ >= kLastPodIdentity ? kFirstPodIdentity : next_identity_ + 1;
    const bool recovered_in_use =
        std::any_of(recovered_.begin(), recovered_.end(),
                    [identity](const auto& entry) { return entry.second == identity; });
    if (!taken.count(identity) && !pods_.count(identity) && !recovered_in_use) return identity;
  }
}

bool PodFirewall::writeIdentity(const std::vector<IpAddress>& addresses, std::uint32_t identity,
                                std::uint32_t flags, const std::optional<PodInterface>& interface) {
  skouter_identity_value value{};
  value.identity = identity;
  value.flags = flags;
  // Without an interface, index 0: no packet comes in by it, so every packet with
  // these addresses as its source is one posing as the pod.
  if (interface) {
    value.ifindex = static_cast<std::uint32_t>(interface->ifindex);
    if (interface->netns_id) {
      value.flags |= SKOUTER_IDENTITY_NETNS_KNOWN;
      value.netns_id = *interface->netns_id;
    }
  }
  return identities_.bind(addresses, value);
}

void PodFirewall::eraseIdentity(const PodState& state) {
  for (const IpAddress& address : state.pod.addresses) {
    identities_.unbind(address, state.identity);  // unless a newer pod's already
  }
}

std::optional<PodInterface> PodFirewall::locate(const PodObject& pod, std::string& problem) const {
  std::optional<std::size_t> first;
  for (const IpAddress& address : pod.addresses) {
    const auto found = observed_addresses_.find(address);
    if (found != observed_addresses_.end() && (!first || found->second < *first)) {
      first = found->second;
    }
  }
  if (first) return observed_[*first];
  // Not behind a veth of its own, or not observed yet: where its route leads.
  std::optional<RouteInterface> route;
  try {
    route = routeInterfaceOf(pod.addresses.front());
  } catch (const std::exception& error) {
    problem = std::string("route lookup failed: ") + error.what();
    return std::nullopt;
  }
  if (!route) {
    problem = "no route to " + pod.addresses.front().toString() + " yet";
    return std::nullopt;
  }
  if (uplinks_.count(route->ifindex) || route->name == "lo") {
    problem = "the route to " + pod.addresses.front().toString() + " leads to " + route->name +
              ", not to a pod interface";
    return std::nullopt;
  }
  return PodInterface{
      .ifindex = route->ifindex, .name = route->name, .netns_id = {}, .addresses = {}};
}

bool PodFirewall::attach(const PodInterface& interface, std::string& problem) {
  if (current_.count(interface.ifindex)) return true;
  if (!datapath_.programsLoaded()) {
    // The previous daemon's programs police it until this one's are loaded; the daemon
    // applies again then, and they replace them.
    if (attached_.count(interface.ifindex)) return true;
    problem = "skouter's programs are still loading";
    return false;
  }
  try {
    datapath_.attachPod(interface.ifindex);
  } catch (const std::exception& error) {
    problem = error.what();
    spdlog::warn("cannot attach to {}: {}", interface.name, problem);
    return false;
  }
  attached_.insert(interface.ifindex);
  current_.insert(interface.ifindex);
  spdlog::info("attached to {}", interface.name);
  return true;
}

void PodFirewall::detachUnneeded() {
  std::set<int> needed;
  for (const auto& [identity, state] : pods_) {
    if (state.interface) needed.insert(state.interface->ifindex);
  }
  if (guard_) {
    for (const PodInterface& interface : observed_) needed.insert(interface.ifindex);
  }
  for (auto it = attached_.begin(); it != attached_.end();) {
    if (needed.count(*it)) {
      ++it;
      continue;
    }
    try {
      Datapath::detachPod(datapath_.pinDir(), *it);
      spdlog::info("detached from interface {}", *it);
    } catch (const std::exception& error) {
      spdlog::warn("cannot detach from interface {}: {}", *it, error.what());
    }
    current_.erase(*it);
    it = attached_.erase(it);
  }
}

void PodFirewall::observe(std::vector<PodInterface> interfaces,
                          const std::vector<IpAddress>& node_addresses) {
  observed_ = std::move(interfaces);
  observed_addresses_.clear();
  for (std::size_t i = 0; i < observed_.size(); ++i) {
    for (const IpAddress& address : observed_[i].addresses) observed_addresses_.emplace(address, i);
  }
  const std::set<IpAddress> now(node_addresses.begin(), node_addresses.end());
  for (const IpAddress& address : now) {
    if (node_addresses_.count(address)) continue;
    const auto current = identities_.identityOf(address);
    if (current && *current != SKOUTER_HOST_IDENTITY) continue;  // a pod's
    writeIdentity({address}, SKOUTER_HOST_IDENTITY, 0, std::nullopt);
  }
  for (const IpAddress& address : node_addresses_) {
    if (now.count(address)) continue;
    identities_.unbind(address, SKOUTER_HOST_IDENTITY);
  }
  node_addresses_ = now;
  if (!guard_) return;
  // A new pod's interface: its first packet must meet the programs, whoever it is.
  for (const PodInterface& interface : observed_) {
    std::string problem;
    if (!attached_.count(interface.ifindex)) attach(interface, problem);
  }
}

std::set<int> PodFirewall::unguarded() const {
  std::set<int> unguarded;
  if (!guard_) return unguarded;
  for (const PodInterface& interface : observed_) {
    if (!attached_.count(interface.ifindex)) unguarded.insert(interface.ifindex);
  }
  return unguarded;
}

PodFirewall::SyncResult PodFirewall::sync(const std::vector<PolicedPod>& policed,
                                          const std::vector<PodObject>& unpoliced, bool guard) {
  SyncResult result;
  guard_ = guard;
  std::set<std::string> wanted_uids;
  for (const auto& entry : policed) wanted_uids.insert(entry.pod.uid);

  // Pods that went away or are no longer selected: their identity goes with everything
  // it held, flows included, so whoever gets the address next starts afresh.
  for (auto it = pods_.begin(); it != pods_.end();) {
    if (wanted_uids.count(it->second.pod.uid)) {
      ++it;
      continue;
    }
    PodState gone = std::move(it->second);
    it = pods_.erase(it);
    eraseIdentity(gone);
    entries_.apply(gone.identity, nullptr);
    flows_.forget(gone.identity);
    spdlog::info("pod {} (identity {}) is no longer policed", gone.pod.qualifiedName(),
                 gone.identity);
  }

  // Unpoliced addresses before any new attachment, so a pod sharing the interface is
  // never cut off.
  std::set<IpAddress> policed_addresses;
  for (const auto& entry : policed) {
    policed_addresses.insert(entry.pod.addresses.begin(), entry.pod.addresses.end());
  }
  std::set<IpAddress> unpoliced_now;
  for (const PodObject& pod : unpoliced) {
    std::vector<IpAddress> addresses;
    for (const IpAddress& address : pod.addresses) {
      if (policed_addresses.count(address)) continue;  // a policed pod's now: bound below
      addresses.push_back(address);
      unpoliced_now.insert(address);
    }
    if (addresses.empty()) continue;
    std::string problem;
    const auto interface = locate(pod, problem);
    if (!writeIdentity(addresses, SKOUTER_UNPOLICED_IDENTITY, 0, interface)) {
      spdlog::error("cannot list pod {} as unpoliced (identities map full?)", pod.qualifiedName());
    }
  }
  for (const IpAddress& address : unpoliced_) {
    if (unpoliced_now.count(address)) continue;
    identities_.unbind(address, SKOUTER_UNPOLICED_IDENTITY);
  }
  unpoliced_ = std::move(unpoliced_now);

  std::map<std::string, std::uint32_t> by_uid;
  for (const auto& [identity, state] : pods_) by_uid.emplace(state.pod.uid, identity);
  std::set<std::uint32_t> taken;
  for (const auto& entry : policed) {
    // Nothing to key it by before the CNI has given it an address.
    if (entry.pod.addresses.empty()) continue;
    const std::uint32_t identity = identityFor(entry.pod, by_uid, taken);
    taken.insert(identity);
    const auto existing = pods_.find(identity);
    const bool is_new = existing == pods_.end();
    std::vector<IpAddress> previous_addresses;
    if (!is_new) previous_addresses = existing->second.pod.addresses;
    PodState& state = pods_[identity];
    by_uid.emplace(entry.pod.uid, identity);
    const bool policy_changed = is_new || state.policy != entry.policy;
    state.pod = entry.pod;
    state.identity = identity;
    state.policy = entry.policy;
    state.problem.clear();

    // Entries before the identity and the programs: the pod's first packet already
    // finds everything its policy allows.
    if (policy_changed && !entries_.apply(identity, state.policy.get()).complete()) {
      state.problem = "a table is full: part of the pod's policy is missing";
      result.complete = false;
    }
    for (const IpAddress& address : previous_addresses) {
      if (std::find(state.pod.addresses.begin(), state.pod.addresses.end(), address) ==
          state.pod.addresses.end()) {
        PodState old_address = state;
        old_address.pod.addresses = {address};
        eraseIdentity(old_address);
      }
    }
    std::string interface_problem;
    state.interface = locate(state.pod, interface_problem);
    const std::uint32_t flags =
        (state.policy->audit_egresses.empty() ? 0 : SKOUTER_IDENTITY_AUDIT) |
        (state.policy->queryable_suffixes ? SKOUTER_IDENTITY_QUERIES_POLICED : 0);
    if (!writeIdentity(state.pod.addresses, identity, flags, state.interface)) {
      // Its packets would be dropped as coming from an unknown source.
      state.problem = "the identities map is full: the pod's traffic is dropped";
      result.complete = false;
    }
    if (state.interface && !attach(*state.interface, interface_problem)) state.interface.reset();
    if (!state.interface) {
      result.complete = false;
      if (state.problem.empty()) state.problem = interface_problem;
    }
    if (is_new) {
      result.newly_policed.push_back(identity);
      spdlog::info("pod {} ({}) is policed as identity {}", state.pod.qualifiedName(),
                   state.pod.addresses.front().toString(), identity);
    }
  }
  if (guard_) {
    for (const PodInterface& interface : observed_) {
      std::string problem;
      if (!attach(interface, problem)) result.complete = false;
    }
  }

  if (first_sync_) {
    first_sync_ = false;
    // What a previous daemon installed for pods that are gone now.
    std::set<std::uint32_t> stale;
    for (const auto& [address, identity] : recovered_) {
      if (pods_.count(identity) || identity == SKOUTER_HOST_IDENTITY) continue;
      if (identity >= kFirstPodIdentity) stale.insert(identity);
      // An address the IPAM gave to an unpoliced pod meanwhile is that pod's now.
      if (!unpoliced_.count(address)) identities_.unbind(address, identity);
    }
    for (const std::uint32_t identity : entries_.identities()) {
      if (identity >= kFirstPodIdentity && !pods_.count(identity)) stale.insert(identity);
    }
    for (const std::uint32_t identity : stale) {
      entries_.apply(identity, nullptr);
      flows_.forget(identity);
    }
    if (!stale.empty()) {
      spdlog::info("forgot {} identities of pods that went away while no daemon ran", stale.size());
    }
    recovered_.clear();
  }
  detachUnneeded();
  return result;
}

const PodState* PodFirewall::byIdentity(std::uint32_t identity) const {
  const auto found = pods_.find(identity);
  return found == pods_.end() ? nullptr : &found->second;
}

const PodState* PodFirewall::byAddress(const IpAddress& address) const {
  for (const auto& [identity, state] : pods_) {
    const auto& addresses = state.pod.addresses;
    if (std::find(addresses.begin(), addresses.end(), address) != addresses.end()) return &state;
  }
  return nullptr;
}

}  // namespace skouter::daemon
