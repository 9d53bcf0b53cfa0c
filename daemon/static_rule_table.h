// Static IPs and CIDRs of the policy in the allowed_cidrs LPM trie. Sole writer of
// that map. A new policy is applied by difference, never by flushing, so a reload
// never opens a window in which an allowed destination is denied.
#pragma once

#include <cstdint>
#include <vector>

#include "bpf/datapath.h"
#include "policy/compiled_policy.h"

namespace skouter::daemon {

struct StaticRuleEntry {
  std::uint32_t identity = 0;
  policy::StaticEntry entry;
};

struct SyncResult {
  std::size_t added = 0;
  std::size_t removed = 0;
  std::size_t failed = 0;
};

class StaticRuleTable {
 public:
  explicit StaticRuleTable(CidrMap map) : map_(map) {}

  // Makes the entries of `identity` exactly `wanted`.
  SyncResult sync(std::uint32_t identity, const std::vector<policy::StaticEntry>& wanted);
  std::vector<StaticRuleEntry> entries() const;

 private:
  CidrMap map_;
};

}  // namespace skouter::daemon
