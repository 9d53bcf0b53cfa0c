#include "resolver/allowed_ip_table.h"

#include <algorithm>
#include <cstring>
#include <map>

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

AllowedIpTable::AllowedIpTable(AllowedIpMap addresses, LearnedNameMap names)
    : addresses_(addresses), names_(names) {}

InstallResult AllowedIpTable::install(std::uint32_t identity,
                                      const std::vector<LearnedAddress>& addresses,
                                      const std::string& name, policy::RuleId rule) {
  InstallResult result;
  for (const auto& learned : addresses) {
    const auto key = keyOf(identity, learned.ip);
    skouter_allowed_ip_value value{};
    value.expiry_ns = learned.expiry_ns;
    value.rule_id = rule;
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

    skouter_learned_name_key name_key{};
    name_key.ip = key;
    name_key.name_hash = fnv1a(name);
    skouter_learned_name_value name_value{};
    std::strncpy(name_value.name, name.c_str(), sizeof(name_value.name) - 1);
    // A missing name only makes `entries` less informative; the address is in.
    names_.update(name_key, name_value);
  }
  return result;
}

std::size_t AllowedIpTable::removeExpired(std::uint64_t now_ns) {
  std::size_t removed = 0;
  std::vector<skouter_allowed_ip_key> expired;
  addresses_.forEach([&](const skouter_allowed_ip_key& key, const skouter_allowed_ip_value& value) {
    if (value.expiry_ns != 0 && value.expiry_ns <= now_ns && addresses_.erase(key)) {
      ++removed;
    }
  });
  names_.forEach([&](const skouter_learned_name_key& key, const skouter_learned_name_value&) {
    if (!addresses_.lookup(key.ip)) names_.erase(key);
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
    if (auto found = names_by_key.find(bytesOf(key)); found != names_by_key.end()) {
      entry.names = found->second;
      std::sort(entry.names.begin(), entry.names.end());
    }
    result.push_back(std::move(entry));
  });
  return result;
}

std::size_t AllowedIpTable::size() const {
  std::size_t count = 0;
  addresses_.forEach([&](const auto&, const auto&) { ++count; });
  return count;
}

}  // namespace skouter::resolver
