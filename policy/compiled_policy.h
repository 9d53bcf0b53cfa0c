// The policy as the daemon enforces it for one node: what the loader read, reduced to
// the questions the answer path and the datapath ask. Built once per policy load;
// matching touches no I/O and no mutable state of ours.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/ip_address.h"
#include "policy/egress.h"

namespace skouter::policy {

// Stable id of one rule: a 32-bit FNV-1a hash of its description, so ids written into
// pinned maps keep their meaning across restarts of the same policy.
using RuleId = std::uint32_t;

// Which names a workload may resolve: exact names in a hash, wildcard suffixes in a
// hash walked label by label, all regexes in one RE2::Set. Case-insensitive; a
// trailing dot on the name is ignored.
class NameMatcher {
 public:
  NameMatcher();
  ~NameMatcher();
  NameMatcher(NameMatcher&&) noexcept;
  NameMatcher& operator=(NameMatcher&&) noexcept;

  void addExact(std::string_view name, RuleId rule);
  // Every name below `suffix` (one or more labels), never `suffix` itself.
  void addWildcard(std::string_view suffix, RuleId rule);
  // Every name at all ("*").
  void addAnyName(RuleId rule);
  // Throws std::invalid_argument with RE2's message on a bad pattern.
  void addRegex(std::string_view pattern, RuleId rule);
  // Must be called once after the last add and before match. Throws
  // std::invalid_argument when the regexes together exceed RE2's memory budget.
  void compile();

  // The rule allowing `name`, if any: an exact name first, then the longest
  // wildcard suffix, then the earliest regex, then "*".
  std::optional<RuleId> match(std::string_view name) const;

  std::size_t exactCount() const { return exact_.size(); }
  // The exact names, for looking them up ahead of any client (pre-warming).
  std::vector<std::string> exactNames() const;
  std::size_t wildcardCount() const { return wildcard_suffixes_.size(); }
  // The exact names and the wildcards' suffixes (lower case, no trailing dot) with the
  // rule allowing each: what the datapath can match by itself (see LearnableNameTable).
  std::vector<std::pair<std::string, RuleId>> exactRules() const;
  std::vector<std::pair<std::string, RuleId>> wildcardRules() const;
  bool allowsAnyName() const { return any_name_.has_value(); }

  // Names only an exact rule allows: no wildcard, regex or "*" does (the public
  // resolvers that serve DNS over HTTPS, to a workload whose queries are policed).
  // Lower case, no trailing dot. May be called after compile().
  void withhold(std::vector<std::string> names);
  // Whether `name` is withheld and no exact rule allows it.
  bool withholds(std::string_view name) const;
  // Whether a withheld name lies below `suffix`: a wildcard on it allows less than
  // every name below it.
  bool withholdsBelow(std::string_view suffix) const;
  std::size_t regexCount() const { return regex_rules_.size(); }

 private:
  // Lets exact_ be searched with a string_view without building a std::string.
  struct TransparentHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view name) const {
      return std::hash<std::string_view>{}(name);
    }
  };
  // RE2::Set is nested in RE2 and cannot be forward-declared; this wraps it so the
  // header stays free of RE2.
  class RegexSet;

  using NameTable = std::unordered_map<std::string, RuleId, TransparentHash, std::equal_to<>>;
  NameTable exact_;
  NameTable wildcard_suffixes_;
  std::optional<RuleId> any_name_;
  std::vector<std::string> withheld_;
  std::unique_ptr<RegexSet> regexes_;
  std::vector<RuleId> regex_rules_;
};

struct StaticEntry {
  IpPrefix prefix;
  RuleId rule = 0;  // the first rule listing the prefix
  // The ports every rule listing this prefix or a wider one allows: the datapath finds
  // only the longest matching prefix, so it must carry what the wider ones allow too.
  PortSet ports;
  auto operator<=>(const StaticEntry&) const = default;
};

