#include "policy/audit_suggestion.h"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <utility>

#include "policy/egress.h"

namespace skouter::policy {
namespace {

constexpr std::size_t kMaxDomainLength = 253;
constexpr std::size_t kMaxLabelLength = 63;

std::optional<PortProtocol> portProtocolOf(std::uint8_t protocol) {
  switch (protocol) {
    case static_cast<std::uint8_t>(PortProtocol::kTcp):
      return PortProtocol::kTcp;
    case static_cast<std::uint8_t>(PortProtocol::kUdp):
      return PortProtocol::kUdp;
    case static_cast<std::uint8_t>(PortProtocol::kSctp):
      return PortProtocol::kSctp;
    default:
      return std::nullopt;
  }
}

// The ports one destination was seen on.
class SeenPorts {
 public:
  void add(std::uint8_t protocol, std::uint16_t port) {
    const auto port_protocol = portProtocolOf(protocol);
    // The ports schema cannot express ICMP and the like, so such a destination can
    // only be allowed on every port.
    if (!port_protocol || port == 0) {
      every_port_ = true;
      return;
    }
    ranges_.insert(PortRange{*port_protocol, port, port});
  }

  void add(const SeenPorts& other) {
    every_port_ = every_port_ || other.every_port_;
    ranges_.insert(other.ranges_.begin(), other.ranges_.end());
  }

  // Empty (every port) when any flow needed every port.
  PortSet toPortSet() const {
    if (every_port_) return {};
    return widenToFit(PortSet(ranges_.begin(), ranges_.end()));
  }

 private:
  bool every_port_ = false;
  std::set<PortRange> ranges_;
};

// Audit rows come from DNS answers, which may hold names the loader would reject
// (upper case, a trailing dot, characters outside a-z 0-9 - _). The spelling is
// normalized as the loader does; a name still invalid cannot be suggested.
std::optional<std::string> loadableDomain(std::string_view written) {
  std::string name(written);
  for (char& c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (name.empty() || name.size() > kMaxDomainLength) return std::nullopt;
  std::size_t label_start = 0;
  while (true) {
    const std::size_t label_end = std::min(name.find('.', label_start), name.size());
    const std::string_view label =
        std::string_view(name).substr(label_start, label_end - label_start);
    const bool valid_label =
        !label.empty() && label.size() <= kMaxLabelLength &&
        std::all_of(label.begin(), label.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        });
    if (!valid_label) return std::nullopt;
    if (label_end == name.size()) return name;
    label_start = label_end + 1;
  }
}

// Parents of the chosen wildcards ("cdn.example.com" for "*.cdn.example.com").
using WildcardParents = std::set<std::string, std::less<>>;

// Everything after the first label; empty for a one-label name.
std::string_view parentOf(std::string_view name) {
  const std::size_t dot = name.find('.');
  return dot == std::string_view::npos ? std::string_view() : name.substr(dot + 1);
}

WildcardParents wildcardParents(const std::map<std::string, SeenPorts>& names,
                                std::size_t wildcard_siblings) {
  std::map<std::string, std::size_t> children;
  for (const auto& [name, ports] : names) {
    const std::string_view parent = parentOf(name);
    // "*.com" would allow a whole top-level domain.
    if (parent.find('.') != std::string_view::npos) ++children[std::string(parent)];
  }
  WildcardParents parents;
  for (const auto& [parent, count] : children) {
    if (count >= wildcard_siblings) parents.insert(parent);
  }
  return parents;
}

// The broadest chosen wildcard strictly above `name`, so that a wildcard below another
// one folds into it; the name itself when none covers it.
std::string suggestedDomain(const std::string& name, const WildcardParents& parents) {
  std::optional<std::string_view> broadest;
  for (std::size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', dot + 1)) {
    const std::string_view suffix = std::string_view(name).substr(dot + 1);
    if (parents.contains(suffix)) broadest = suffix;
  }
  return broadest ? "*." + std::string(*broadest) : name;
}

// The late connections seen to the addresses of one name (or of a wildcard's names).
struct Lateness {
  std::uint64_t count = 0;
  std::uint64_t max_expired_ago_s = 0;
  std::uint32_t min_ttl_s = 0;  // the largest any of them needed

  void add(const Lateness& other) {
    count += other.count;
    max_expired_ago_s = std::max(max_expired_ago_s, other.max_expired_ago_s);
    min_ttl_s = std::max(min_ttl_s, other.min_ttl_s);
  }
};

struct SuggestedRule {
  PortSet ports;
  std::vector<std::string> domains;
  std::vector<IpAddress> ips;
  Lateness late;  // of its domains; a minTTL is proposed when count > 0
};

// True when every YAML reader takes `text`, written plain, for that very string: a name
// starting with a letter that is no YAML word (null, true, yes, ...), or an IPv4
// address. Anything else ('*', IPv6's ':', a name that could read as a number) is
// quoted.
bool readsBackPlain(std::string_view text) {
  static constexpr std::string_view kYamlWords[] = {"null", "true", "false", "yes", "no",
                                                    "on",   "off",  "y",     "n"};
  const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  const auto is_letter = [](char c) { return c >= 'a' && c <= 'z'; };
  const bool plain_characters = std::all_of(text.begin(), text.end(), [&](char c) {
    return is_letter(c) || is_digit(c) || c == '.' || c == '-' || c == '_';
  });
  if (text.empty() || !plain_characters) return false;
  if (is_letter(text.front())) {
    return std::find(std::begin(kYamlWords), std::end(kYamlWords), text) == std::end(kYamlWords);
  }
  // Digits with one dot read as a number; with two or more they cannot.
  return std::all_of(text.begin(), text.end(), [&](char c) { return is_digit(c) || c == '.'; }) &&
         std::count(text.begin(), text.end(), '.') >= 2;
}

std::string yamlScalar(std::string_view text) {
  if (readsBackPlain(text)) return std::string(text);
  std::string quoted = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      quoted += '\\';
      quoted += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      char escape[5];
      std::snprintf(escape, sizeof escape, "\\x%02x", byte);
      quoted += escape;
    } else {
      quoted += c;
    }
  }
  return quoted + "\"";
}

