#include "daemon/audit_table.h"

#include <algorithm>

namespace skouter::daemon {

bool AuditTable::record(const FlowEvent& flow, std::vector<std::string> names,
                        std::chrono::system_clock::time_point now,
                        const std::optional<LateConnection>& late) {
  if (capacity_ == 0) return false;
  const Key key{flow.identity, flow.destination, flow.protocol, flow.port};
  auto found = records_.find(key);
  const bool fresh = found == records_.end();
  if (fresh) {
    if (records_.size() >= capacity_) {
      records_.erase(least_recent_first_.front());
      least_recent_first_.pop_front();
      ++forgotten_;
    }
    least_recent_first_.push_back(key);
    AuditRecord fresh;
    fresh.first_seen = now;
    found = records_.emplace(key, Entry{fresh, std::prev(least_recent_first_.end())}).first;
  } else {
    least_recent_first_.splice(least_recent_first_.end(), least_recent_first_,
                               found->second.recency);
  }
  AuditRecord& record = found->second.record;
  record.flow = flow;
  // The names are those of the latest answers; an address that no answer named any
  // more keeps the names it had.
  if (!names.empty()) record.names = std::move(names);
  ++record.count;
  record.last_seen = now;
  if (late) {
    ++record.late_count;
    record.late = late;
    record.max_expired_ago_s = std::max(record.max_expired_ago_s, late->expired_ago_s);
    record.max_open_for_s = std::max(record.max_open_for_s, late->open_for_s);
  }
  return fresh;
}

std::vector<AuditRecord> AuditTable::records() const {
  std::vector<AuditRecord> result;
  result.reserve(records_.size());
  for (auto key = least_recent_first_.rbegin(); key != least_recent_first_.rend(); ++key) {
    result.push_back(records_.at(*key).record);
  }
  return result;
}

}  // namespace skouter::daemon
