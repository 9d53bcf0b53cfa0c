// The learned half of the firewall: addresses from allowed DNS answers, with their
// expiry and the names that resolved to them. Sole writer of the allowed_ips and
// learned_names maps.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/counted_map.h"
#include "bpf/datapath.h"
#include "bpf/maps/allowed_ip_entry.h"
#include "bpf/maps/handle_index.h"
#include "bpf/maps/port_set_table.h"
#include "common/ip_address.h"
#include "policy/compiled_policy.h"
#include "resolver/answer_handler.h"

namespace skouter::maps {

// What the policy in force says of a learned name: the rule allowing it and that
// rule's ports; nullopt when it is no longer allowed.
struct NameVerdict {
  policy::RuleId rule = 0;
  policy::PortSet ports;
  auto operator<=>(const NameVerdict&) const = default;
};
using NamePolicy = std::function<std::optional<NameVerdict>(const std::string& name)>;

struct InstallResult {
  std::size_t installed = 0;      // new or extended entries
  std::size_t failed = 0;         // a map refused (full): counted and logged by the caller
  std::size_t evicted = 0;        // addresses of the name beyond --max-ips-per-name
  std::size_t names_evicted = 0;  // names of an address beyond --max-names-per-ip
  // Addresses of the identity beyond --max-ips-per-workload.
  std::size_t workload_evicted = 0;
};

class AllowedIpTable {
 public:
  // `max_ips_per_name` (0: no limit) bounds the addresses one name of one identity
  // holds open; a high-churn name (a CDN) then cannot fill the table.
  // `max_names_per_ip` (0: no limit) bounds the names one address of one identity
  // keeps; random names under an allowed wildcard that all resolve to one address
  // then cannot fill memory or learned_names. `max_ips_per_workload` (0: no limit)
  // bounds the addresses one identity holds, so that one workload answered with many
  // distinct addresses cannot fill allowed_ips, shared by all, and leave the others'
  // answers uninstalled. The pinned maps are read back, so a
  // restarted daemon keeps counting where the last stopped (names beyond
  // `max_names_per_ip` or `max_ips_per_workload` are dropped then). Port restrictions go through
  // `port_sets`; an address opens the ports of all its names (two names resolving to one address
  // open the ports of both).
  AllowedIpTable(AllowedIpMap addresses, LearnedNameMap names, PortSetTable& port_sets,
                 std::size_t max_ips_per_name = 0, std::size_t max_names_per_ip = 0,
                 std::size_t max_ips_per_workload = 0);

  // Installs each address for `identity`, keeping the later expiry when the address
  // is already there, and records `name` against it; the address opens `ports` (empty:
  // every port) besides the ports of its other names. Beyond the limit, the address
  // of `name` least recently seen in an answer loses that name, and its entry goes
  // when no other name holds it (connections already open keep their flow); beyond
  // the other limit, the name of the address least recently seen in an answer for it
  // loses it, and with it the ports only that name opened. Beyond the identity's
  // limit, its address least recently seen in an answer goes with all its names. A
  // name is kept only while it holds an address: an answer without one (NXDOMAIN,
  // NODATA) leaves nothing.
  InstallResult install(std::uint32_t identity,
                        const std::vector<resolver::LearnedAddress>& addresses,
                        const std::string& name, policy::RuleId rule,
                        const policy::PortSet& ports = {});

  // After a policy change (and once at start, when the ports of names read back from
  // the pins are not known yet): drops every name of `identity` that `policy` no
  // longer allows, removes each address no remaining name holds, and gives every
  // other address the ports its names now open and a rule that still exists.
  // Returns the addresses removed. Connections already open keep their flows.
  std::size_t applyPolicy(std::uint32_t identity, const NamePolicy& policy);

  // Takes in what was installed while this table did not look: entries the datapath
  // learned itself while the daemon was away (SIGSTOP, a stall), with the names it
  // recorded, and the later expiries it gave entries known here. Their names open
  // every port until applyPolicy() gives them their verdicts, as names read back at
  // start do; the identity's limit applies. Walks both maps: for after an absence,
  // never per answer. `earliest_expiry` (identity, name) gives the expiry before which
  // an address taken in for that name must not expire (0: none): the datapath knows
  // --min-ttl only, not a rule's minTTL, so the caller raises such expiries to what the
  // rule asks for. Returns the pairs of a name and an address taken in.
  using EarliestExpiry =
      std::function<std::uint64_t(std::uint32_t identity, const std::string& name)>;
  std::size_t adoptDatapathLearned(const EarliestExpiry& earliest_expiry = {});

