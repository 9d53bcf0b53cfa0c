#include "bpf/maps/static_rule_table.h"

#include <map>

#include "bpf/maps/bpf_address.h"

namespace skouter::maps {
namespace {

skouter_cidr_key keyOf(std::uint32_t identity, const IpPrefix& prefix) {
  skouter_cidr_key key{};
  key.prefixlen = SKOUTER_CIDR_FIXED_BITS + prefix.length;
  key.identity = identity;
  putBpfAddr(key, prefix.address);
  return key;
}

IpPrefix prefixOf(const skouter_cidr_key& key) {
  return IpPrefix::of(fromBpfAddr(key.family, key.addr), key.prefixlen - SKOUTER_CIDR_FIXED_BITS);
}

}  // namespace

SyncResult StaticRuleTable::sync(std::uint32_t identity,
                                 const std::vector<policy::StaticEntry>& wanted) {
  SyncResult result;
  std::map<IpPrefix, skouter_cidr_value> present;
  map_.forEach([&](const skouter_cidr_key& key, const skouter_cidr_value& value) {
    if (key.identity == identity) present[prefixOf(key)] = value;
  });
  // Add first, then remove: at no moment is a destination of both policies denied.
  for (const auto& entry : wanted) {
    const auto port_set = port_sets_.intern(entry.ports);
    if (!port_set) {
      // The map of port sets is full: the entry stays as it was rather than going.
      ++result.failed;
      present.erase(entry.prefix);
      continue;
    }
    skouter_cidr_value value{};
    value.rule_id = entry.rule;
    value.port_set = *port_set;
    const auto found = present.find(entry.prefix);
    if (found != present.end() && found->second.rule_id == value.rule_id &&
        found->second.port_set == value.port_set) {
      present.erase(found);
      continue;
    }
    if (map_.update(keyOf(identity, entry.prefix), value) != 0) {
      ++result.failed;
      continue;
    }
    if (found != present.end()) present.erase(found);
    ++result.added;
  }
  for (const auto& [prefix, value] : present) {
    if (map_.erase(keyOf(identity, prefix))) ++result.removed;
  }
  return result;
}

std::vector<StaticRuleEntry> StaticRuleTable::entries() const {
  std::vector<StaticRuleEntry> result;
  map_.forEach([&](const skouter_cidr_key& key, const skouter_cidr_value& value) {
    result.push_back(
        {key.identity, {prefixOf(key), value.rule_id, port_sets_.lookup(value.port_set)}});
  });
  return result;
}

std::set<std::uint32_t> StaticRuleTable::portSetsInUse() const {
  std::set<std::uint32_t> in_use;
  map_.forEach([&](const skouter_cidr_key&, const skouter_cidr_value& value) {
    in_use.insert(value.port_set);
  });
  return in_use;
}

}  // namespace skouter::maps
