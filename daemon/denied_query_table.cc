#include "daemon/denied_query_table.h"

#include <algorithm>

namespace skouter::daemon {

namespace {

using Clock = std::chrono::system_clock;

std::int64_t minuteOf(Clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::minutes>(time.time_since_epoch()).count();
}

// The minute's counts moved on to `minute`.
void advance(std::int64_t& at, std::uint64_t& this_minute, std::uint64_t& minute_before,
             std::int64_t minute) {
  if (minute == at) return;
  minute_before = minute == at + 1 ? this_minute : 0;
  this_minute = 0;
  at = minute;
}

}  // namespace

void DeniedQueryTable::record(std::uint32_t identity, const std::string& name,
                              Clock::time_point now) {
  if (capacity_ == 0) return;
  auto found = entries_.find(identity);
  if (found == entries_.end()) {
    if (entries_.size() >= capacity_) {
      entries_.erase(least_recent_first_.front());
      least_recent_first_.pop_front();
      ++forgotten_;
    }
    found = entries_.emplace(identity, Entry{}).first;
    found->second.queries.identity = identity;
    found->second.queries.first_seen = now;
    found->second.minute = minuteOf(now);
    found->second.recency = least_recent_first_.insert(least_recent_first_.end(), identity);
  } else {
    least_recent_first_.splice(least_recent_first_.end(), least_recent_first_,
                               found->second.recency);
  }
  Entry& entry = found->second;
  ++entry.queries.count;
  entry.queries.last_seen = now;
  advance(entry.minute, entry.this_minute, entry.minute_before, minuteOf(now));
  ++entry.this_minute;
  std::erase(entry.names, name);
  entry.names.push_front(name);
  if (entry.names.size() > kNamesPerWorkload) entry.names.pop_back();
}

std::vector<DeniedQueries> DeniedQueryTable::workloads(Clock::time_point now) const {
  std::vector<DeniedQueries> result;
  for (auto it = least_recent_first_.rbegin(); it != least_recent_first_.rend(); ++it) {
    const Entry& entry = entries_.at(*it);
    DeniedQueries queries = entry.queries;
    std::int64_t minute = entry.minute;
    std::uint64_t this_minute = entry.this_minute;
    std::uint64_t minute_before = entry.minute_before;
    advance(minute, this_minute, minute_before, minuteOf(now));
    const double into_minute =
        static_cast<double>((now.time_since_epoch() % std::chrono::minutes(1)).count()) /
        static_cast<double>(
            std::chrono::duration_cast<Clock::duration>(std::chrono::minutes(1)).count());
    queries.per_minute =
        static_cast<double>(minute_before) * (1.0 - into_minute) + static_cast<double>(this_minute);
    queries.latest_names.assign(entry.names.begin(), entry.names.end());
    result.push_back(std::move(queries));
  }
  return result;
}

}  // namespace skouter::daemon
