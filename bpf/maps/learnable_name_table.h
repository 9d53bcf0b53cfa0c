// The names the programs may learn by themselves while the daemon is away: each
// workload's exact names and `*.` suffixes, keyed by their hash (bpf/name_hash.h),
// with the rule and ports the daemon would install them with; the settings they learn
// by; and what each identity learned meanwhile. Sole writer of learnable_names,
// learning and learning_budget_used.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string_view>
#include <tuple>

#include "bpf/counted_map.h"
#include "bpf/datapath.h"
#include "bpf/maps/port_set_table.h"
#include "bpf/maps/static_rule_table.h"
#include "policy/compiled_policy.h"
#include "resolver/answer_handler.h"

namespace skouter::maps {

// The hash of `name` (dotted, any case, a trailing dot ignored) as the programs compute
// it for a name in an answer: see bpf/name_hash.h.
std::uint64_t learnableNameHash(std::uint64_t seed, std::string_view name);

struct LearningSettings {
  resolver::TtlSettings ttl;
  // --learning-budget: addresses one workload may learn while the daemon is away; 0
  // turns learning off (answers then pass uninstalled, as before).
  std::uint32_t budget = 0;
};

class LearnableNameTable {
 public:
  // Reads back the entries and the seed a previous daemon pinned.
  LearnableNameTable(LearnableNameMap names, LearningMap settings, LearningBudgetMap used,
                     PortSetTable& port_sets);

  // Writes `settings`, with the pinned seed, or a new one from getrandom(2) when there
  // is none; clears what identities learned. False when a map write failed.
  bool configure(const LearningSettings& settings);
  // Makes the learnable names of `identity` the exact names and wildcard suffixes of
  // `policy` (none for null, or when it allows every name: then nothing is worth
  // learning by name), and, when its queries are policed, its queryable suffixes
  // (rule 0). Names beyond the map's room are counted in `failed`.
  SyncResult sync(std::uint32_t identity, const policy::CompiledPolicy* policy);
  // The daemon is back: what the identities learned is its own again, and counts
  // against its own limits (--max-ips-per-workload), not this budget.
  void resetBudgets();

  std::set<std::uint32_t> portSetsInUse() const;
  std::size_t size() const { return map_.size(); }
  std::uint64_t seed() const { return seed_; }

 private:
  using Key = std::tuple<std::uint32_t, std::uint64_t>;  // kind, hash
  using Entries = std::map<Key, skouter_learnable_name_value>;

  CountedMap<skouter_learnable_name_key, skouter_learnable_name_value> map_;
  LearningMap settings_;
  LearningBudgetMap used_;
  PortSetTable& port_sets_;
  std::uint64_t seed_ = 0;
  std::map<std::uint32_t, Entries> by_identity_;
};

}  // namespace skouter::maps
