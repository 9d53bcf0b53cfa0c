#include "daemon/workload_entries.h"

namespace skouter::daemon {

WorkloadEntries::Applied WorkloadEntries::apply(std::uint32_t identity,
                                                const policy::CompiledPolicy* policy) {
  Applied applied;
  applied.static_entries = static_rules_.sync(
      identity, policy ? policy->static_entries : std::vector<policy::StaticEntry>{});
  applied.learned_removed = allowed_ips_.applyPolicy(
      identity, [policy](const std::string& name) -> std::optional<maps::NameVerdict> {
        const auto rule = policy ? policy->names.match(name) : std::nullopt;
        if (!rule) return std::nullopt;
        return maps::NameVerdict{*rule, policy->portsOf(*rule)};
      });
  applied.learnable_names = learnable_names_.sync(identity, policy);
  applied.server_name_rules = server_name_rules_.sync(identity, policy);
  return applied;
}

std::set<std::uint32_t> WorkloadEntries::identities() const {
  std::set<std::uint32_t> identities;
  for (const auto& entry : static_rules_.entries()) identities.insert(entry.identity);
  for (const auto& entry : allowed_ips_.entries()) identities.insert(entry.identity);
  return identities;
}

void WorkloadEntries::forgetUnusedPortSets() {
  server_name_rules_.forgetUnused();
  auto in_use = allowed_ips_.portSetsInUse();
  in_use.merge(static_rules_.portSetsInUse());
  in_use.merge(learnable_names_.portSetsInUse());
  in_use.merge(server_name_rules_.portSetsInUse());
  port_sets_.retainOnly(in_use);
}

}  // namespace skouter::daemon
