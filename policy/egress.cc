#include "policy/egress.h"

#include <algorithm>

namespace skouter::policy {

bool LabelSelector::matches(const std::map<std::string, std::string>& labels) const {
  return std::all_of(match_labels.begin(), match_labels.end(), [&labels](const auto& required) {
    const auto label = labels.find(required.first);
    return label != labels.end() && label->second == required.second;
  });
}

}  // namespace skouter::policy
