// The learned half of the firewall: addresses from allowed DNS answers, with their
// expiry and the names that resolved to them. Sole writer of the allowed_ips and
// learned_names maps.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <set>
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
  std::size_t evicted = 0;    // addresses of the name beyond --max-ips-per-name
};

class AllowedIpTable {
 public:
  // `max_ips_per_name` (0: no limit) bounds the addresses one name of one identity
  // holds open; a high-churn name (a CDN) then cannot fill the table. The pinned
  // maps are read back, so a restarted daemon keeps counting where the last stopped.
  AllowedIpTable(AllowedIpMap addresses, LearnedNameMap names, std::size_t max_ips_per_name = 0);

  // Installs each address for `identity`, keeping the later expiry when the address
  // is already there, and records `name` against it. Beyond the limit, the address
  // of `name` least recently seen in an answer loses that name, and its entry goes
  // when no other name holds it (connections already open keep their flow).
  InstallResult install(std::uint32_t identity, const std::vector<LearnedAddress>& addresses,
                        const std::string& name, policy::RuleId rule);

  // After a policy change: drops every name of `identity` that `still_allowed` no
  // longer accepts, and each address no remaining name holds. Returns the addresses
  // removed. Connections already open keep their flows.
  std::size_t removeNamesNoLongerAllowed(
      std::uint32_t identity, const std::function<bool(const std::string&)>& still_allowed);

  // Removes entries whose expiry is at or before `now_ns`, with their names.
  std::size_t removeExpired(std::uint64_t now_ns);

  std::vector<AllowedIpEntry> entries() const;
  std::size_t size() const;

 private:
  using IpKey = std::pair<std::uint32_t, IpAddress>;      // identity, address
  using NameKey = std::pair<std::uint32_t, std::string>;  // identity, name
  void forget(const IpKey& ip, const std::string& name);

  AllowedIpMap addresses_;
  LearnedNameMap names_;
  std::size_t max_ips_per_name_;
  // Views of learned_names kept in memory: the addresses of each name, least
  // recently seen first, and the names of each address.
  std::map<NameKey, std::list<IpAddress>> ips_of_name_;
  std::map<IpKey, std::set<std::string>> names_of_ip_;
};

skouter_addr toBpfAddr(const IpAddress& ip);
IpAddress fromBpfAddr(const skouter_addr& addr);

}  // namespace skouter::resolver
