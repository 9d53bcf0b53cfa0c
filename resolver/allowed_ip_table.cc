#include "resolver/allowed_ip_table.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

namespace skouter::resolver {
namespace {

std::uint32_t fnv1a(const std::string& text) {
  std::uint32_t hash = 2166136261u;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 16777619u;
  }
  return hash;
}

skouter_allowed_ip_key keyOf(std::uint32_t identity, const IpAddress& ip) {
  skouter_allowed_ip_key key{};
  key.identity = identity;
  key.ip = toBpfAddr(ip);
  return key;
}

skouter_learned_name_key nameKeyOf(const skouter_allowed_ip_key& ip, const std::string& name) {
  skouter_learned_name_key key{};
  key.ip = ip;
  key.name_hash = fnv1a(name);
  return key;
}

}  // namespace

skouter_addr toBpfAddr(const IpAddress& ip) {
  skouter_addr addr{};
  addr.family = ip.family == IpFamily::kV4 ? SKOUTER_FAMILY_IPV4 : SKOUTER_FAMILY_IPV6;
  std::memcpy(addr.addr, ip.bytes.data(), ip.size());
  return addr;
}

IpAddress fromBpfAddr(const skouter_addr& addr) {
  return addr.family == SKOUTER_FAMILY_IPV4 ? IpAddress::fromV4(addr.addr)
                                            : IpAddress::fromV6(addr.addr);
}

AllowedIpTable::AllowedIpTable(AllowedIpMap addresses, LearnedNameMap names,
                               PortSetTable& port_sets, std::size_t max_ips_per_name)
    : addresses_(addresses),
      names_(names),
      port_sets_(port_sets),
      max_ips_per_name_(max_ips_per_name) {
  // Recency is not stored; the later expiry stands in for the more recent answer.
  std::vector<std::tuple<std::uint64_t, IpKey, std::string>> learned;
  names_.forEach([&](const skouter_learned_name_key& key, const skouter_learned_name_value& value) {
    const auto entry = addresses_.lookup(key.ip);
    if (!entry) return;
    learned.emplace_back(entry->expiry_ns, IpKey{key.ip.identity, fromBpfAddr(key.ip.ip)},
                         std::string(value.name, strnlen(value.name, sizeof(value.name))));
  });
  std::sort(learned.begin(), learned.end());
  for (const auto& [expiry, ip, name] : learned) {
    ips_of_name_[{ip.first, name}].push_back(ip.second);
    names_of_ip_[ip].insert(name);
  }
}

void AllowedIpTable::forget(const IpKey& ip, const std::string& name) {
  const auto key = keyOf(ip.first, ip.second);
  names_.erase(nameKeyOf(key, name));
  auto names = names_of_ip_.find(ip);
  if (names != names_of_ip_.end()) {
    names->second.erase(name);
    if (!names->second.empty()) return;
    names_of_ip_.erase(names);
  }
  addresses_.erase(key);
}

policy::PortSet AllowedIpTable::portsOf(const IpKey& ip, const std::string* also_name) const {
  std::optional<policy::PortSet> united;
  const auto add = [&](const std::string& name) {
    const auto verdict = verdict_of_name_.find({ip.first, name});
    const policy::PortSet every_port;
    const policy::PortSet& opened =
        verdict == verdict_of_name_.end() ? every_port : verdict->second.ports;
    united = united ? policy::unitePorts(*united, opened) : opened;
  };
  if (also_name) add(*also_name);
  if (const auto names = names_of_ip_.find(ip); names != names_of_ip_.end()) {
    for (const std::string& name : names->second) add(name);
  }
  return united.value_or(policy::PortSet{});
}

