#include "resolver/allowed_ip_table.h"

#include "resolver/dns_question.h"

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
                               PortSetTable& port_sets, std::size_t max_ips_per_name,
                               std::size_t max_names_per_ip, std::size_t max_ips_per_workload)
    : addresses_(addresses),
      names_(names),
      port_sets_(port_sets),
      max_ips_per_name_(max_ips_per_name),
      max_names_per_ip_(max_names_per_ip),
      max_ips_per_workload_(max_ips_per_workload) {
  // Recency is not stored; the later expiry stands in for the more recent answer.
  std::vector<std::tuple<std::uint64_t, IpKey, std::string>> learned;
  // Names of addresses that are gone: nothing would ever remove them.
  std::vector<skouter_learned_name_key> orphans;
  std::vector<std::pair<skouter_learned_name_key, std::string>> stored_raw;
  names_.forEach([&](const skouter_learned_name_key& key, const skouter_learned_name_value& value) {
    const auto entry = addresses_.lookup(key.ip);
    if (!entry) {
      orphans.push_back(key);
      return;
    }
    const std::string_view stored(value.name, strnlen(value.name, sizeof(value.name)));
    std::string name = printableName(stored);
    if (name != stored) stored_raw.emplace_back(key, name);
    learned.emplace_back(entry->expiry_ns, IpKey{key.ip.identity, fromBpfAddr(key.ip.ip)},
                         std::move(name));
  });
  // Names an older daemon stored raw are kept under the name as it shows now.
  for (const auto& [key, name] : stored_raw) {
    names_.erase(key);
    skouter_learned_name_value printable{};
    std::strncpy(printable.name, name.c_str(), sizeof(printable.name) - 1);
    names_.update(nameKeyOf(key.ip, name), printable);
  }
  for (const auto& key : orphans) names_.erase(key);
  std::sort(learned.begin(), learned.end());
  learned.erase(std::unique(learned.begin(), learned.end()), learned.end());
  for (const auto& [expiry, ip, name] : learned) {
    const NameRef learned_name = learned_.try_emplace({ip.first, name}).first;
    learned_name->second.ips.push_back(ip.second);
    names_of_ip_[ip].push_back(learned_name);
    touch(ip);
    ++pairs_;
  }
  // A lower --max-names-per-ip than the last daemon's applies at once, to memory and
  // learned_names; the entries keep their ports until applyPolicy() rewrites them.
  for (const auto& [ip, names] : names_of_ip_) trimNames(ip);
  // So does a lower --max-ips-per-workload.
  std::vector<std::uint32_t> identities;
  for (const auto& [identity, ips] : ips_of_identity_) identities.push_back(identity);
  for (const std::uint32_t identity : identities) trimWorkload(identity);
}

void AllowedIpTable::link(const IpKey& ip, NameRef name) {
  auto& ips = name->second.ips;
  auto& names = names_of_ip_[ip];
  const auto known = std::find(names.begin(), names.end(), name);
  if (known == names.end()) {
    ++pairs_;
  } else {
    names.erase(known);
    ips.remove(ip.second);
  }
  names.push_back(name);
  ips.push_back(ip.second);
  touch(ip);
}

void AllowedIpTable::touch(const IpKey& ip) {
  auto& ips = ips_of_identity_[ip.first];
  if (const auto at = recency_.find(ip); at != recency_.end()) {
    ips.splice(ips.end(), ips, at->second);
  } else {
    recency_.emplace(ip, ips.insert(ips.end(), ip.second));
  }
}

void AllowedIpTable::untrack(const IpKey& ip) {
  const auto at = recency_.find(ip);
  if (at == recency_.end()) return;
  const auto ips = ips_of_identity_.find(ip.first);
  ips->second.erase(at->second);
  if (ips->second.empty()) ips_of_identity_.erase(ips);
  recency_.erase(at);
}

bool AllowedIpTable::forget(const IpKey& ip, NameRef name) {
  const auto key = keyOf(ip.first, ip.second);
  names_.erase(nameKeyOf(key, name->first.second));
  --pairs_;
  const auto names = names_of_ip_.find(ip);
  std::erase(names->second, name);
  name->second.ips.remove(ip.second);
  if (name->second.ips.empty()) learned_.erase(name);
  if (!names->second.empty()) return false;
  names_of_ip_.erase(names);
  untrack(ip);
  addresses_.erase(key);
  return true;
}

std::size_t AllowedIpTable::trimNames(const IpKey& ip) {
  std::size_t trimmed = 0;
  while (max_names_per_ip_ > 0 && names_of_ip_.at(ip).size() > max_names_per_ip_) {
    forget(ip, names_of_ip_.at(ip).front());
    ++trimmed;
  }
  return trimmed;
}

std::size_t AllowedIpTable::trimWorkload(std::uint32_t identity) {
  std::size_t trimmed = 0;
  while (max_ips_per_workload_ > 0 && addressesOf(identity) > max_ips_per_workload_) {
    const IpKey oldest{identity, ips_of_identity_.at(identity).front()};
    // The last forget() takes the entry (and a name left with no address).
    const std::vector<NameRef> names = names_of_ip_.at(oldest);
    for (const NameRef name : names) forget(oldest, name);
    ++trimmed;
  }
  return trimmed;
}