  // The port_sets ids the entries refer to.
  std::set<std::uint32_t> portSetsInUse() const;

  // Removes entries whose expiry is at or before `now_ns`, with their names, `limit`
  // of them at most (so that a caller on the event loop can let answers through in
  // between); a name left without an address is forgotten. The work is in proportion
  // to the entries whose expiry came, never a walk of the map. Each learned entry that
  // goes is shown to `expired` first, as entries() lists it (so that a connection
  // attempted later can be told what the address was). Returns how many went.
  using ExpiredEntryHandler = std::function<void(const AllowedIpEntry&)>;
  std::size_t removeExpired(std::uint64_t now_ns,
                            std::size_t limit = std::numeric_limits<std::size_t>::max(),
                            const ExpiredEntryHandler& expired = {});

  std::vector<AllowedIpEntry> entries() const;
  // Where a listing in pieces goes on from.
  struct EntryCursor {
    std::size_t learned = 0;  // the next slot
    std::size_t unnamed = 0;
    bool done = false;
  };
  // Up to `count` entries from `cursor` on, moving it past them: a listing in pieces,
  // with the table changing in between. An entry present throughout is listed once;
  // one added or removed meanwhile may be listed or not, and an address removed and
  // learned again in between may be listed twice.
  std::vector<AllowedIpEntry> entries(EntryCursor& cursor, std::size_t count) const;
  // The entry of one address, read from the maps; nullopt when it has none.
  std::optional<AllowedIpEntry> entryOf(std::uint32_t identity, const IpAddress& ip) const;
  // Entries in allowed_ips.
  std::size_t size() const { return addresses_.size(); }
  // Entries in learned_names: one per name and address.
  std::size_t nameCount() const { return pairs_; }
  // Names that hold at least one address, over every identity.
  std::size_t names() const { return learned_names_.size(); }
  // Addresses of `identity` that hold a name.
  std::size_t addressesOf(std::uint32_t identity) const;
  // Whether `ip` is installed for `identity` because an answer for `name` gave it.
  bool holds(std::uint32_t identity, const std::string& name, const IpAddress& ip) const;

 private:
  // learned_names kept in memory, both ways: each name with its addresses, and each
  // address with its names, least recently seen in an answer for the other first. A
  // pair is in both or in neither, and in learned_names exactly when it is here. Half
  // a million pairs are ordinary (--max-names-per-ip names for each of
  // --max-ips-per-workload addresses), so names and addresses are kept once each, in
  // slots, and refer to each other by slot number: a pair costs two of those, 8 bytes.
  struct LearnedName {
    std::uint32_t identity = 0;
    // The rule allowing the name and the ports it opens, in verdicts_; kNoHandle for
    // a name read back from the pins, which opens every port until applyPolicy() tells.
    Handle verdict = kNoHandle;
    std::string name;
    std::vector<Handle> ips;  // least recently seen in an answer first
  };
  struct LearnedIp {
    std::uint32_t identity = 0;
    IpAddress ip;
    // What allowed_ips holds for it, as this table last wrote or read it back (nothing
    // else writes the map): an answer that changes nothing then costs no syscall.
    skouter_allowed_ip_value installed{};
    // resolver::LearnedAddress::open_for_s of the answer that set installed.expiry_ns.
    std::uint32_t open_for_s = 0;
    // The second of the boot clock under which expiring_ files it.
    std::uint64_t filed_at = 0;
    // Neighbours in the identity's addresses, by when last seen in an answer.
    Handle older = kNoHandle;
    Handle newer = kNoHandle;
    std::vector<Handle> names;  // least recently seen in an answer first
  };
  // The addresses of one identity, least recently seen in an answer first.
  struct Recency {
    Handle oldest = kNoHandle;
    Handle newest = kNoHandle;
    std::size_t count = 0;
  };
  // Names share verdicts: a policy has few (rule, ports) pairs, and every name a
  // wildcard allows has the same one.
  struct SharedVerdict {
    NameVerdict verdict;
    std::size_t users = 0;
  };