policy::RuleId AllowedIpTable::ruleOf(const IpKey& ip, policy::RuleId current) const {
  const auto names = names_of_ip_.find(ip);
  if (names == names_of_ip_.end()) return current;
  std::optional<policy::RuleId> first;
  for (const std::string& name : names->second) {
    const auto verdict = verdict_of_name_.find({ip.first, name});
    if (verdict == verdict_of_name_.end()) continue;
    if (verdict->second.rule == current) return current;
    if (!first) first = verdict->second.rule;
  }
  return first.value_or(current);
}

void AllowedIpTable::refresh(const IpKey& ip) {
  const auto key = keyOf(ip.first, ip.second);
  const auto value = addresses_.lookup(key);
  if (!value || !names_of_ip_.contains(ip)) return;
  auto updated = *value;
  // Should the map of port sets be full, the address keeps its old ports rather than
  // losing every port; the next change tries again.
  if (const auto port_set = port_sets_.intern(portsOf(ip))) updated.port_set = *port_set;
  updated.rule_id = ruleOf(ip, value->rule_id);
  if (updated.port_set != value->port_set || updated.rule_id != value->rule_id) {
    addresses_.update(key, updated);
  }
}

InstallResult AllowedIpTable::install(std::uint32_t identity,
                                      const std::vector<LearnedAddress>& addresses,
                                      const std::string& name, policy::RuleId rule,
                                      const policy::PortSet& ports) {
  InstallResult result;
  verdict_of_name_[{identity, name}] = NameVerdict{rule, ports};
  for (const auto& learned : addresses) {
    const auto key = keyOf(identity, learned.ip);
    const auto port_set = port_sets_.intern(portsOf({identity, learned.ip}, &name));
    if (!port_set) {
      ++result.failed;
      continue;
    }
    skouter_allowed_ip_value value{};
    value.expiry_ns = learned.expiry_ns;
    value.rule_id = rule;
    value.port_set = *port_set;
    if (const auto existing = addresses_.lookup(key)) {
      if (existing->expiry_ns == 0 || existing->expiry_ns >= learned.expiry_ns) {
        value.expiry_ns = existing->expiry_ns;
      }
    }
    if (addresses_.update(key, value) != 0) {
      ++result.failed;
      continue;
    }
    ++result.installed;

    skouter_learned_name_value name_value{};
    std::strncpy(name_value.name, name.c_str(), sizeof(name_value.name) - 1);
    // A missing name only makes `entries` less informative; the address is in.
    names_.update(nameKeyOf(key, name), name_value);

    auto& ips = ips_of_name_[{identity, name}];
    ips.remove(learned.ip);
    ips.push_back(learned.ip);
    names_of_ip_[{identity, learned.ip}].insert(name);
  }

  if (max_ips_per_name_ > 0) {
    auto& ips = ips_of_name_[{identity, name}];
    while (ips.size() > max_ips_per_name_) {
      const IpAddress oldest = ips.front();
      ips.pop_front();
      forget({identity, oldest}, name);
      ++result.evicted;
      // Another name may still hold the address: it keeps that name's ports, not these.
      refresh({identity, oldest});
    }
  }
  return result;
}

std::size_t AllowedIpTable::applyPolicy(std::uint32_t identity, const NamePolicy& policy) {
  const std::size_t before = names_of_ip_.size();
  std::set<IpAddress> changed;
  for (auto entry = ips_of_name_.begin(); entry != ips_of_name_.end();) {
    const auto& [key, ips] = *entry;
    if (key.first != identity) {
      ++entry;
      continue;
    }
    const auto verdict = policy(key.second);
    if (verdict) {
      // A name read back from the pins has no ports recorded yet: its addresses hold
      // whatever the previous daemon wrote, so they are rewritten too.
      const auto known = verdict_of_name_.find(key);
      if (known == verdict_of_name_.end() || known->second != *verdict) {
        changed.insert(ips.begin(), ips.end());
      }
      verdict_of_name_[key] = *verdict;
      ++entry;
      continue;
    }
    for (const auto& ip : ips) {
      forget({identity, ip}, key.second);
      changed.insert(ip);
    }
    verdict_of_name_.erase(key);
    entry = ips_of_name_.erase(entry);
  }
  for (const IpAddress& ip : changed) refresh({identity, ip});
  return before - names_of_ip_.size();
}

