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
#include "resolver/port_set_table.h"

namespace skouter::resolver {

struct AllowedIpEntry {
  std::uint32_t identity = 0;
  IpAddress ip;
  std::uint64_t expiry_ns = 0;  // 0: never
  policy::RuleId rule = 0;
  policy::PortSet ports;  // empty: every port
  std::vector<std::string> names;
};

// What the policy in force says of a learned name: the rule allowing it and that
// rule's ports; nullopt when it is no longer allowed.
struct NameVerdict {
  policy::RuleId rule = 0;
  policy::PortSet ports;
  bool operator==(const NameVerdict&) const = default;
};
using NamePolicy = std::function<std::optional<NameVerdict>(const std::string& name)>;

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
  // Port restrictions go through `port_sets`; an address opens the ports of all its
  // names (two names resolving to one address open the ports of both).
  AllowedIpTable(AllowedIpMap addresses, LearnedNameMap names, PortSetTable& port_sets,
                 std::size_t max_ips_per_name = 0);

  // Installs each address for `identity`, keeping the later expiry when the address
  // is already there, and records `name` against it; the address opens `ports` (empty:
  // every port) besides the ports of its other names. Beyond the limit, the address
  // of `name` least recently seen in an answer loses that name, and its entry goes
  // when no other name holds it (connections already open keep their flow).
  InstallResult install(std::uint32_t identity, const std::vector<LearnedAddress>& addresses,
                        const std::string& name, policy::RuleId rule,
                        const policy::PortSet& ports = {});

  // After a policy change (and once at start, when the ports of names read back from
  // the pins are not known yet): drops every name of `identity` that `policy` no
  // longer allows, removes each address no remaining name holds, and gives every
  // other address the ports its names now open and a rule that still exists.
  // Returns the addresses removed. Connections already open keep their flows.
  std::size_t applyPolicy(std::uint32_t identity, const NamePolicy& policy);

  // The port_sets ids the entries refer to.
  std::set<std::uint32_t> portSetsInUse() const;

  // Removes entries whose expiry is at or before `now_ns`, with their names.
  std::size_t removeExpired(std::uint64_t now_ns);

  std::vector<AllowedIpEntry> entries() const;
  // The entry of one address, read from the maps; nullopt when it has none.
  std::optional<AllowedIpEntry> entryOf(std::uint32_t identity, const IpAddress& ip) const;
  // Entries in allowed_ips, read from the map.
  std::size_t size() const;
  // Entries in learned_names: one per name and address.
  std::size_t nameCount() const;

 private:
  using IpKey = std::pair<std::uint32_t, IpAddress>;      // identity, address
  using NameKey = std::pair<std::uint32_t, std::string>;  // identity, name
  void forget(const IpKey& ip, const std::string& name);
  // The ports the names of `ip` open, counting `also_name` among them.
  policy::PortSet portsOf(const IpKey& ip, const std::string* also_name = nullptr) const;
  // The rule to show for `ip`: `current` while one of its names is still allowed by
  // it, else the rule of its first name (a reload renamed or renumbered the rules).
  policy::RuleId ruleOf(const IpKey& ip, policy::RuleId current) const;
  // Rewrites the entry of `ip` after its names or their verdicts changed.
  void refresh(const IpKey& ip);

  AllowedIpMap addresses_;
  LearnedNameMap names_;
  PortSetTable& port_sets_;
  std::size_t max_ips_per_name_;
  // Views of learned_names kept in memory: the addresses of each name, least
  // recently seen first, and the names of each address.
  std::map<NameKey, std::list<IpAddress>> ips_of_name_;
  std::map<IpKey, std::set<std::string>> names_of_ip_;
  // The rule allowing each name and the ports it opens. Names read back from the pins
  // open every port until applyPolicy() tells.
  std::map<NameKey, NameVerdict> verdict_of_name_;
};

skouter_addr toBpfAddr(const IpAddress& ip);
IpAddress fromBpfAddr(const skouter_addr& addr);

}  // namespace skouter::resolver