  std::optional<Handle> findName(std::uint32_t identity, std::string_view name) const;
  Handle addName(std::uint32_t identity, const std::string& name);
  void releaseName(Handle name);
  std::optional<Handle> findIp(std::uint32_t identity, const IpAddress& ip) const;
  // A new address, the most recently seen of its identity.
  Handle addIp(std::uint32_t identity, const IpAddress& ip);
  void releaseIp(Handle ip);
  // Gives `name` the shared copy of `verdict` (none when nullopt); a verdict no name
  // has any more is dropped.
  void setVerdict(LearnedName& name, std::optional<NameVerdict> verdict);
  // The verdict of `name`; null for a name read back from the pins.
  const NameVerdict* verdictOf(const LearnedName& name) const;

  // Records that `name` resolved to `ip` now: each goes to the back of the other's list,
  // and the address to the back of its identity's.
  void link(Handle ip, Handle name);
  // Drops the name from the address, in learned_names too; the name goes when it holds
  // no other address, the address and its entry when no other name holds it. True when
  // the entry went.
  bool forget(Handle ip, Handle name);
  // Moves `ip` to the back of its identity's addresses.
  void touch(Handle ip);
  // Takes `ip` out of its identity's addresses, linking its neighbours to each other.
  void untrack(const LearnedIp& ip);
  // The ports the names of `ip` open, counting `also` among them.
  policy::PortSet portsOf(std::optional<Handle> ip, const LearnedName* also = nullptr) const;
  // The rule to show for `ip`: `current` while one of its names is still allowed by
  // it, else the rule of its first name (a reload renamed or renumbered the rules).
  policy::RuleId ruleOf(Handle ip, policy::RuleId current) const;
  // Rewrites the entry of `ip` after its names or their verdicts changed; does nothing
  // when the address is gone.
  void refresh(Handle ip);
  AllowedIpEntry entryAt(Handle ip) const;
  AllowedIpEntry unnamedEntry(std::size_t index) const;
  // Files `ip` under the second its entry expires (an entry that never expires is not
  // filed).
  void file(Handle ip);
  // Removes the entry of `ip` and its names, in the maps and here.
  void remove(Handle ip);
  // Drops the names of `ip` least recently seen for it beyond max_names_per_ip_;
  // returns how many. The entry keeps its ports until refresh().
  std::size_t trimNames(Handle ip);
  // Drops the addresses of `identity` least recently seen in an answer beyond
  // max_ips_per_workload_, with all their names; returns how many.
  std::size_t trimWorkload(std::uint32_t identity);

  CountedMap<skouter_allowed_ip_key, skouter_allowed_ip_value> addresses_;
  LearnedNameMap names_;
  PortSetTable& port_sets_;
  std::size_t max_ips_per_name_;
  std::size_t max_names_per_ip_;
  std::size_t max_ips_per_workload_;
  SlotPool<LearnedName> learned_names_;
  HandleIndex name_index_;  // by identity and name
  SlotPool<LearnedIp> learned_ips_;
  HandleIndex ip_index_;  // by identity and address
  std::map<std::uint32_t, Recency> recency_;
  // Each learned address filed under the second its entry expires, for removeExpired():
  // when that second comes, an address whose expiry moved later since is filed again
  // under its new one, so an answer that extends an entry costs nothing here. A filing
  // whose slot went to another address since no longer matches its filed_at, and goes.
  std::map<std::uint64_t, std::vector<Handle>> expiring_;
  // Entries of allowed_ips no learned name holds, found at start (left by a daemon
  // killed while it removed one, or from an older layout): listed, and removed when
  // they expire, like the others.
  std::vector<std::pair<skouter_allowed_ip_key, skouter_allowed_ip_value>> unnamed_;
  SlotPool<SharedVerdict> verdicts_;
  std::map<NameVerdict, Handle> verdict_index_;
  std::size_t pairs_ = 0;
};

}  // namespace skouter::maps
