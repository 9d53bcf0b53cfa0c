#include "policy/egress.h"

#include <algorithm>

namespace skouter::policy {

namespace {

bool holds(const LabelRequirement& requirement, const std::map<std::string, std::string>& labels) {
  const auto label = labels.find(requirement.key);
  const bool listed =
      label != labels.end() && std::find(requirement.values.begin(), requirement.values.end(),
                                         label->second) != requirement.values.end();
  switch (requirement.op) {
    case LabelRequirement::Operator::kIn:
      return listed;
    case LabelRequirement::Operator::kNotIn:
      return !listed;  // as in Kubernetes, an absent label is "not in"
    case LabelRequirement::Operator::kExists:
      return label != labels.end();
    case LabelRequirement::Operator::kDoesNotExist:
      return label == labels.end();
  }
  return false;
}

}  // namespace

bool LabelSelector::matches(const std::map<std::string, std::string>& labels) const {
  const bool labels_match =
      std::all_of(match_labels.begin(), match_labels.end(), [&labels](const auto& required) {
        const auto label = labels.find(required.first);
        return label != labels.end() && label->second == required.second;
      });
  return labels_match &&
         std::all_of(match_expressions.begin(), match_expressions.end(),
                     [&labels](const auto& requirement) { return holds(requirement, labels); });
}

}  // namespace skouter::policy
