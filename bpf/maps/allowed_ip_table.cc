#include "bpf/maps/allowed_ip_table.h"

#include "bpf/maps/bpf_address.h"
#include "common/datapath_clock.h"
#include "common/keyed_hash.h"
#include "resolver/dns_question.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <string_view>
#include <tuple>

namespace skouter::maps {
namespace {

std::uint32_t fnv1a(const std::string& text) {
  std::uint32_t hash = 2166136261u;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 16777619u;
  }
  return hash;
}

// Where a learned name or address goes in its index. Keyed: the names are the
// workloads' to choose.
std::uint32_t hashOf(std::uint32_t identity, std::string_view text) {
  const std::uint64_t hash = KeyedHash::processKey()(text) ^ (identity * 0x9E3779B97F4A7C15ull);
  return static_cast<std::uint32_t>(hash ^ (hash >> 32));
}

std::uint32_t hashOf(std::uint32_t identity, const IpAddress& ip) {
  return hashOf(identity,
                std::string_view(reinterpret_cast<const char*>(ip.bytes.data()), ip.bytes.size()));
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
  std::vector<std::tuple<std::uint64_t, std::uint32_t, IpAddress, std::string, std::uint32_t,
                         std::uint32_t>>
      learned;
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
    std::string name = resolver::printableName(stored);
    if (name != stored) stored_raw.emplace_back(key, name);
    learned.emplace_back(entry->expiry_ns, key.ip.identity, fromBpfAddr(key.ip.ip), std::move(name),
                         entry->rule_id, entry->port_set);
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
  for (const auto& [expiry, identity, address, name, rule, port_set] : learned) {
    const auto ip = findIp(identity, address);
    const auto learned_name = findName(identity, name);
    const Handle linked = ip ? *ip : addIp(identity, address);
    learned_ips_[linked].installed = {.expiry_ns = expiry, .rule_id = rule, .port_set = port_set};
    if (!ip) file(linked);
    link(linked, learned_name ? *learned_name : addName(identity, name));
  }
  addresses_.forEach([&](const skouter_allowed_ip_key& key, const skouter_allowed_ip_value& value) {
    if (!findIp(key.identity, fromBpfAddr(key.ip))) {
      unnamed_.emplace_back(key, value);
    }
  });
  // A lower --max-names-per-ip than the last daemon's applies at once, to memory and
  // learned_names; the entries keep their ports until applyPolicy() rewrites them.
  std::vector<Handle> ips;
  ip_index_.forEach([&](Handle ip) { ips.push_back(ip); });
  for (const Handle ip : ips) trimNames(ip);
  // So does a lower --max-ips-per-workload.
  std::vector<std::uint32_t> identities;
  for (const auto& [identity, recency] : recency_) identities.push_back(identity);
  for (const std::uint32_t identity : identities) trimWorkload(identity);
}

std::size_t AllowedIpTable::adoptDatapathLearned(const EarliestExpiry& earliest_expiry) {
  struct Found {
    skouter_allowed_ip_value entry;
    std::uint32_t identity;
    IpAddress address;
    std::string name;
  };
  std::vector<Found> found;
  names_.forEach([&](const skouter_learned_name_key& key, const skouter_learned_name_value& value) {
    const IpAddress address = fromBpfAddr(key.ip.ip);
    const std::string name = resolver::printableName(
        std::string_view(value.name, strnlen(value.name, sizeof(value.name))));
    const auto ip = findIp(key.ip.identity, address);
    const auto known = findName(key.ip.identity, name);
    if (ip && known && std::ranges::count(learned_ips_[*ip].names, *known) > 0) return;
    if (const auto entry = addresses_.lookup(key.ip)) {
      found.push_back({*entry, key.ip.identity, address, name});
    }
  });
  // Oldest expiry first, as at start: the later expiry stands in for the more recent
  // answer.
  std::ranges::sort(found, {}, [](const Found& pair) { return pair.entry.expiry_ns; });
  std::set<std::uint32_t> identities;
  for (const Found& pair : found) {
    const auto ip = findIp(pair.identity, pair.address);
    const auto known = findName(pair.identity, pair.name);
    const Handle linked = ip ? *ip : addIp(pair.identity, pair.address);
    learned_ips_[linked].installed = pair.entry;
    if (!ip) file(linked);
    link(linked, known ? *known : addName(pair.identity, pair.name));
    identities.insert(pair.identity);
    // Read back below with the rest; a sweep that finds the entry under its earlier
    // second files it again under the later one.
    const std::uint64_t earliest = earliest_expiry ? earliest_expiry(pair.identity, pair.name) : 0;
    const auto key = keyOf(pair.identity, pair.address);
    if (const auto current = addresses_.lookup(key);
        current && current->expiry_ns != 0 && current->expiry_ns < earliest) {
      skouter_allowed_ip_value raised = *current;
      raised.expiry_ns = earliest;
      addresses_.replace(key, raised);
    }
  }
  // Expiries the datapath extended.
  std::size_t entries = 0;
  addresses_.forEach([&](const skouter_allowed_ip_key& key, const skouter_allowed_ip_value& value) {
    ++entries;
    if (const auto ip = findIp(key.identity, fromBpfAddr(key.ip))) {
      LearnedIp& learned = learned_ips_[*ip];
      // The datapath's answer is not known here.
      if (learned.installed.expiry_ns != value.expiry_ns) learned.open_for_s = 0;
      learned.installed = value;
    }
  });
  addresses_.recounted(entries);
  for (const std::uint32_t identity : identities) trimWorkload(identity);
  return found.size();
}

std::optional<Handle> AllowedIpTable::findName(std::uint32_t identity,
                                               std::string_view name) const {
  return name_index_.find(hashOf(identity, name), [&](Handle found) {
    const LearnedName& learned = learned_names_[found];
    return learned.identity == identity && learned.name == name;
  });
}

Handle AllowedIpTable::addName(std::uint32_t identity, const std::string& name) {
  const Handle added = learned_names_.add({.identity = identity, .name = name, .ips = {}});
  name_index_.insert(hashOf(identity, name), added);
  return added;
}

void AllowedIpTable::releaseName(Handle name) {
  LearnedName& learned = learned_names_[name];
  name_index_.erase(hashOf(learned.identity, learned.name), name);
  setVerdict(learned, std::nullopt);
  learned_names_.release(name);
}

std::optional<Handle> AllowedIpTable::findIp(std::uint32_t identity, const IpAddress& ip) const {
  return ip_index_.find(hashOf(identity, ip), [&](Handle found) {
    const LearnedIp& learned = learned_ips_[found];
    return learned.identity == identity && learned.ip == ip;
  });
}

Handle AllowedIpTable::addIp(std::uint32_t identity, const IpAddress& ip) {
  const Handle added = learned_ips_.add({.identity = identity, .ip = ip, .names = {}});
  ip_index_.insert(hashOf(identity, ip), added);
  Recency& recency = recency_[identity];
  learned_ips_[added].older = recency.newest;
  if (recency.newest != kNoHandle) learned_ips_[recency.newest].newer = added;
  recency.newest = added;
  if (recency.oldest == kNoHandle) recency.oldest = added;
  ++recency.count;
  return added;
}

void AllowedIpTable::releaseIp(Handle ip) {
  const LearnedIp& learned = learned_ips_[ip];
  ip_index_.erase(hashOf(learned.identity, learned.ip), ip);
  untrack(learned);
  const auto recency = recency_.find(learned.identity);
  if (--recency->second.count == 0) recency_.erase(recency);
  learned_ips_.release(ip);
}

void AllowedIpTable::setVerdict(LearnedName& name, std::optional<NameVerdict> verdict) {
  if (name.verdict != kNoHandle) {
    SharedVerdict& shared = verdicts_[name.verdict];
    if (--shared.users == 0) {
      verdict_index_.erase(shared.verdict);
      verdicts_.release(name.verdict);
    }
    name.verdict = kNoHandle;
  }
  if (!verdict) return;
  auto [at, added] = verdict_index_.try_emplace(*verdict, kNoHandle);
  if (added) at->second = verdicts_.add({.verdict = std::move(*verdict)});
  ++verdicts_[at->second].users;
  name.verdict = at->second;
}

const NameVerdict* AllowedIpTable::verdictOf(const LearnedName& name) const {
  return name.verdict == kNoHandle ? nullptr : &verdicts_[name.verdict].verdict;
}

void AllowedIpTable::link(Handle ip, Handle name) {
  auto& ips = learned_names_[name].ips;
  auto& names = learned_ips_[ip].names;
  if (const auto known = std::find(names.begin(), names.end(), name); known == names.end()) {
    ++pairs_;
  } else {
    names.erase(known);
    ips.erase(std::find(ips.begin(), ips.end(), ip));
  }
  names.push_back(name);
  ips.push_back(ip);
  touch(ip);
}

void AllowedIpTable::touch(Handle ip) {
  LearnedIp& learned = learned_ips_[ip];
  Recency& recency = recency_.at(learned.identity);
  if (recency.newest == ip) return;
  untrack(learned);
  learned.older = recency.newest;
  learned.newer = kNoHandle;
  learned_ips_[recency.newest].newer = ip;
  recency.newest = ip;
}

void AllowedIpTable::untrack(const LearnedIp& ip) {
  Recency& recency = recency_.at(ip.identity);
  (ip.older == kNoHandle ? recency.oldest : learned_ips_[ip.older].newer) = ip.newer;
  (ip.newer == kNoHandle ? recency.newest : learned_ips_[ip.newer].older) = ip.older;
}

bool AllowedIpTable::forget(Handle ip, Handle name) {
  LearnedIp& learned_ip = learned_ips_[ip];
  LearnedName& learned_name = learned_names_[name];
  const auto key = keyOf(learned_ip.identity, learned_ip.ip);
  names_.erase(nameKeyOf(key, learned_name.name));
  --pairs_;
  std::erase(learned_ip.names, name);
  std::erase(learned_name.ips, ip);
  if (learned_name.ips.empty()) releaseName(name);
  if (!learned_ip.names.empty()) return false;
  releaseIp(ip);
  addresses_.erase(key);
  return true;
}

std::size_t AllowedIpTable::trimNames(Handle ip) {
  std::size_t trimmed = 0;
  while (max_names_per_ip_ > 0 && learned_ips_[ip].names.size() > max_names_per_ip_) {
    forget(ip, learned_ips_[ip].names.front());
    ++trimmed;
  }
  return trimmed;
}

std::size_t AllowedIpTable::trimWorkload(std::uint32_t identity) {
  std::size_t trimmed = 0;
  while (max_ips_per_workload_ > 0 && addressesOf(identity) > max_ips_per_workload_) {
    const Handle oldest = recency_.at(identity).oldest;
    // The last forget() takes the address and its entry (and a name left with no
    // address).
    const std::vector<Handle> names = learned_ips_[oldest].names;
    for (const Handle name : names) forget(oldest, name);
    ++trimmed;
  }
  return trimmed;
}

bool AllowedIpTable::holds(std::uint32_t identity, const std::string& name,
                           const IpAddress& ip) const {
  const auto learned_name = findName(identity, name);
  const auto learned_ip = findIp(identity, ip);
  if (!learned_name || !learned_ip) return false;
  const auto& names = learned_ips_[*learned_ip].names;
  return std::find(names.begin(), names.end(), *learned_name) != names.end();
}

std::size_t AllowedIpTable::addressesOf(std::uint32_t identity) const {
  const auto recency = recency_.find(identity);
  return recency == recency_.end() ? 0 : recency->second.count;
}

policy::PortSet AllowedIpTable::portsOf(std::optional<Handle> ip, const LearnedName* also) const {
  std::optional<policy::PortSet> united;
  const auto add = [&](const LearnedName& name) {
    const policy::PortSet every_port;
    const NameVerdict* verdict = verdictOf(name);
    const policy::PortSet& opened = verdict ? verdict->ports : every_port;
    united = united ? policy::unitePorts(*united, opened) : opened;
  };
  if (also) add(*also);
  if (ip) {
    for (const Handle name : learned_ips_[*ip].names) add(learned_names_[name]);
  }
  return united.value_or(policy::PortSet{});
}

policy::RuleId AllowedIpTable::ruleOf(Handle ip, policy::RuleId current) const {
  std::optional<policy::RuleId> first;
  for (const Handle name : learned_ips_[ip].names) {
    const NameVerdict* verdict = verdictOf(learned_names_[name]);
    if (!verdict) continue;
    if (verdict->rule == current) return current;
    if (!first) first = verdict->rule;
  }
  return first.value_or(current);
}

void AllowedIpTable::refresh(Handle ip) {
  LearnedIp& learned = learned_ips_[ip];
  // A released slot has no names.
  if (learned.names.empty()) return;
  auto updated = learned.installed;
  // Should the map of port sets be full, the address keeps its old ports rather than
  // losing every port; the next change tries again.
  if (const auto port_set = port_sets_.intern(portsOf(ip))) updated.port_set = *port_set;
  updated.rule_id = ruleOf(ip, learned.installed.rule_id);
  if (updated.port_set == learned.installed.port_set &&
      updated.rule_id == learned.installed.rule_id) {
    return;
  }
  if (addresses_.replace(keyOf(learned.identity, learned.ip), updated) == 0) {
    learned.installed = updated;
  }
}

InstallResult AllowedIpTable::install(std::uint32_t identity,
                                      const std::vector<resolver::LearnedAddress>& addresses,
                                      const std::string& name, policy::RuleId rule,
                                      const policy::PortSet& ports) {
  InstallResult result;
  if (addresses.empty()) return result;
  const auto known = findName(identity, name);
  const Handle learned = known ? *known : addName(identity, name);
  setVerdict(learned_names_[learned], NameVerdict{rule, ports});
  for (const auto& address : addresses) {
    const auto key = keyOf(identity, address.ip);
    const std::optional<Handle> ip = findIp(identity, address.ip);
    const auto port_set = port_sets_.intern(portsOf(ip, &learned_names_[learned]));
    if (!port_set) {
      ++result.failed;
      continue;
    }
    skouter_allowed_ip_value value{};
    value.expiry_ns = address.expiry_ns;
    value.rule_id = rule;
    value.port_set = *port_set;
    // An address the table knows is in the map as it last wrote it; one it does not
    // know may still be (an entry without a name), and keeps its later expiry too.
    const auto existing = ip ? std::optional(learned_ips_[*ip].installed) : addresses_.lookup(key);
    if (existing && (existing->expiry_ns == 0 || existing->expiry_ns >= address.expiry_ns)) {
      value.expiry_ns = existing->expiry_ns;
    }
    // The name goes in first: an address whose names are unknown would outlive a
    // policy that no longer allows them.
    const bool named =
        ip && std::ranges::find(learned_ips_[*ip].names, learned) != learned_ips_[*ip].names.end();
    const auto name_key = nameKeyOf(key, name);
    if (!named) {
      skouter_learned_name_value name_value{};
      std::strncpy(name_value.name, name.c_str(), sizeof(name_value.name) - 1);
      if (names_.update(name_key, name_value) != 0) {
        ++result.failed;
        continue;
      }
    }
    // Nothing new (a resolver's cached answer within the second): the map already says
    // it.
    const bool unchanged = ip && value.expiry_ns == existing->expiry_ns &&
                           value.rule_id == existing->rule_id &&
                           value.port_set == existing->port_set;
    if (!unchanged && (ip ? addresses_.replace(key, value) : addresses_.update(key, value)) != 0) {
      if (!named) names_.erase(name_key);
      ++result.failed;
      continue;
    }
    ++result.installed;
    // An unnamed entry found at start is named from now on.
    if (!ip && existing) {
      std::erase_if(unnamed_, [&](const auto& entry) {
        return std::memcmp(&entry.first, &key, sizeof(key)) == 0;
      });
    }
    const Handle linked = ip ? *ip : addIp(identity, address.ip);
    learned_ips_[linked].installed = value;
    if (value.expiry_ns == address.expiry_ns) learned_ips_[linked].open_for_s = address.open_for_s;
    if (!ip) file(linked);
    link(linked, learned);
    if (const std::size_t trimmed = trimNames(linked); trimmed > 0) {
      result.names_evicted += trimmed;
      // The names left may open fewer ports.
      refresh(linked);
    }
  }

  if (max_ips_per_name_ > 0) {
    while (learned_names_[learned].ips.size() > max_ips_per_name_) {
      const Handle oldest = learned_names_[learned].ips.front();
      ++result.evicted;
      // Another name may still hold the address: it keeps that name's ports, not these.
      if (!forget(oldest, learned)) refresh(oldest);
    }
  }
  // Every address failed: the name holds none.
  if (learned_names_[learned].ips.empty()) releaseName(learned);
  result.workload_evicted = trimWorkload(identity);
  return result;
}

std::size_t AllowedIpTable::applyPolicy(std::uint32_t identity, const NamePolicy& policy) {
  const std::size_t before = learned_ips_.size();
  std::vector<Handle> names;
  name_index_.forEach([&](Handle name) {
    if (learned_names_[name].identity == identity) names.push_back(name);
  });
  // Nothing is added below, so a released address's slot is not reused before
  // refresh() skips it.
  std::vector<Handle> changed;
  for (const Handle name : names) {
    LearnedName& learned = learned_names_[name];
    auto verdict = policy(learned.name);
    if (verdict) {
      // A name read back from the pins has no ports recorded yet: its addresses hold
      // whatever the previous daemon wrote, so they are rewritten too.
      const NameVerdict* current = verdictOf(learned);
      if (!current || *current != *verdict) {
        changed.insert(changed.end(), learned.ips.begin(), learned.ips.end());
      }
      setVerdict(learned, std::move(verdict));
      continue;
    }
    // The last forget() takes the name itself.
    const std::vector<Handle> ips = learned.ips;
    for (const Handle ip : ips) forget(ip, name);
    changed.insert(changed.end(), ips.begin(), ips.end());
  }
  std::sort(changed.begin(), changed.end());
  changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
  for (const Handle ip : changed) refresh(ip);
  return before - learned_ips_.size();
}

std::set<std::uint32_t> AllowedIpTable::portSetsInUse() const {
  std::set<std::uint32_t> in_use;
  ip_index_.forEach([&](Handle ip) { in_use.insert(learned_ips_[ip].installed.port_set); });
  for (const auto& [key, value] : unnamed_) in_use.insert(value.port_set);
  return in_use;
}

void AllowedIpTable::file(Handle ip) {
  LearnedIp& learned = learned_ips_[ip];
  if (learned.installed.expiry_ns == 0) return;
  learned.filed_at = learned.installed.expiry_ns / kNanosPerSecond;
  expiring_[learned.filed_at].push_back(ip);
}

void AllowedIpTable::remove(Handle ip) {
  const LearnedIp& learned = learned_ips_[ip];
  const auto key = keyOf(learned.identity, learned.ip);
  addresses_.erase(key);
  for (const Handle name : learned.names) {
    LearnedName& learned_name = learned_names_[name];
    names_.erase(nameKeyOf(key, learned_name.name));
    std::erase(learned_name.ips, ip);
    if (learned_name.ips.empty()) releaseName(name);
    --pairs_;
  }
  releaseIp(ip);
}

std::size_t AllowedIpTable::removeExpired(std::uint64_t now_ns, std::size_t limit,
                                          const ExpiredEntryHandler& expired) {
  std::size_t removed = 0;
  // Within the limit too: after an upgrade there may be many.
  for (auto it = unnamed_.begin(); removed < limit && it != unnamed_.end();) {
    if (it->second.expiry_ns == 0 || it->second.expiry_ns > now_ns) {
      ++it;
      continue;
    }
    removed += addresses_.erase(it->first) ? 1 : 0;
    it = unnamed_.erase(it);
  }
  const std::uint64_t now_s = now_ns / kNanosPerSecond;
  std::vector<Handle> later_this_second;
  while (removed < limit && !expiring_.empty() && expiring_.begin()->first <= now_s) {
    const std::uint64_t second = expiring_.begin()->first;
    std::vector<Handle>& filed = expiring_.begin()->second;
    // From the back, so that what the limit leaves stays filed.
    while (removed < limit && !filed.empty()) {
      const Handle ip = filed.back();
      filed.pop_back();
      const LearnedIp& learned = learned_ips_[ip];
      // Released, or its slot filed again since (given to another address).
      if (learned.names.empty() || learned.filed_at != second) continue;
      if (learned.installed.expiry_ns > now_ns) {
        if (learned.installed.expiry_ns / kNanosPerSecond == second) {
          later_this_second.push_back(ip);
        } else {
          file(ip);
        }
        continue;
      }
      if (expired) expired(entryAt(ip));
      remove(ip);
      ++removed;
    }
    if (filed.empty()) expiring_.erase(expiring_.begin());
  }
  if (!later_this_second.empty()) {
    auto& filed = expiring_[now_s];
    filed.insert(filed.end(), later_this_second.begin(), later_this_second.end());
  }
  return removed;
}

AllowedIpEntry AllowedIpTable::entryAt(Handle ip) const {
  const LearnedIp& learned = learned_ips_[ip];
  AllowedIpEntry entry{learned.identity,
                       learned.ip,
                       learned.installed.expiry_ns,
                       learned.installed.rule_id,
                       port_sets_.lookup(learned.installed.port_set),
                       {},
                       learned.open_for_s};
  for (const Handle name : learned.names) entry.names.push_back(learned_names_[name].name);
  std::sort(entry.names.begin(), entry.names.end());
  return entry;
}

AllowedIpEntry AllowedIpTable::unnamedEntry(std::size_t index) const {
  const auto& [key, value] = unnamed_[index];
  return {key.identity,
          fromBpfAddr(key.ip),
          value.expiry_ns,
          value.rule_id,
          port_sets_.lookup(value.port_set),
          {}};
}

std::vector<AllowedIpEntry> AllowedIpTable::entries() const {
  EntryCursor everything;
  return entries(everything, std::numeric_limits<std::size_t>::max());
}

std::vector<AllowedIpEntry> AllowedIpTable::entries(EntryCursor& cursor, std::size_t count) const {
  std::vector<AllowedIpEntry> result;
  for (; result.size() < count && cursor.learned < learned_ips_.capacity(); ++cursor.learned) {
    const auto ip = static_cast<Handle>(cursor.learned);
    // A free slot has no names.
    if (!learned_ips_[ip].names.empty()) result.push_back(entryAt(ip));
  }
  for (; result.size() < count && cursor.unnamed < unnamed_.size(); ++cursor.unnamed) {
    result.push_back(unnamedEntry(cursor.unnamed));
  }
  cursor.done = cursor.learned >= learned_ips_.capacity() && cursor.unnamed >= unnamed_.size();
  return result;
}

std::optional<AllowedIpEntry> AllowedIpTable::entryOf(std::uint32_t identity,
                                                      const IpAddress& ip) const {
  const auto value = addresses_.lookup(keyOf(identity, ip));
  if (!value) return std::nullopt;
  AllowedIpEntry entry{
      identity, ip, value->expiry_ns, value->rule_id, port_sets_.lookup(value->port_set), {}};
  // The names as the table knows them: the same ones learned_names holds.
  if (const auto learned = findIp(identity, ip)) {
    entry.open_for_s = learned_ips_[*learned].open_for_s;
    for (const Handle name : learned_ips_[*learned].names) {
      entry.names.push_back(learned_names_[name].name);
    }
    std::sort(entry.names.begin(), entry.names.end());
  }
  return entry;
}

}  // namespace skouter::maps
