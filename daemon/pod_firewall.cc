#include "daemon/pod_firewall.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace skouter::daemon {
namespace {

// Identities wrap around below this, far from any count of pods one node can hold.
constexpr std::uint32_t kLastPodIdentity = 0xfffffff0u;

skouter_addr keyOf(const IpAddress& address) { return resolver::toBpfAddr(address); }

}  // namespace

PodFirewall::PodFirewall(Datapath& datapath, resolver::AllowedIpTable& allowed_ips,
                         StaticRuleTable& static_rules, std::set<int> uplinks)
    : datapath_(datapath),
      allowed_ips_(allowed_ips),
      static_rules_(static_rules),
      identities_(datapath.identities()),
      uplinks_(std::move(uplinks)) {
  identities_.forEach([this](const skouter_addr& key, const skouter_identity_value& value) {
    recovered_[resolver::fromBpfAddr(key)] = value.identity;
    next_identity_ = std::max(next_identity_, value.identity + 1);
  });
}

std::uint32_t PodFirewall::identityFor(const PodObject& pod, const std::set<std::uint32_t>& taken) {
  for (const auto& [identity, state] : pods_) {
    if (state.pod.uid == pod.uid) return identity;
  }
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

bool PodFirewall::applyEntries(std::uint32_t identity, const policy::CompiledPolicy& policy) {
  const auto result = static_rules_.sync(identity, policy.static_entries);
  allowed_ips_.applyPolicy(
      identity, [&policy](const std::string& name) -> std::optional<resolver::NameVerdict> {
        const auto rule = policy.names.match(name);
        if (!rule) return std::nullopt;
        return resolver::NameVerdict{*rule, policy.portsOf(*rule)};
      });
  return result.failed == 0;
}

void PodFirewall::removeEntries(std::uint32_t identity) {
  static_rules_.sync(identity, {});
  allowed_ips_.applyPolicy(identity, [](const std::string&) { return std::nullopt; });
}

bool PodFirewall::writeIdentity(const PodState& state) {
  skouter_identity_value value{};
  value.identity = state.identity;
  value.flags = state.policy->audit_egresses.empty() ? 0 : SKOUTER_IDENTITY_AUDIT;
  bool written = true;
  for (const IpAddress& address : state.pod.addresses) {
    if (identities_.update(keyOf(address), value) != 0) {
      spdlog::error("cannot give {} identity {} in the identities map (full?)", address.toString(),
                    state.identity);
      written = false;
    }
  }
  return written;
}

void PodFirewall::eraseIdentity(const PodState& state) {
  for (const IpAddress& address : state.pod.addresses) {
    // The address may already be a newer pod's.
    const auto current = identities_.lookup(keyOf(address));
    if (current && current->identity == state.identity) identities_.erase(keyOf(address));
  }
}

void PodFirewall::attach(PodState& state, const std::optional<RouteInterface>& previous) {
  std::optional<RouteInterface> route;
  try {
    route = routeInterfaceOf(state.pod.addresses.front());
  } catch (const std::exception& error) {
    state.problem = std::string("route lookup failed: ") + error.what();
    return;
  }
  if (!route) {
    state.problem = "no route to " + state.pod.addresses.front().toString() + " yet";
  } else if (uplinks_.count(route->ifindex) || route->name == "lo") {
    state.problem = "the route to " + state.pod.addresses.front().toString() + " leads to " +
                    route->name + ", not to a pod interface";
    route.reset();
  }
  if (route && (!previous || previous->ifindex != route->ifindex)) {
    try {
      datapath_.attachPod(route->ifindex);
      spdlog::info("pod {} (identity {}): attached to {}", state.pod.qualifiedName(),
                   state.identity, route->name);
    } catch (const std::exception& error) {
      state.problem = error.what();
      route.reset();
    }
  }
  state.interface = route;
  if (previous && (!route || previous->ifindex != route->ifindex)) detachUnlessShared(*previous);
}

void PodFirewall::detachUnlessShared(const RouteInterface& interface) {
  for (const auto& [identity, state] : pods_) {
    if (state.interface && state.interface->ifindex == interface.ifindex) return;
  }
  try {
    Datapath::detachPod(interface.ifindex);
    spdlog::info("detached from {}", interface.name);
  } catch (const std::exception& error) {
    spdlog::warn("cannot detach from {}: {}", interface.name, error.what());
  }
}

PodFirewall::SyncResult PodFirewall::sync(const std::vector<PolicedPod>& policed,
                                          const std::vector<PodObject>& unpoliced) {
  SyncResult result;
  std::set<std::string> wanted_uids;
  for (const auto& entry : policed) wanted_uids.insert(entry.pod.uid);

  // Pods that went away or are no longer selected: nothing judges their traffic once
  // the programs are gone, so detach first, then forget.
  for (auto it = pods_.begin(); it != pods_.end();) {
    if (wanted_uids.count(it->second.pod.uid)) {
      ++it;
      continue;
    }
    PodState gone = std::move(it->second);
    it = pods_.erase(it);
    if (gone.interface) detachUnlessShared(*gone.interface);
    eraseIdentity(gone);
    removeEntries(gone.identity);
    spdlog::info("pod {} (identity {}) is no longer policed", gone.pod.qualifiedName(),
                 gone.identity);
  }

  // Unpoliced addresses before any new attachment, so a pod sharing the interface is
  // never cut off.
  std::set<IpAddress> unpoliced_now;
  for (const PodObject& pod : unpoliced) {
    unpoliced_now.insert(pod.addresses.begin(), pod.addresses.end());
  }
  const skouter_identity_value unpoliced_value{SKOUTER_UNPOLICED_IDENTITY, 0};
  for (const IpAddress& address : unpoliced_now) {
    const auto current = identities_.lookup(keyOf(address));
    if (current && current->identity != SKOUTER_UNPOLICED_IDENTITY) continue;  // policed below
    if (identities_.update(keyOf(address), unpoliced_value) != 0) {
      spdlog::error("cannot list {} as unpoliced in the identities map (full?)",
                    address.toString());
    }
  }
  for (const IpAddress& address : unpoliced_) {
    if (unpoliced_now.count(address)) continue;
    const auto current = identities_.lookup(keyOf(address));
    if (current && current->identity == SKOUTER_UNPOLICED_IDENTITY)
      identities_.erase(keyOf(address));
  }
  unpoliced_ = std::move(unpoliced_now);

  std::set<std::uint32_t> taken;
  for (const auto& entry : policed) {
    // Nothing to key it by before the CNI has given it an address.
    if (entry.pod.addresses.empty()) continue;
    const std::uint32_t identity = identityFor(entry.pod, taken);
    taken.insert(identity);
    const auto existing = pods_.find(identity);
    const bool is_new = existing == pods_.end();
    std::optional<RouteInterface> previous_interface;
    std::vector<IpAddress> previous_addresses;
    if (!is_new) {
      previous_interface = existing->second.interface;
      previous_addresses = existing->second.pod.addresses;
    }
    PodState& state = pods_[identity];
    const bool policy_changed = is_new || state.policy != entry.policy;
    state.pod = entry.pod;
    state.identity = identity;
    state.policy = entry.policy;
    state.problem.clear();

    // Entries before the identity and the programs: the pod's first packet already
    // finds everything its policy allows.
    if (policy_changed && !applyEntries(identity, *state.policy)) {
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
    if (!writeIdentity(state)) {
      // Its packets would be dropped as coming from an unknown source.
      state.problem = "the identities map is full: the pod's traffic is dropped";
      result.complete = false;
    }
    const std::string table_problem = state.problem;
    attach(state, previous_interface);
    if (!table_problem.empty() && state.problem.empty()) state.problem = table_problem;
    if (!state.interface) result.complete = false;
    if (is_new) {
      result.newly_policed.push_back(identity);
      spdlog::info("pod {} ({}) is policed as identity {}", state.pod.qualifiedName(),
                   state.pod.addresses.front().toString(), identity);
    }
  }

  if (first_sync_) {
    first_sync_ = false;
    // What a previous daemon installed for pods that are gone now.
    std::set<std::uint32_t> stale;
    for (const auto& [address, identity] : recovered_) {
      if (pods_.count(identity)) continue;
      if (identity >= kFirstPodIdentity) stale.insert(identity);
      const auto current = identities_.lookup(keyOf(address));
      if (!current || current->identity != identity) continue;
      // An address the IPAM gave to an unpoliced pod meanwhile is that pod's now.
      if (unpoliced_.count(address)) {
        identities_.update(keyOf(address), {SKOUTER_UNPOLICED_IDENTITY, 0});
      } else {
        identities_.erase(keyOf(address));
      }
    }
    for (const auto& entry : static_rules_.entries()) {
      if (entry.identity >= kFirstPodIdentity && !pods_.count(entry.identity)) {
        stale.insert(entry.identity);
      }
    }
    for (const auto& entry : allowed_ips_.entries()) {
      if (entry.identity >= kFirstPodIdentity && !pods_.count(entry.identity)) {
        stale.insert(entry.identity);
      }
    }
    for (const std::uint32_t identity : stale) removeEntries(identity);
    // Interfaces it attached to for pods that are not policed any more: left attached,
    // their traffic would be judged by no identity.
    std::set<int> in_use;
    for (const auto& [identity, state] : pods_) {
      if (state.interface) in_use.insert(state.interface->ifindex);
    }
    try {
      for (const int ifindex : Datapath::podAttachments(uplinks_)) {
        if (in_use.count(ifindex)) continue;
        Datapath::detachPod(ifindex);
        spdlog::info("detached from interface {}: no policed pod uses it", ifindex);
      }
    } catch (const std::exception& error) {
      spdlog::warn("cannot look for interfaces no policed pod uses: {}", error.what());
    }
    if (!stale.empty()) {
      spdlog::info("forgot {} identities of pods that went away while no daemon ran", stale.size());
    }
    recovered_.clear();
  }
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
