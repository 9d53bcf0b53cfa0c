#include "bpf/maps/server_name_rule_table.h"

#include <vector>

namespace skouter::maps {

ServerNameRuleTable::ServerNameRuleTable(ServerNameRuleMap map, PortSetTable& port_sets)
    : map_(map), port_sets_(port_sets) {
  map_.forEach([this](const std::uint32_t& rule, const skouter_server_name_rule& value) {
    rules_[rule] = Rule{.check = {.ports = port_sets_.lookup(value.port_set)},
                        .port_set = value.port_set,
                        .users = 0};
  });
}

bool ServerNameRuleTable::install(policy::RuleId id, const policy::ServerNameCheck& check) {
  const auto port_set = port_sets_.intern(check.ports);
  // Port set 0 means every port to the programs, which never check a rule by it: an
  // empty set of ports (none written by the policy loader) checks nothing.
  if (!port_set || *port_set == 0) return false;
  const skouter_server_name_rule value{.port_set = *port_set};
  if (map_.update(id, value) != 0) return false;
  auto& rule = rules_[id];
  rule.check = check;
  rule.port_set = *port_set;
  return true;
}

SyncResult ServerNameRuleTable::sync(std::uint32_t identity, const policy::CompiledPolicy* policy) {
  SyncResult result;
  std::map<policy::RuleId, policy::ServerNameCheck> wanted;
  if (policy) wanted = policy->server_name_checks;
  auto& held = by_identity_[identity];
  for (const auto& [id, check] : wanted) {
    const auto found = rules_.find(id);
    const bool same = found != rules_.end() && found->second.check == check;
    if (!same && !install(id, check)) {
      ++result.failed;
      continue;
    }
    if (!held.contains(id)) {
      ++rules_[id].users;
      ++result.added;
    }
    held[id] = check;
  }
  for (auto it = held.begin(); it != held.end();) {
    if (wanted.contains(it->first)) {
      ++it;
      continue;
    }
    if (auto rule = rules_.find(it->first); rule != rules_.end() && rule->second.users > 0) {
      --rule->second.users;
    }
    it = held.erase(it);
    ++result.removed;
  }
  if (held.empty()) by_identity_.erase(identity);
  return result;
}

std::size_t ServerNameRuleTable::forgetUnused() {
  std::size_t removed = 0;
  for (auto it = rules_.begin(); it != rules_.end();) {
    if (it->second.users > 0) {
      ++it;
      continue;
    }
    map_.erase(it->first);
    it = rules_.erase(it);
    ++removed;
  }
  return removed;
}

std::optional<policy::ServerNameCheck> ServerNameRuleTable::checkOf(policy::RuleId rule) const {
  const auto found = rules_.find(rule);
  if (found == rules_.end()) return std::nullopt;
  return found->second.check;
}

std::set<std::uint32_t> ServerNameRuleTable::portSetsInUse() const {
  std::set<std::uint32_t> in_use;
  for (const auto& [id, rule] : rules_) in_use.insert(rule.port_set);
  return in_use;
}

}  // namespace skouter::maps
