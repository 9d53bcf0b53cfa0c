#include "resolver/observed_names.h"

#include <algorithm>

namespace skouter::resolver {

void ObservedNames::record(std::uint32_t identity, const std::string& name,
                           const std::vector<IpAddress>& addresses) {
  if (capacity_ == 0) return;
  for (const IpAddress& address : addresses) {
    const Key key{identity, address};
    auto found = names_.find(key);
    if (found == names_.end()) {
      if (names_.size() >= capacity_) {
        names_.erase(least_recent_first_.front());
        least_recent_first_.pop_front();
        ++forgotten_;
      }
      least_recent_first_.push_back(key);
      found = names_.emplace(key, Names{{}, std::prev(least_recent_first_.end())}).first;
    } else {
      least_recent_first_.splice(least_recent_first_.end(), least_recent_first_,
                                 found->second.recency);
    }
    auto& names = found->second.most_recent_last;
    names.remove(name);
    names.push_back(name);
    if (names.size() > kMaxNamesPerAddress) names.pop_front();
  }
}

std::vector<std::string> ObservedNames::namesOf(std::uint32_t identity,
                                                const IpAddress& address) const {
  const auto found = names_.find({identity, address});
  if (found == names_.end()) return {};
  std::vector<std::string> names(found->second.most_recent_last.begin(),
                                 found->second.most_recent_last.end());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace skouter::resolver
