#include "daemon/expired_addresses.h"

#include <algorithm>

#include "common/datapath_clock.h"

namespace skouter::daemon {

std::string describeLateConnection(const LateConnection& late, const std::string& destination) {
  std::string names;
  for (const auto& name : late.names) names += (names.empty() ? "" : ", ") + name;
  return "learned for " + (names.empty() ? destination : names) + ", expired " +
         std::to_string(late.expired_ago_s) + " s ago";
}

void ExpiredAddresses::remember(const maps::AllowedIpEntry& entry) {
  if (capacity_ == 0 || entry.expiry_ns == 0) return;
  if (entry.expiry_ns > window_ns_) forgetExpiredBefore(entry.expiry_ns - window_ns_);
  const Key key{entry.identity, entry.ip};
  if (const auto found = index_.find(key); found != index_.end()) {
    records_.erase(found->second);
    index_.erase(found);
  } else if (records_.size() >= capacity_) {
    index_.erase(records_.front().key);
    records_.pop_front();
    ++evicted_;
  }
  Record record{.key = key,
                .names = entry.names,
                .rule = entry.rule,
                .expiry_ns = entry.expiry_ns,
                .open_for_s = entry.open_for_s};
  if (record.names.size() > kNamesKept) record.names.resize(kNamesKept);
  records_.push_back(std::move(record));
  index_.emplace(key, std::prev(records_.end()));
}

void ExpiredAddresses::forgetExpiredBefore(std::uint64_t cutoff_ns) {
  // Addresses are removed about in the order they expire, so the oldest are in front;
  // one remembered out of order is forgotten a little late, which the lookup checks.
  while (!records_.empty() && records_.front().expiry_ns < cutoff_ns) {
    index_.erase(records_.front().key);
    records_.pop_front();
  }
}

std::optional<LateConnection> ExpiredAddresses::lateConnection(
    std::uint32_t identity, const IpAddress& destination,
    const std::optional<maps::AllowedIpEntry>& installed, std::uint64_t now_ns) const {
  const auto late = [now_ns](const std::vector<std::string>& names, policy::RuleId rule,
                             std::uint64_t expiry_ns, std::uint32_t open_for_s) {
    return LateConnection{.names = names,
                          .rule = rule,
                          .expired_ago_s = (now_ns - expiry_ns) / kNanosPerSecond,
                          .open_for_s = open_for_s};
  };
  if (installed) {
    if (installed->expiry_ns == 0 || installed->expiry_ns > now_ns) return std::nullopt;
    return late(installed->names, installed->rule, installed->expiry_ns, installed->open_for_s);
  }
  const auto found = index_.find(Key{identity, destination});
  if (found == index_.end()) return std::nullopt;
  const Record& record = *found->second;
  if (record.expiry_ns > now_ns || now_ns - record.expiry_ns > window_ns_) return std::nullopt;
  return late(record.names, record.rule, record.expiry_ns, record.open_for_s);
}

void ExpiredAddresses::keepCountsOf(const std::set<std::uint32_t>& identities) {
  std::erase_if(counts_, [&](const auto& count) { return !identities.contains(count.first); });
}

}  // namespace skouter::daemon
