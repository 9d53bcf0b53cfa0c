// Static IPs and CIDRs of the policy in the allowed_cidrs LPM trie. Sole writer of
// that map. A new policy is applied by difference, never by flushing, so a reload
// never opens a window in which an allowed destination is denied.
#pragma once

#include <cstdint>
#include <set>
#include <vector>

#include "bpf/counted_map.h"
#include "bpf/datapath.h"
#include "bpf/maps/port_set_table.h"
#include "policy/compiled_policy.h"

namespace skouter::maps {

struct StaticRuleEntry {
  std::uint32_t identity = 0;
  policy::StaticEntry entry;
};

struct SyncResult {
  std::size_t added = 0;
  std::size_t removed = 0;
  std::size_t failed = 0;  // the map (or the map of port sets) is full
};

class StaticRuleTable {
 public:
  StaticRuleTable(CidrMap map, PortSetTable& port_sets) : map_(map), port_sets_(port_sets) {}

  // Makes the entries of `identity` exactly `wanted`.
  SyncResult sync(std::uint32_t identity, const std::vector<policy::StaticEntry>& wanted);
  std::vector<StaticRuleEntry> entries() const;
  // Entries in allowed_cidrs, every identity's.
  std::size_t size() const { return map_.size(); }
  // The port_sets ids the entries refer to.
  std::set<std::uint32_t> portSetsInUse() const;

 private:
  CountedMap<skouter_cidr_key, skouter_cidr_value> map_;
  PortSetTable& port_sets_;
};

}  // namespace skouter::maps