// The policy of one workload (the node's own traffic, or one pod): the union of the
// rules of every Egress that selects it.
struct CompiledPolicy {
  // True when at least one Egress selects the workload: only then is it policed.
  bool polices = false;
  NameMatcher names;
  // Static IPs and CIDRs, deduplicated and sorted; an IP is a full-length prefix.
  std::vector<StaticEntry> static_entries;
  // RuleId -> "egress-name/rules[i]" (with "namespace/" in front when set).
  std::map<RuleId, std::string> rule_descriptions;
  // The ports of each rule that restricts them; a rule not listed allows every port.
  std::map<RuleId, PortSet> rule_ports;
  // The minTTL of each rule that sets one (seconds).
  std::map<RuleId, std::uint32_t> rule_min_ttls;
  // Egresses in mode audit that select the workload: if any does, nothing is dropped.
  std::vector<std::string> audit_egresses;
  // --audit: nothing is dropped, whatever the Egresses say.
  bool audit_everything = false;
  // spec.denyResponse of the first selecting Egress (in load order) that sets one.
  std::optional<DenyResponse> deny_response;
  // The rules whose learned addresses have their server names checked (spec.tls of
  // their Egress, or --verify-sni for every rule).
  std::map<RuleId, ServerNameCheck> server_name_checks;
  // spec.queries of the selecting Egresses: deny when any says deny, allow when one
  // says allow and none deny, absent when none says.
  std::optional<QueryMode> query_mode;
  // Set when the workload's queries are policed (see policeQueries): names that may be
  // queried whatever the rules say, each with every name below it (the cluster's own,
  // which search-path expansions ask for), lower case, no trailing dot.
  std::optional<std::vector<std::string>> queryable_suffixes;

  bool audit() const { return audit_everything || !audit_egresses.empty(); }
  // The ports `rule` allows (empty: every port).
  const PortSet& portsOf(RuleId rule) const;
};

using Labels = std::map<std::string, std::string>;
using NodeLabels = Labels;

// What pod selection looks at: the pod's namespace and labels, and its namespace's.
struct PodSelectionFacts {
  std::string namespace_name;
  Labels labels;
  Labels namespace_labels;
};

// podSelector picks pods in the Egress's own namespace ("default" when it has none);
// namespaceSelector widens that to the pods of every namespace it matches.
bool selectsPod(const Egress& egress, const PodSelectionFacts& pod);
bool selectsNode(const Egress& egress, const NodeLabels& labels);

// Unions the rules of every Egress in `egresses` for which `selects` is true (in order).
// Throws PolicyError if a regex does not compile or an Egress is defined twice.
CompiledPolicy compileSelected(const std::vector<Egress>& egresses,
                               const std::function<bool(const Egress&)>& selects);

// An Egress left out of one workload's policy because it cannot be united with the
// Egresses before it that select the workload too.
struct LeftOutEgress {
  std::size_t index = 0;  // into the Egresses compiled
  std::string reason;
  auto operator<=>(const LeftOutEgress&) const = default;
};

struct WorkloadPolicy {
  CompiledPolicy policy;
  std::vector<LeftOutEgress> left_out;  // in the order of the Egresses
};

// As compileSelected, except that an Egress which cannot be united with the selected
// ones before it (the same Egress twice, a rule id colliding with theirs, its regexes
// and theirs together beyond RE2's memory budget) is left out of this workload's policy
// instead of failing it, so one such Egress never keeps the others from being
// enforced. The earlier Egress is kept: `egresses` go in order of precedence. A
// workload that an Egress selects is policed even when every one is left out.
WorkloadPolicy compileLeavingOut(const std::vector<Egress>& egresses,
                                 const std::function<bool(const Egress&)>& selects);
// The node's own traffic: every Egress whose nodeSelector matches `labels`.
CompiledPolicy compileForNode(const std::vector<Egress>& egresses, const NodeLabels& labels);

RuleId ruleIdOf(std::string_view description);

// --verify-sni: `check` for every rule of `policy` whose Egress sets none of its own.
void checkServerNamesOfEveryRule(CompiledPolicy& policy, const ServerNameCheck& check);

// How queries are policed (--deny-queries, --allow-query-suffix, --encrypted-dns-names).
struct QueryPolicingSettings {
  bool deny_by_default = false;  // for workloads no Egress of which sets spec.queries
  std::vector<std::string> queryable_suffixes;
  std::vector<std::string> encrypted_dns_names;
};
// Polices the queries of `policy` when its Egresses (or, when none says, the settings)
// deny them: sets queryable_suffixes and withholds the encrypted DNS names. A policy
// that allows every name, or polices nothing, is left alone.
void policeQueries(CompiledPolicy& policy, const QueryPolicingSettings& settings);

}  // namespace skouter::policy