bool AllowedIpTable::holds(std::uint32_t identity, const std::string& name,
                           const IpAddress& ip) const {
  const auto learned = learned_.find({identity, name});
  return learned != learned_.end() &&
         std::find(learned->second.ips.begin(), learned->second.ips.end(), ip) !=
             learned->second.ips.end();
}

std::size_t AllowedIpTable::addressesOf(std::uint32_t identity) const {
  const auto ips = ips_of_identity_.find(identity);
  return ips == ips_of_identity_.end() ? 0 : ips->second.size();
}

policy::PortSet AllowedIpTable::portsOf(const IpKey& ip, const LearnedName* also) const {
  std::optional<policy::PortSet> united;
  const auto add = [&](const LearnedName& name) {
    const policy::PortSet every_port;
    const policy::PortSet& opened = name.verdict ? name.verdict->ports : every_port;
    united = united ? policy::unitePorts(*united, opened) : opened;
  };
  if (also) add(*also);
  if (const auto names = names_of_ip_.find(ip); names != names_of_ip_.end()) {
    for (const NameRef name : names->second) add(name->second);
  }
  return united.value_or(policy::PortSet{});
}

policy::RuleId AllowedIpTable::ruleOf(const IpKey& ip, policy::RuleId current) const {
  const auto names = names_of_ip_.find(ip);
  if (names == names_of_ip_.end()) return current;
  std::optional<policy::RuleId> first;
  for (const NameRef name : names->second) {
    const auto& verdict = name->second.verdict;
    if (!verdict) continue;
    if (verdict->rule == current) return current;
    if (!first) first = verdict->rule;
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
  if (addresses.empty()) return result;
  const NameRef learned = learned_.try_emplace({identity, name}).first;
  learned->second.verdict = NameVerdict{rule, ports};
  for (const auto& address : addresses) {
    const IpKey ip{identity, address.ip};
    const auto key = keyOf(identity, address.ip);
    const auto port_set = port_sets_.intern(portsOf(ip, &learned->second));
    if (!port_set) {
      ++result.failed;
      continue;
    }
    skouter_allowed_ip_value value{};
    value.expiry_ns = address.expiry_ns;
    value.rule_id = rule;
    value.port_set = *port_set;
    if (const auto existing = addresses_.lookup(key)) {
      if (existing->expiry_ns == 0 || existing->expiry_ns >= address.expiry_ns) {
        value.expiry_ns = existing->expiry_ns;
      }
    }
    // The name goes in first: an address whose names are unknown would outlive a
    // policy that no longer allows them.
    const auto names = names_of_ip_.find(ip);
    const bool named =
        names != names_of_ip_.end() &&
        std::find(names->second.begin(), names->second.end(), learned) != names->second.end();
    const auto name_key = nameKeyOf(key, name);
    if (!named) {
      skouter_learned_name_value name_value{};
      std::strncpy(name_value.name, name.c_str(), sizeof(name_value.name) - 1);
      if (names_.update(name_key, name_value) != 0) {
        ++result.failed;
        continue;
      }
    }
    if (addresses_.update(key, value) != 0) {
      if (!named) names_.erase(name_key);
      ++result.failed;
      continue;
    }
    ++result.installed;
    link(ip, learned);
    if (const std::size_t trimmed = trimNames(ip); trimmed > 0) {
      result.names_evicted += trimmed;
      // The names left may open fewer ports.
      refresh(ip);
    }
  }

  if (max_ips_per_name_ > 0) {
    while (learned->second.ips.size() > max_ips_per_name_) {
      const IpAddress oldest = learned->second.ips.front();
      ++result.evicted;
      // Another name may still hold the address: it keeps that name's ports, not these.
      if (!forget({identity, oldest}, learned)) refresh({identity, oldest});
    }
  }
  // Every address failed: the name holds none.
  if (learned->second.ips.empty()) learned_.erase(learned);
  result.workload_evicted = trimWorkload(identity);
  return result;
}

std::size_t AllowedIpTable::applyPolicy(std::uint32_t identity, const NamePolicy& policy) {
  const std::size_t before = names_of_ip_.size();
  std::set<IpAddress> changed;
  for (auto entry = learned_.begin(); entry != learned_.end();) {
    const NameRef name = entry++;
    if (name->first.first != identity) continue;
    const auto verdict = policy(name->first.second);
    auto& learned = name->second;
    if (verdict) {
      // A name read back from the pins has no ports recorded yet: its addresses hold
      // whatever the previous daemon wrote, so they are rewritten too.
      if (!learned.verdict || *learned.verdict != *verdict) {
        changed.insert(learned.ips.begin(), learned.ips.end());
      }
      learned.verdict = *verdict;
      continue;
    }
    // The last forget() takes the name itself.
    const std::vector<IpAddress> ips(learned.ips.begin(), learned.ips.end());
    for (const IpAddress& ip : ips) {
      forget({identity, ip}, name);
      changed.insert(ip);
    }
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
    for (const NameRef name : names->second) {
      names_.erase(nameKeyOf(key, name->first.second));
      name->second.ips.remove(ip.second);
      if (name->second.ips.empty()) learned_.erase(name);
      --pairs_;
    }
    names_of_ip_.erase(names);
    untrack(ip);
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
    for (const NameRef name : names->second) entry.names.push_back(name->first.second);
    std::sort(entry.names.begin(), entry.names.end());
  }
  return entry;
}

}  // namespace skouter::resolver
