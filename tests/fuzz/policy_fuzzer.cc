// libFuzzer target for the policy loader (policy/loader.h) and compiler
// (policy/compiled_policy.h). The input is the text of a policy file. A PolicyError is
// the documented way to reject it; any other exception escaping is a bug and is left
// to crash the fuzzer. A policy that loads is compiled for a node without labels and
// for one with the labels the first nodeSelector asks for, and both are checked.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip_address.h"
#include "policy/compiled_policy.h"
#include "policy/egress.h"
#include "policy/loader.h"

namespace {

namespace policy = skouter::policy;
using skouter::IpPrefix;

constexpr std::size_t kMaxDomainLength = 253;

[[noreturn]] void violated(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, condition);
  std::abort();
}
#define FUZZ_CHECK(condition) ((condition) ? (void)0 : violated(#condition, __FILE__, __LINE__))

bool isCanonicalDomain(const std::string& name) {
  return !name.empty() && name.size() <= kMaxDomainLength && name.back() != '.' &&
         std::none_of(name.begin(), name.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

// What the loader promises about a policy it accepted.
void checkLoaded(const std::vector<policy::Egress>& egresses) {
  std::set<std::string> names;
  for (const policy::Egress& egress : egresses) {
    FUZZ_CHECK(egress.source == "fuzz.yaml");
    FUZZ_CHECK(egress.document >= 1);
    FUZZ_CHECK(!egress.name.empty());
    // Two Egress resources with one (qualified) name are rejected.
    FUZZ_CHECK(names
                   .insert(egress.namespace_name.empty()
                               ? egress.name
                               : egress.namespace_name + "/" + egress.name)
                   .second);
    for (const policy::EgressRule& rule : egress.rules) {
      FUZZ_CHECK(!rule.domains.empty() || !rule.regexes.empty() || !rule.ips.empty() ||
                 !rule.cidrs.empty());
      for (const std::string& domain : rule.domains) FUZZ_CHECK(isCanonicalDomain(domain));
      // Ports are normalized: sorted, valid, overlapping and adjacent ranges merged.
      FUZZ_CHECK(rule.ports.size() <= policy::kMaxPortRanges);
      FUZZ_CHECK(policy::normalizePorts(rule.ports) == rule.ports);
      for (const policy::PortRange& range : rule.ports) {
        FUZZ_CHECK(range.first >= 1 && range.first <= range.last);
      }
      for (const IpPrefix& ip : rule.ips) {
        FUZZ_CHECK(ip.length == ip.address.maxPrefixLength());
      }
      for (const IpPrefix& cidr : rule.cidrs) {
        FUZZ_CHECK(cidr.length <= cidr.address.maxPrefixLength());
        FUZZ_CHECK(IpPrefix::of(cidr.address, cidr.length) == cidr);  // host bits clear
      }
    }
  }
}

void checkCompiled(const std::vector<policy::Egress>& egresses, const policy::NodeLabels& labels,
                   const policy::CompiledPolicy& compiled) {
  bool selected_any = false;
  std::size_t rules = 0;
  for (const policy::Egress& egress : egresses) {
    if (!egress.node_selector || !egress.node_selector->matches(labels)) continue;
    selected_any = true;
    rules += egress.rules.size();
    for (const policy::EgressRule& rule : egress.rules) {
      for (const std::string& domain : rule.domains) {
        FUZZ_CHECK(compiled.names.match(domain).has_value());
      }
      for (const auto* prefixes : {&rule.ips, &rule.cidrs}) {
        for (const IpPrefix& prefix : *prefixes) {
          FUZZ_CHECK(std::any_of(
              compiled.static_entries.begin(), compiled.static_entries.end(),
              [&prefix](const policy::StaticEntry& entry) { return entry.prefix == prefix; }));
        }
      }
    }
  }
  FUZZ_CHECK(compiled.polices == selected_any);
  FUZZ_CHECK(compiled.rule_descriptions.size() == rules);
  // Sorted, one entry per prefix.
  const auto& entries = compiled.static_entries;
  for (std::size_t i = 1; i < entries.size(); ++i) {
    FUZZ_CHECK(entries[i - 1].prefix < entries[i].prefix);
  }
  for (const policy::StaticEntry& entry : entries) {
    FUZZ_CHECK(compiled.rule_descriptions.contains(entry.rule));
    // A prefix opens at least what its own rule opens.
    const policy::PortSet& own = compiled.portsOf(entry.rule);
    FUZZ_CHECK(policy::unitePorts(entry.ports, own) == entry.ports);
  }
}

void compileAndCheck(const std::vector<policy::Egress>& egresses,
                     const policy::NodeLabels& labels) {
  try {
    const policy::CompiledPolicy compiled = policy::compileForNode(egresses, labels);
    checkCompiled(egresses, labels, compiled);
  } catch (const policy::PolicyError& error) {
    FUZZ_CHECK(error.what()[0] != '\0');
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<policy::Egress> egresses;
  try {
    egresses = policy::parsePolicyDocuments(text, "fuzz.yaml");
  } catch (const policy::PolicyError& error) {
    FUZZ_CHECK(error.what()[0] != '\0');
    return 0;
  }
  checkLoaded(egresses);

  compileAndCheck(egresses, {});
  for (const policy::Egress& egress : egresses) {
    if (egress.node_selector && !egress.node_selector->match_labels.empty()) {
      compileAndCheck(egresses, egress.node_selector->match_labels);
      break;
    }
  }
  return 0;
}