std::set<std::uint32_t> AllowedIpTable::portSetsInUse() const {
  std::set<std::uint32_t> in_use;
  addresses_.forEach([&](const skouter_allowed_ip_key&, const skouter_allowed_ip_value& value) {
    in_use.insert(value.port_set);
  });
  return in_use;
}

std::size_t AllowedIpTable::removeExpired(std::uint64_t now_ns) {
  std::size_t removed = 0;
  addresses_.forEach([&](const skouter_allowed_ip_key& key, const skouter_allowed_ip_value& value) {
    if (value.expiry_ns == 0 || value.expiry_ns > now_ns || !addresses_.erase(key)) return;
    ++removed;
    const IpKey ip{key.identity, fromBpfAddr(key.ip)};
    const auto names = names_of_ip_.find(ip);
    if (names == names_of_ip_.end()) return;
    for (const auto& name : names->second) {
      names_.erase(nameKeyOf(key, name));
      auto ips = ips_of_name_.find({key.identity, name});
      if (ips == ips_of_name_.end()) continue;
      ips->second.remove(ip.second);
      if (ips->second.empty()) {
        ips_of_name_.erase(ips);
        verdict_of_name_.erase({key.identity, name});
      }
    }
    names_of_ip_.erase(names);
  });
  return removed;
}

std::vector<AllowedIpEntry> AllowedIpTable::entries() const {
  std::map<std::vector<std::uint8_t>, std::vector<std::string>> names_by_key;
  const auto bytesOf = [](const skouter_allowed_ip_key& key) {
    const auto* begin = reinterpret_cast<const std::uint8_t*>(&key);
    return std::vector<std::uint8_t>(begin, begin + sizeof(key));
  };
  names_.forEach([&](const skouter_learned_name_key& key, const skouter_learned_name_value& value) {
    names_by_key[bytesOf(key.ip)].emplace_back(value.name, strnlen(value.name, sizeof(value.name)));
  });

  std::vector<AllowedIpEntry> result;
  addresses_.forEach([&](const skouter_allowed_ip_key& key, const skouter_allowed_ip_value& value) {
    AllowedIpEntry entry;
    entry.identity = key.identity;
    entry.ip = fromBpfAddr(key.ip);
    entry.expiry_ns = value.expiry_ns;
    entry.rule = value.rule_id;
    entry.ports = port_sets_.lookup(value.port_set);
    if (auto found = names_by_key.find(bytesOf(key)); found != names_by_key.end()) {
      entry.names = found->second;
      std::sort(entry.names.begin(), entry.names.end());
    }
    result.push_back(std::move(entry));
  });
  return result;
}

std::optional<AllowedIpEntry> AllowedIpTable::entryOf(std::uint32_t identity,
                                                      const IpAddress& ip) const {
  const auto value = addresses_.lookup(keyOf(identity, ip));
  if (!value) return std::nullopt;
  AllowedIpEntry entry{
      identity, ip, value->expiry_ns, value->rule_id, port_sets_.lookup(value->port_set), {}};
  // The names as the table knows them: the same ones learned_names holds.
  if (const auto names = names_of_ip_.find({identity, ip}); names != names_of_ip_.end()) {
    entry.names.assign(names->second.begin(), names->second.end());
  }
  return entry;
}

std::size_t AllowedIpTable::nameCount() const {
  std::size_t count = 0;
  for (const auto& [name, addresses] : ips_of_name_) count += addresses.size();
  return count;
}

std::size_t AllowedIpTable::size() const {
  std::size_t count = 0;
  addresses_.forEach([&](const auto&, const auto&) { ++count; });
  return count;
}

}  // namespace skouter::resolver
