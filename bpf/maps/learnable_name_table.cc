#include "bpf/maps/learnable_name_table.h"

#include <sys/random.h>

#include <stdexcept>
#include <vector>

#include "bpf/name_hash.h"

namespace skouter::maps {
namespace {

constexpr std::uint32_t kNoCap = 0xffffffff;

std::uint64_t randomSeed() {
  std::uint64_t seed = 0;
  while (seed == 0) {  // 0 means "learning off" to the programs
    if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed)) {
      throw std::runtime_error("getrandom failed: no seed for the learnable names' hash");
    }
  }
  return seed;
}

}  // namespace

std::uint64_t learnableNameHash(std::uint64_t seed, std::string_view name) {
  if (name.ends_with('.')) name.remove_suffix(1);
  // From the root up: the hash of each suffix is its first label's in front of its
  // parent's.
  std::uint64_t hash = skouter_suffix_root(seed);
  while (!name.empty()) {
    const std::size_t dot = name.rfind('.');
    const std::string_view label = dot == std::string_view::npos ? name : name.substr(dot + 1);
    std::uint64_t label_hash = skouter_label_start(seed);
    for (const char byte : label) {
      label_hash = skouter_label_byte(label_hash, static_cast<std::uint8_t>(byte));
    }
    hash = skouter_suffix_push(
        hash, skouter_label_end(label_hash, static_cast<std::uint32_t>(label.size())));
    name = dot == std::string_view::npos ? std::string_view{} : name.substr(0, dot);
  }
  return hash;
}

LearnableNameTable::LearnableNameTable(LearnableNameMap names, LearningMap settings,
                                       LearningBudgetMap used, PortSetTable& port_sets)
    : map_(names), settings_(settings), used_(used), port_sets_(port_sets) {
  map_.forEach(
      [this](const skouter_learnable_name_key& key, const skouter_learnable_name_value& value) {
        by_identity_[key.identity].emplace(Key{key.kind, key.hash}, value);
      });
  if (const auto pinned = settings_.lookup(0)) seed_ = pinned->seed;
}

bool LearnableNameTable::configure(const LearningSettings& settings) {
  // A new seed would orphan every pinned entry: the programs would learn nothing until
  // sync() rewrote them all. Only a first daemon draws one.
  if (seed_ == 0) seed_ = randomSeed();
  skouter_learning_settings value{};
  value.seed = seed_;
  value.min_ttl_s = settings.ttl.min_ttl_s;
  value.max_ttl_s = settings.ttl.max_ttl_s.value_or(kNoCap);
  value.grace_s = settings.ttl.grace_s;
  value.budget = settings.budget;
  resetBudgets();
  return settings_.update(0, value) == 0;
}

SyncResult LearnableNameTable::sync(std::uint32_t identity, const policy::CompiledPolicy* policy) {
  Entries wanted;
  SyncResult result;
  if (policy && !policy->names.allowsAnyName()) {
    const auto add = [&](std::uint32_t kind, const std::string& name, policy::RuleId rule) {
      const auto port_set = port_sets_.intern(policy->portsOf(rule));
      if (!port_set) {
        ++result.failed;  // no room for its ports: not learned rather than opened wider
        return;
      }
      wanted.emplace(Key{kind, learnableNameHash(seed_, name)},
                     skouter_learnable_name_value{.rule_id = rule, .port_set = *port_set});
    };
    for (const auto& [name, rule] : policy->names.exactRules()) {
      add(SKOUTER_LEARNABLE_EXACT, name, rule);
    }
    for (const auto& [suffix, rule] : policy->names.wildcardRules()) {
      // The programs cannot leave out the withheld names below it: the daemon judges
      // the names under such a wildcard.
      if (policy->names.withholdsBelow(suffix)) continue;
      add(SKOUTER_LEARNABLE_BELOW, suffix, rule);
    }
    // Names that may only be queried: rule 0, learned from by nobody. A rule's own
    // entry for the same name stays (it makes the name queryable too).
    for (const std::string& suffix :
         policy->queryable_suffixes.value_or(std::vector<std::string>{})) {
      for (const auto kind : {SKOUTER_LEARNABLE_EXACT, SKOUTER_LEARNABLE_BELOW}) {
        wanted.emplace(Key{kind, learnableNameHash(seed_, suffix)},
                       skouter_learnable_name_value{.rule_id = 0, .port_set = 0});
      }
    }
  }

  Entries& current = by_identity_[identity];
  const auto keyOf = [identity](const Key& key) {
    return skouter_learnable_name_key{
        .identity = identity, .kind = std::get<0>(key), .hash = std::get<1>(key)};
  };
  for (const auto& [key, value] : wanted) {
    const auto found = current.find(key);
    if (found != current.end() && found->second.rule_id == value.rule_id &&
        found->second.port_set == value.port_set) {
      continue;
    }
    if (map_.update(keyOf(key), value) != 0) {
      ++result.failed;
      continue;
    }
    current[key] = value;
    ++result.added;
  }
  for (auto it = current.begin(); it != current.end();) {
    if (wanted.contains(it->first)) {
      ++it;
      continue;
    }
    map_.erase(keyOf(it->first));
    it = current.erase(it);
    ++result.removed;
  }
  if (current.empty()) by_identity_.erase(identity);
  return result;
}

void LearnableNameTable::resetBudgets() {
  std::vector<std::uint32_t> identities;
  used_.forEach(
      [&](const std::uint32_t& identity, const std::uint32_t&) { identities.push_back(identity); });
  for (const std::uint32_t identity : identities) used_.erase(identity);
}

std::set<std::uint32_t> LearnableNameTable::portSetsInUse() const {
  std::set<std::uint32_t> in_use;
  for (const auto& [identity, entries] : by_identity_) {
    for (const auto& [key, value] : entries) in_use.insert(value.port_set);
  }
  return in_use;
}

}  // namespace skouter::maps
