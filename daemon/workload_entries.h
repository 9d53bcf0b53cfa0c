// The one path by which a workload's policy reaches the datapath, for the node and for
// every pod alike: its static IPs and CIDRs, the learned addresses its names still
// allow, the names the datapath may learn from while the daemon is away, and the
// rules whose server names are checked. New static entries go
// in before old ones go out and learned names the policy no longer allows go last, so open
// connections keep their flows throughout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>

#include "bpf/maps/allowed_ip_table.h"
#include "bpf/maps/learnable_name_table.h"
#include "bpf/maps/port_set_table.h"
#include "bpf/maps/server_name_rule_table.h"
#include "bpf/maps/static_rule_table.h"
#include "policy/compiled_policy.h"

namespace skouter::daemon {

class WorkloadEntries {
 public:
  WorkloadEntries(maps::StaticRuleTable& static_rules, maps::AllowedIpTable& allowed_ips,
                  maps::LearnableNameTable& learnable_names,
                  maps::ServerNameRuleTable& server_name_rules, maps::PortSetTable& port_sets)
      : static_rules_(static_rules),
        allowed_ips_(allowed_ips),
        learnable_names_(learnable_names),
        server_name_rules_(server_name_rules),
        port_sets_(port_sets) {}

  struct Applied {
    maps::SyncResult static_entries;
    std::size_t learned_removed = 0;  // learned addresses the policy no longer allows
    // Names the datapath may learn from while the daemon is away; those that did not
    // fit are not learned then (their answers pass uninstalled), nothing more.
    maps::SyncResult learnable_names;
    // Rules whose server names are checked; one that did not fit is not checked.
    maps::SyncResult server_name_rules;
    bool complete() const { return static_entries.failed == 0; }
  };
  // Makes the entries of `identity` those `policy` allows; null (a workload no longer
  // policed) allows none.
  Applied apply(std::uint32_t identity, const policy::CompiledPolicy* policy);
  // The identities holding any entry.
  std::set<std::uint32_t> identities() const;
  // Frees the checked rules no policy has and the port sets no entry refers to any more.
  void forgetUnusedPortSets();

 private:
  maps::StaticRuleTable& static_rules_;
  maps::AllowedIpTable& allowed_ips_;
  maps::LearnableNameTable& learnable_names_;
  maps::ServerNameRuleTable& server_name_rules_;
  maps::PortSetTable& port_sets_;
};

}  // namespace skouter::daemon
