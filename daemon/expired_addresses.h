// Learned addresses whose expiry passed, remembered for a while after they are removed,
// so that a new flow denied to one can be told apart from a flow to an address the
// workload was never given: a "late connection", the mark of a client that caches an
// answer past its TTL (the JVM, .NET). Bounded twice: at most `capacity` addresses
// (the one that expired least recently is forgotten first) for at most `window_s`
// seconds after their expiry. Pure: the caller passes the clock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "bpf/maps/allowed_ip_entry.h"
#include "common/ip_address.h"
#include "policy/compiled_policy.h"

namespace skouter::daemon {

// A new flow to an address that was learned for the workload and expired.
struct LateConnection {
  std::vector<std::string> names;  // the names it was learned for, sorted
  policy::RuleId rule = 0;         // the rule that allowed them
  std::uint64_t expired_ago_s = 0;
  // How long the last answer for it kept it open (the TTL after --min-ttl, --max-ttl,
  // minTTL and --ttl-grace); 0 when not known.
  std::uint32_t open_for_s = 0;
};

// "learned for api.example.com, expired 12 s ago": the words every log line, event
// and explanation uses for a late connection (`destination` stands in for no name).
std::string describeLateConnection(const LateConnection& late, const std::string& destination);

class ExpiredAddresses {
 public:
  // The names one address keeps here: those `audit` and `monitor` show of a
  // destination are bounded alike (resolver/observed_names.h).
  static constexpr std::size_t kNamesKept = 8;

  ExpiredAddresses(std::size_t capacity, std::uint64_t window_s)
      : capacity_(capacity), window_ns_(window_s * 1'000'000'000ull) {}

  // `entry`, a learned address, expired and is being removed. Forgets what expired
  // longer than the window before it.
  void remember(const maps::AllowedIpEntry& entry);

  // Whether a new flow of `identity` to `destination`, denied at `now_ns`, is a late
  // connection. `installed` is what allowed_ips holds for it now: an entry whose expiry
  // passed and that no sweep removed yet counts; one that has not expired does not (the
  // flow was denied for another reason, its port); without one, what was remembered
  // within the window.
  std::optional<LateConnection> lateConnection(std::uint32_t identity, const IpAddress& destination,
                                               const std::optional<maps::AllowedIpEntry>& installed,
                                               std::uint64_t now_ns) const;

  // One late connection of `identity` (for skouter_late_connections_total).
  void count(std::uint32_t identity) { ++counts_[identity]; }
  // Late connections by identity, of the identities kept by keepCountsOf().
  const std::map<std::uint32_t, std::uint64_t>& counts() const { return counts_; }
  // Forgets the counts of identities that are gone (pods deleted), so that the
  // metric's labels stay as bounded as the workloads.
  void keepCountsOf(const std::set<std::uint32_t>& identities);

  std::size_t size() const { return records_.size(); }
  std::size_t capacity() const { return capacity_; }
  // Remembered addresses forgotten before their window ended, for lack of room.
  std::uint64_t evicted() const { return evicted_; }

 private:
  using Key = std::pair<std::uint32_t, IpAddress>;
  struct Record {
    Key key;
    std::vector<std::string> names;
    policy::RuleId rule = 0;
    std::uint64_t expiry_ns = 0;
    std::uint32_t open_for_s = 0;
  };

  void forgetExpiredBefore(std::uint64_t cutoff_ns);

  std::size_t capacity_;
  std::uint64_t window_ns_;
  // Least recently expired first.
  std::list<Record> records_;
  std::map<Key, std::list<Record>::iterator> index_;
  std::map<std::uint32_t, std::uint64_t> counts_;
  std::uint64_t evicted_ = 0;
};

}  // namespace skouter::daemon
