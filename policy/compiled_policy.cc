#include "policy/compiled_policy.h"

#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>
#include <array>
#include <stdexcept>

namespace skouter::policy {
namespace {

// A DNS name has at most 253 characters without its trailing dot. Longer names cannot
// be resolved, so match() denies them instead of sizing its buffer for them.
constexpr std::size_t kMaxNameLength = 253;

// Where kubectl puts an object written without metadata.namespace.
constexpr const char* kDefaultNamespace = "default";

// std::tolower depends on the locale; DNS case folding is ASCII only.
char asciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view withoutTrailingDot(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return name;
}

RE2::Options regexOptions() {
  RE2::Options options;
  options.set_case_sensitive(false);
  // Bad patterns are reported to the caller through the exception, not on stderr.
  options.set_log_errors(false);
  return options;
}

std::string qualifiedName(const Egress& egress) {
  return egress.namespace_name.empty() ? egress.name : egress.namespace_name + "/" + egress.name;
}

std::string describeRule(const Egress& egress, std::size_t index) {
  return qualifiedName(egress) + "/rules[" + std::to_string(index) + "]";
}

std::string originOf(const Egress& egress) {
  if (egress.source.empty()) return "";
  return " (" + egress.source + ": document " + std::to_string(egress.document) + ")";
}

// One entry per prefix, in prefix order: the first rule listing it, and the ports of
// every rule listing it or a prefix containing it.
std::vector<StaticEntry> mergeStaticEntries(const std::vector<StaticEntry>& listed) {
  std::map<IpPrefix, StaticEntry> by_prefix;
  for (const StaticEntry& entry : listed) {
    const auto [found, inserted] = by_prefix.emplace(entry.prefix, entry);
    if (!inserted) found->second.ports = unitePorts(found->second.ports, entry.ports);
  }
  std::vector<StaticEntry> merged;
  merged.reserve(by_prefix.size());
  for (const auto& [prefix, entry] : by_prefix) {
    StaticEntry widened = entry;
    for (unsigned length = prefix.length; length-- > 0 && !widened.ports.empty();) {
      const auto wider = by_prefix.find(IpPrefix::of(prefix.address, length));
      if (wider != by_prefix.end()) widened.ports = unitePorts(widened.ports, wider->second.ports);
    }
    merged.push_back(std::move(widened));
  }
  return merged;
}

}  // namespace

// Anchored at both ends: a regex has to describe the whole name, so
// `.*\.wikipedia\.org` does not allow wikipedia.org.attacker.test.
class NameMatcher::RegexSet : public RE2::Set {
 public:
  RegexSet() : RE2::Set(regexOptions(), RE2::ANCHOR_BOTH) {}
};

NameMatcher::NameMatcher() : regexes_(std::make_unique<RegexSet>()) {}
NameMatcher::~NameMatcher() = default;
NameMatcher::NameMatcher(NameMatcher&&) noexcept = default;
NameMatcher& NameMatcher::operator=(NameMatcher&&) noexcept = default;

void NameMatcher::addExact(std::string_view name, RuleId rule) {
  std::string key(withoutTrailingDot(name));
  std::transform(key.begin(), key.end(), key.begin(), asciiLower);
  // The first rule to allow a name keeps it, as for static entries.
  exact_.emplace(std::move(key), rule);
}

void NameMatcher::addWildcard(std::string_view suffix, RuleId rule) {
  std::string key(withoutTrailingDot(suffix));
  std::transform(key.begin(), key.end(), key.begin(), asciiLower);
  wildcard_suffixes_.emplace(std::move(key), rule);
}

void NameMatcher::addAnyName(RuleId rule) {
  if (!any_name_) any_name_ = rule;
}

void NameMatcher::addRegex(std::string_view pattern, RuleId rule) {
  std::string error;
  if (regexes_->Add(pattern, &error) < 0) throw std::invalid_argument(error);
  regex_rules_.push_back(rule);
}

void NameMatcher::compile() {
  if (!regexes_->Compile()) {
    throw std::invalid_argument("the regexes together exceed RE2's memory budget");
  }
}

std::vector<std::string> NameMatcher::exactNames() const {
  std::vector<std::string> names;
  for (const auto& [name, rule] : exact_) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::pair<std::string, RuleId>> NameMatcher::exactRules() const {
  return {exact_.begin(), exact_.end()};
}

std::vector<std::pair<std::string, RuleId>> NameMatcher::wildcardRules() const {
  return {wildcard_suffixes_.begin(), wildcard_suffixes_.end()};
}

std::optional<RuleId> NameMatcher::match(std::string_view name) const {
  name = withoutTrailingDot(name);
  if (name.size() > kMaxNameLength) return std::nullopt;
  std::array<char, kMaxNameLength> buffer;
  std::transform(name.begin(), name.end(), buffer.begin(), asciiLower);
  const std::string_view lowered(buffer.data(), name.size());

  if (const auto exact = exact_.find(lowered); exact != exact_.end()) return exact->second;
  if (!withheld_.empty() &&
      std::find(withheld_.begin(), withheld_.end(), lowered) != withheld_.end()) {
    return std::nullopt;
  }
  // The suffixes after each dot, longest first: a.b.example.com tries b.example.com,
  // example.com, com. The name itself is never tried, so no wildcard covers its apex.
  if (!wildcard_suffixes_.empty()) {
    for (std::size_t dot = lowered.find('.'); dot != std::string_view::npos;
         dot = lowered.find('.', dot + 1)) {
      // A dot inside a label is escaped ("example\.com" is one label).
      std::size_t backslashes = 0;
      while (backslashes < dot && lowered[dot - 1 - backslashes] == '\\') ++backslashes;
      if (backslashes % 2) continue;
      const auto found = wildcard_suffixes_.find(lowered.substr(dot + 1));
      if (found != wildcard_suffixes_.end()) return found->second;
    }
  }
  if (!regex_rules_.empty()) {
    std::vector<int> matched;
    if (regexes_->Match(lowered, &matched)) {
      // RE2 reports matches in no particular order; the earliest regex decides, so
      // the answer does not depend on RE2's internals.
      return regex_rules_[*std::min_element(matched.begin(), matched.end())];
    }
  }
  return any_name_;
}

void NameMatcher::withhold(std::vector<std::string> names) { withheld_ = std::move(names); }

bool NameMatcher::withholds(std::string_view name) const {
  name = withoutTrailingDot(name);
  if (name.size() > kMaxNameLength) return false;
  std::string lowered(name);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(), asciiLower);
  return std::find(withheld_.begin(), withheld_.end(), lowered) != withheld_.end() &&
         !exact_.contains(lowered);
}

bool NameMatcher::withholdsBelow(std::string_view suffix) const {
  return std::any_of(withheld_.begin(), withheld_.end(), [suffix](const std::string& name) {
    return name.size() > suffix.size() + 1 && name.ends_with(suffix) &&
           name[name.size() - suffix.size() - 1] == '.';
  });
}

bool selectsPod(const Egress& egress, const PodSelectionFacts& pod) {
  if (!egress.pod_selector && !egress.namespace_selector) return false;
  if (egress.pod_selector && !egress.pod_selector->matches(pod.labels)) return false;
  const std::string& own_namespace =
      egress.namespace_name.empty() ? kDefaultNamespace : egress.namespace_name;
  return pod.namespace_name == own_namespace ||
         (egress.namespace_selector && egress.namespace_selector->matches(pod.namespace_labels));
}

bool selectsNode(const Egress& egress, const NodeLabels& labels) {
  return egress.node_selector && egress.node_selector->matches(labels);
}

CompiledPolicy compileForNode(const std::vector<Egress>& egresses, const NodeLabels& labels) {
  return compileSelected(egresses,
                         [&labels](const Egress& egress) { return selectsNode(egress, labels); });
}

namespace {

// Why the rules of `egress` cannot join the rules `known` describes: the same Egress
// twice, or a rule id (a 32-bit hash) that collides with another rule's, its own
// included.
std::optional<std::string> ruleIdConflict(const Egress& egress,
                                          const std::map<RuleId, std::string>& known) {
  std::map<RuleId, std::string> own;
  for (std::size_t index = 0; index < egress.rules.size(); ++index) {
    const std::string description = describeRule(egress, index);
    const RuleId id = ruleIdOf(description);
    const std::string* other = nullptr;
    if (const auto found = known.find(id); found != known.end()) {
      other = &found->second;
    } else if (const auto mine = own.find(id); mine != own.end()) {
      other = &mine->second;
    }
    if (!other) {
      own.emplace(id, description);
      continue;
    }
    if (*other == description) {
      return description + originOf(egress) + ": Egress " + qualifiedName(egress) +
             " is defined more than once";
    }
    return description + originOf(egress) + ": its rule id collides with " + *other +
           "; rename one of the two Egress resources";
  }
  return std::nullopt;
}

// Adds the rules of `egress`, which ruleIdConflict found none for, to `policy`.
void addEgress(CompiledPolicy& policy, const Egress& egress) {
  policy.polices = true;
  if (egress.mode == EgressMode::kAudit) policy.audit_egresses.push_back(qualifiedName(egress));
  if (!policy.deny_response) policy.deny_response = egress.deny_response;
  if (egress.queries && policy.query_mode != QueryMode::kDeny) policy.query_mode = egress.queries;
  for (std::size_t index = 0; index < egress.rules.size(); ++index) {
    const EgressRule& rule = egress.rules[index];
    const std::string description = describeRule(egress, index);
    const RuleId id = ruleIdOf(description);
    policy.rule_descriptions.emplace(id, description);
    for (const std::string& domain : rule.domains) {
      if (domain == "*") {
        policy.names.addAnyName(id);
      } else if (domain.starts_with("*.")) {
        policy.names.addWildcard(domain.substr(2), id);
      } else {
        policy.names.addExact(domain, id);
      }
    }
    for (const std::string& regex : rule.regexes) {
      try {
        policy.names.addRegex(regex, id);
      } catch (const std::invalid_argument& error) {
        throw PolicyError(description + originOf(egress) + ": invalid regex '" + regex +
                          "': " + error.what());
      }
    }
    if (!rule.ports.empty()) policy.rule_ports.emplace(id, rule.ports);
    if (rule.min_ttl_s) policy.rule_min_ttls.emplace(id, *rule.min_ttl_s);
    if (egress.server_names) policy.server_name_checks.emplace(id, *egress.server_names);
    for (const IpPrefix& ip : rule.ips) policy.static_entries.push_back({ip, id, rule.ports});
    for (const IpPrefix& cidr : rule.cidrs) policy.static_entries.push_back({cidr, id, rule.ports});
  }
}

CompiledPolicy unite(const std::vector<const Egress*>& egresses) {
  CompiledPolicy policy;
  for (const Egress* egress : egresses) {
    if (const auto conflict = ruleIdConflict(*egress, policy.rule_descriptions)) {
      throw PolicyError(*conflict);
    }
    addEgress(policy, *egress);
  }
  try {
    policy.names.compile();
  } catch (const std::invalid_argument& error) {
    throw PolicyError(std::string("cannot compile the policy's regexes: ") + error.what());
  }
  policy.static_entries = mergeStaticEntries(policy.static_entries);
  return policy;
}

bool hasRegexes(const Egress& egress) {
  return std::any_of(egress.rules.begin(), egress.rules.end(),
                     [](const EgressRule& rule) { return !rule.regexes.empty(); });
}

// Whether the regexes of `egresses` compile together.
bool regexesCompile(const std::vector<const Egress*>& egresses) {
  NameMatcher matcher;
  try {
    for (const Egress* egress : egresses) {
      for (const EgressRule& rule : egress->rules) {
        for (const std::string& regex : rule.regexes) matcher.addRegex(regex, 0);
      }
    }
    matcher.compile();
    return true;
  } catch (const std::invalid_argument&) {
    return false;
  }
}

// Why the regexes of `candidate` cannot join those of `before`, which compile together.
std::optional<std::string> regexConflict(const std::vector<const Egress*>& before,
                                         const Egress& candidate) {
  NameMatcher matcher;
  std::string before_names;
  for (const Egress* egress : before) {
    before_names += (before_names.empty() ? "" : ", ") + qualifiedName(*egress);
    for (const EgressRule& rule : egress->rules) {
      for (const std::string& regex : rule.regexes) matcher.addRegex(regex, 0);
    }
  }
  for (std::size_t index = 0; index < candidate.rules.size(); ++index) {
    for (const std::string& regex : candidate.rules[index].regexes) {
      try {
        matcher.addRegex(regex, 0);
      } catch (const std::invalid_argument& error) {
        return describeRule(candidate, index) + originOf(candidate) + ": invalid regex '" + regex +
               "': " + error.what();
      }
    }
  }
  try {
    matcher.compile();
  } catch (const std::invalid_argument&) {
    return "Egress " + qualifiedName(candidate) + originOf(candidate) + ": its regexes " +
           (before.empty() ? "alone exceed" : "and those of " + before_names + " together exceed") +
           " RE2's memory budget";
  }
  return std::nullopt;
}

}  // namespace

CompiledPolicy compileSelected(const std::vector<Egress>& egresses,
                               const std::function<bool(const Egress&)>& selects) {
  std::vector<const Egress*> selected;
  for (const Egress& egress : egresses) {
    if (selects(egress)) selected.push_back(&egress);
  }
  return unite(selected);
}

WorkloadPolicy compileLeavingOut(const std::vector<Egress>& egresses,
                                 const std::function<bool(const Egress&)>& selects) {
  std::vector<std::size_t> selected;
  for (std::size_t index = 0; index < egresses.size(); ++index) {
    if (selects(egresses[index])) selected.push_back(index);
  }
  const auto pointers = [&egresses](const std::vector<std::size_t>& indices) {
    std::vector<const Egress*> chosen;
    for (const std::size_t index : indices) chosen.push_back(&egresses[index]);
    return chosen;
  };
  WorkloadPolicy result;
  try {
    result.policy = unite(pointers(selected));
    return result;
  } catch (const PolicyError&) {
    // Found out below, Egress by Egress, so that only the ones at fault are left out.
  }

  std::vector<std::size_t> kept;
  std::map<RuleId, std::string> known;
  for (const std::size_t index : selected) {
    const Egress& egress = egresses[index];
    if (auto conflict = ruleIdConflict(egress, known)) {
      result.left_out.push_back({index, std::move(*conflict)});
      continue;
    }
    for (std::size_t rule = 0; rule < egress.rules.size(); ++rule) {
      const std::string description = describeRule(egress, rule);
      known.emplace(ruleIdOf(description), description);
    }
    kept.push_back(index);
  }
  // RE2 compiles a set of regexes only as a whole. When all of them do not fit, each
  // Egress with regexes is tried with those kept before it: a compilation each.
  if (!regexesCompile(pointers(kept))) {
    std::vector<std::size_t> fitting;
    std::vector<const Egress*> accepted;
    for (const std::size_t index : kept) {
      const Egress& egress = egresses[index];
      if (hasRegexes(egress)) {
        if (auto conflict = regexConflict(accepted, egress)) {
          result.left_out.push_back({index, std::move(*conflict)});
          continue;
        }
        accepted.push_back(&egress);
      }
      fitting.push_back(index);
    }
    kept = std::move(fitting);
  }
  std::sort(result.left_out.begin(), result.left_out.end());
  result.policy = unite(pointers(kept));
  // Selected, so policed: leaving an Egress out never opens a workload.
  result.policy.polices = !selected.empty();
  return result;
}

const PortSet& CompiledPolicy::portsOf(RuleId rule) const {
  static const PortSet kEveryPort;
  const auto found = rule_ports.find(rule);
  return found == rule_ports.end() ? kEveryPort : found->second;
}

RuleId ruleIdOf(std::string_view description) {
  constexpr std::uint32_t kFnvOffsetBasis = 2166136261u;
  constexpr std::uint32_t kFnvPrime = 16777619u;
  std::uint32_t hash = kFnvOffsetBasis;
  for (const char c : description) {
    hash ^= static_cast<std::uint8_t>(c);
    hash *= kFnvPrime;
  }
  return hash;
}

void checkServerNamesOfEveryRule(CompiledPolicy& policy, const ServerNameCheck& check) {
  for (const auto& [rule, description] : policy.rule_descriptions) {
    policy.server_name_checks.emplace(rule, check);
  }
}

void policeQueries(CompiledPolicy& policy, const QueryPolicingSettings& settings) {
  if (!policy.polices || policy.names.allowsAnyName()) return;
  const bool deny =
      policy.query_mode ? *policy.query_mode == QueryMode::kDeny : settings.deny_by_default;
  if (!deny) return;
  policy.queryable_suffixes = settings.queryable_suffixes;
  policy.names.withhold(settings.encrypted_dns_names);
}

}  // namespace skouter::policy
