// The learned half of the firewall: addresses from allowed DNS answers, with their
// expiry and the names that resolved to them. Sole writer of the allowed_ips and
// learned_names maps.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bpf/datapath.h"
#include "common/ip_address.h"
#include "policy/compiled_policy.h"
#include "resolver/answer_handler.h"

namespace skouter::resolver {

struct AllowedIpEntry {
  std::uint32_t identity = 0;
  IpAddress ip;
  std::uint64_t expiry_ns = 0;  // 0: never
  policy::RuleId rule = 0;
  std::vector<std::string> names;
};

struct InstallResult {
  std::size_t installed = 0;  // new or extended entries
  std::size_t failed = 0;     // the map refused (full): counted and logged by the caller
};

class AllowedIpTable {
 public:
  AllowedIpTable(AllowedIpMap addresses, LearnedNameMap names);

  // Installs each address for `identity`, keeping the later expiry when the address
  // is already there, and records `name` against it.
  InstallResult install(std::uint32_t identity, const std::vector<LearnedAddress>& addresses,
                        const std::string& name, policy::RuleId rule);

  // Removes entries whose expiry is at or before `now_ns`, with their names.
  std::size_t removeExpired(std::uint64_t now_ns);

  std::vector<AllowedIpEntry> entries() const;
  std::size_t size() const;

 private:
  AllowedIpMap addresses_;
  LearnedNameMap names_;
};

skouter_addr toBpfAddr(const IpAddress& ip);
IpAddress fromBpfAddr(const skouter_addr& addr);

}  // namespace skouter::resolver
