// The Egress resource (egress.skouter/v1alpha1) as written by operators, after
// validation. Field names follow the YAML.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/ip_address.h"

namespace skouter::policy {

// A Kubernetes label selector requirement (matchExpressions item).
struct LabelRequirement {
  enum class Operator { kIn, kNotIn, kExists, kDoesNotExist };
  std::string key;
  Operator op = Operator::kExists;
  std::vector<std::string> values;  // In / NotIn only
};

struct LabelSelector {
  std::map<std::string, std::string> match_labels;
  std::vector<LabelRequirement> match_expressions;
  // Every matchLabels pair and every expression must hold; an empty selector ({})
  // selects everything.
  bool matches(const std::map<std::string, std::string>& labels) const;
};

struct EgressRule {
  // Lower case, no trailing dot. "*.example.com" stands for every name below
  // example.com (one or more labels, never the apex); "*" for every name.
  std::vector<std::string> domains;
  std::vector<std::string> regexes;  // `regex` and its alias `fqdn`, as written
  std::vector<IpPrefix> ips;         // full-length prefixes
  std::vector<IpPrefix> cidrs;       // normalized: host bits cleared
};

struct Egress {
  std::string name;
  std::string namespace_name;  // empty when metadata.namespace is absent
  std::string source;          // file the document came from
  int document = 0;            // 1-based index of the document in that file
  // Absent nodeSelector: the Egress selects no node (it is meant for pods).
  std::optional<LabelSelector> node_selector;
  std::vector<EgressRule> rules;
};

// A policy that cannot be loaded. what() names the file, the document, the field and,
// where known, the line: "policy.yaml: document 2 (metadata.name=web), line 14:
// spec.rules[1].cidrs[0]: '10.0.0.0/33' is not a valid CIDR".
class PolicyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace skouter::policy
