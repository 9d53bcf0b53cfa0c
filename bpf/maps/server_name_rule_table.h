// The rules whose learned addresses have their TLS and QUIC server names checked, and
// on which ports, in server_name_rules. Sole writer of server_name_rules. A rule is
// shared by every workload its Egress selects: it stays in the map while any
// workload's policy checks it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>

#include "bpf/datapath.h"
#include "bpf/maps/port_set_table.h"
#include "bpf/maps/static_rule_table.h"
#include "policy/compiled_policy.h"

namespace skouter::maps {

class ServerNameRuleTable {
 public:
  // Rules a previous daemon pinned stay in force until forgetUnused() finds no
  // workload that checks them.
  ServerNameRuleTable(ServerNameRuleMap map, PortSetTable& port_sets);

  // Makes the checked rules of `identity` those of `policy`; null checks none.
  SyncResult sync(std::uint32_t identity, const policy::CompiledPolicy* policy);
  // Removes the rules no workload checks any more (and those a previous daemon left).
  std::size_t forgetUnused();
  // How `rule` is checked; nullopt when it is not.
  std::optional<policy::ServerNameCheck> checkOf(policy::RuleId rule) const;
  std::set<std::uint32_t> portSetsInUse() const;
  std::size_t size() const { return rules_.size(); }

 private:
  struct Rule {
    policy::ServerNameCheck check;
    std::uint32_t port_set = 0;
    std::size_t users = 0;  // identities whose policy checks it
  };
  bool install(policy::RuleId id, const policy::ServerNameCheck& check);

  ServerNameRuleMap map_;
  PortSetTable& port_sets_;
  std::map<policy::RuleId, Rule> rules_;
  std::map<std::uint32_t, std::map<policy::RuleId, policy::ServerNameCheck>> by_identity_;
};

}  // namespace skouter::maps