std::string portEntry(const PortRange& range) {
  std::string entry = "{port: " + std::to_string(range.first);
  if (range.last != range.first) entry += ", endPort: " + std::to_string(range.last);
  return entry + ", protocol: " + toString(range.protocol) + "}";
}

std::string renderRule(const SuggestedRule& rule) {
  std::string text;
  const auto append_list = [&text](std::string_view key, const std::vector<std::string>& items) {
    if (items.empty()) return;
    // The first key opens the rule's list item.
    text += text.empty() ? "    - " : "      ";
    text += key;
    text += ":\n";
    for (const std::string& item : items) text += "        - " + item + "\n";
  };
  std::vector<std::string> domains;
  for (const std::string& domain : rule.domains) domains.push_back(yamlScalar(domain));
  std::vector<std::string> ips;
  for (const IpAddress& ip : rule.ips) ips.push_back(yamlScalar(ip.toString()));
  std::vector<std::string> ports;
  for (const PortRange& range : rule.ports) ports.push_back(portEntry(range));
  append_list("domains", domains);
  append_list("ips", ips);
  append_list("ports", ports);
  if (rule.late.count > 0) {
    text += "      minTTL: " + std::to_string(rule.late.min_ttl_s) + "  # " +
            std::to_string(rule.late.count) + " late connection" +
            (rule.late.count == 1 ? "" : "s") + ", up to " +
            std::to_string(rule.late.max_expired_ago_s) + " s after the address expired\n";
  }
  return text;
}

std::string render(const std::map<std::string, SuggestedRule>& rules, std::size_t flow_count,
                   const std::string& egress_name) {
  std::string yaml = "# Generated by `skouterctl audit suggest` from " +
                     std::to_string(flow_count) +
                     (flow_count == 1 ? " observed flow.\n" : " observed flows.\n");
  yaml += "apiVersion: egress.skouter/v1alpha1\n";
  yaml += "kind: Egress\n";
  yaml += "metadata:\n";
  yaml += "  name: " + yamlScalar(egress_name) + "\n";
  yaml += "spec:\n";
  yaml += "  nodeSelector: {}\n";
  if (rules.empty()) return yaml + "  rules: []\n";
  yaml += "  rules:\n";
  for (const auto& [description, rule] : rules) yaml += renderRule(rule);
  return yaml;
}

}  // namespace

std::uint32_t suggestedMinTtl(std::uint64_t open_for_s, std::uint64_t expired_ago_s) {
  const std::uint64_t needed = std::max<std::uint64_t>(open_for_s + expired_ago_s, 1);
  const std::uint64_t step = needed <= 600 ? 30 : 300;
  const std::uint64_t rounded = (needed + step - 1) / step * step;
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(rounded, kMaxRuleMinTtl));
}

std::string suggestEgress(const std::vector<ObservedFlow>& flows,
                          const SuggestionOptions& options) {
  std::map<std::string, SeenPorts> names;
  std::map<std::string, Lateness> late_names;
  std::map<IpAddress, SeenPorts> addresses;
  for (const ObservedFlow& flow : flows) {
    bool allowed_by_name = false;
    const Lateness late{
        .count = flow.late_count,
        .max_expired_ago_s = flow.late_expired_ago_s,
        .min_ttl_s = suggestedMinTtl(flow.late_open_for_s, flow.late_expired_ago_s)};
    for (const std::string& written : flow.names) {
      if (const auto name = loadableDomain(written)) {
        names[*name].add(flow.protocol, flow.port);
        if (late.count > 0) late_names[*name].add(late);
        allowed_by_name = true;
      }
    }
    if (!allowed_by_name) addresses[flow.destination].add(flow.protocol, flow.port);
  }

  const WildcardParents parents = wildcardParents(names, options.wildcard_siblings);
  std::map<std::string, SeenPorts> domains;
  std::map<std::string, Lateness> late_domains;
  for (const auto& [name, ports] : names) {
    const std::string domain = suggestedDomain(name, parents);
    domains[domain].add(ports);
    if (const auto late = late_names.find(name); late != late_names.end()) {
      late_domains[domain].add(late->second);
    }
  }

  // Keyed by the ports' description (and the minTTL wanted), which orders the rules
  // and merges destinations with the same ports into one rule: a name with late
  // connections does not raise the minTTL of names without.
  std::map<std::string, SuggestedRule> rules;
  const auto ruleFor = [&rules](const SeenPorts& seen, std::uint32_t min_ttl_s) -> SuggestedRule& {
    PortSet ports = seen.toPortSet();
    std::string key = describePorts(ports);
    if (min_ttl_s > 0) key += ", minTTL " + std::to_string(min_ttl_s);
    SuggestedRule& rule = rules[key];
    rule.ports = std::move(ports);
    return rule;
  };
  for (const auto& [domain, ports] : domains) {
    const auto late = late_domains.find(domain);
    if (late == late_domains.end()) {
      ruleFor(ports, 0).domains.push_back(domain);
      continue;
    }
    SuggestedRule& rule = ruleFor(ports, late->second.min_ttl_s);
    rule.domains.push_back(domain);
    rule.late.add(late->second);
  }
  for (const auto& [address, ports] : addresses) ruleFor(ports, 0).ips.push_back(address);
  return render(rules, flows.size(), options.name);
}

}  // namespace skouter::policy
