#include "policy/loader.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "policy/compiled_policy.h"

namespace skouter::policy {
namespace {

// Case-insensitive edit distance (insertions, deletions, substitutions, and swaps of
// neighbours), for suggesting the field an operator probably meant.
std::size_t editDistance(std::string_view a, std::string_view b) {
  const auto lower = [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  };
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
          lower(a[i - 2]) == lower(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// The known name closest to `written`, if it is close enough to be a typo.
std::optional<std::string> closestName(std::string_view written,
                                       std::initializer_list<std::string_view> known) {
  std::optional<std::string> best;
  std::size_t best_distance = std::max<std::size_t>(2, written.size() / 3) + 1;
  for (const std::string_view name : known) {
    const std::size_t distance = editDistance(written, name);
    if (distance < best_distance) {
      best_distance = distance;
      best = std::string(name);
    }
  }
  return best;
}

constexpr std::string_view kApiVersion = "egress.skouter/v1alpha1";
constexpr std::string_view kKind = "Egress";
constexpr std::size_t kMaxDomainLength = 253;
constexpr std::size_t kMaxLabelLength = 63;

// One entry of a YAML map. The key is kept for its line: a null value (`key:` with
// nothing after it) is marked at the next token, possibly several lines further down.
struct Field {
  YAML::Node key;
  YAML::Node value;
};
using Fields = std::map<std::string, Field, std::less<>>;

YAML::Mark markOf(const Field& field) {
  return field.value.IsNull() ? field.key.Mark() : field.value.Mark();
}

std::string inQuotes(std::string_view text) { return "'" + std::string(text) + "'"; }

std::string childPath(const std::string& parent, std::string_view child) {
  return parent.empty() ? std::string(child) : parent + "." + std::string(child);
}

std::string itemPath(const std::string& list, std::size_t index) {
  return list + "[" + std::to_string(index) + "]";
}

std::string documentLocation(const std::string& source, int document, const std::string& name) {
  std::string location = source + ": document " + std::to_string(document);
  if (!name.empty()) location += " (metadata.name=" + name + ")";
  return location;
}

// std::tolower depends on the locale; DNS case folding is ASCII only.
char asciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool isDomainCharacter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool isValidDomain(std::string_view name) {
  if (name.empty() || name.size() > kMaxDomainLength) return false;
  std::size_t label_start = 0;
  while (true) {
    const std::size_t label_end = std::min(name.find('.', label_start), name.size());
    const std::string_view label = name.substr(label_start, label_end - label_start);
    if (label.empty() || label.size() > kMaxLabelLength ||
        !std::all_of(label.begin(), label.end(), isDomainCharacter)) {
      return false;
    }
    if (label_end == name.size()) return true;
    label_start = label_end + 1;
  }
}

// Validates one Egress document. Every check fails with the document's location, the
// line and the field path, so the operator knows exactly what to fix.
class DocumentReader {
 public:
  DocumentReader(const std::string& source, int document) : source_(source), document_(document) {}

  Egress read(const YAML::Node& root) {
    if (!root.IsMap()) fail(root.Mark(), "", "a policy document must be a map");
    const Fields top = readMap(root, root.Mark(), "");
    name_ = nameIfReadable(top);

    const Field& api_version = require(top, "apiVersion", "", root.Mark());
    if (const std::string value = readString(api_version, "apiVersion"); value != kApiVersion) {
      fail(markOf(api_version), "apiVersion",
           "must be " + std::string(kApiVersion) + ", not " + inQuotes(value));
    }
    const Field& kind = require(top, "kind", "", root.Mark());
    if (const std::string value = readString(kind, "kind"); value != kKind) {
      fail(markOf(kind), "kind", "must be " + std::string(kKind) + ", not " + inQuotes(value));
    }
    // status is written by controllers, never by the operator; it carries no policy.
    rejectUnknownFields(top, "", {"apiVersion", "kind", "metadata", "spec", "status"});

    Egress egress;
    egress.source = source_;
    egress.document = document_;
    readMetadata(require(top, "metadata", "", root.Mark()), egress);
    readSpec(require(top, "spec", "", root.Mark()), egress);
    return egress;
  }

 private:
  [[noreturn]] void fail(const YAML::Mark& mark, const std::string& path,
                         const std::string& message) const {
    std::string text = documentLocation(source_, document_, name_);
    if (!mark.is_null()) text += ", line " + std::to_string(mark.line + 1);
    text += ": ";
    if (!path.empty()) text += path + ": ";
    throw PolicyError(text + message);
  }

  // metadata.name, if it can be read, to name the document in errors found before
  // metadata itself is validated.
  static std::string nameIfReadable(const Fields& top) {
    const auto metadata = top.find("metadata");
    if (metadata == top.end() || !metadata->second.value.IsMap()) return "";
    for (const auto& entry : metadata->second.value) {
      if (entry.first.IsScalar() && entry.first.Scalar() == "name" && entry.second.IsScalar()) {
        return entry.second.Scalar();
      }
    }
    return "";
  }

  Fields readMap(const YAML::Node& node, const YAML::Mark& mark, const std::string& path) const {
    if (!node.IsMap()) fail(mark, path, "must be a map");
    Fields fields;
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) fail(entry.first.Mark(), path, "keys must be strings");
      const std::string& key = entry.first.Scalar();
      if (!fields.emplace(key, Field{entry.first, entry.second}).second) {
        fail(entry.first.Mark(), childPath(path, key), "duplicate key");
      }
    }
    return fields;
  }

  void rejectUnknownFields(const Fields& fields, const std::string& path,
                           std::initializer_list<std::string_view> known) const {
    for (const auto& [key, field] : fields) {
      if (std::find(known.begin(), known.end(), key) != known.end()) continue;
      std::string expected;
      for (const std::string_view name : known) {
        expected += (expected.empty() ? "" : ", ") + std::string(name);
      }
      const auto suggestion = closestName(key, known);
      fail(field.key.Mark(), childPath(path, key),
           "unknown field " + inQuotes(key) +
               (suggestion ? "; did you mean " + inQuotes(*suggestion) + "?" : "") +
               " (expected one of: " + expected + ")");
    }
  }

  const Field& require(const Fields& fields, std::string_view key, const std::string& parent_path,
                       const YAML::Mark& parent_mark) const {
    const auto field = fields.find(key);
    if (field == fields.end()) fail(parent_mark, childPath(parent_path, key), "is required");
    return field->second;
  }

  std::string readString(const Field& field, const std::string& path) const {
    if (!field.value.IsScalar()) fail(markOf(field), path, "must be a string");
    return field.value.Scalar();
  }

  // Calls visit(value, mark, path) for every item of a list of strings.
  void forEachString(const Field& field, const std::string& path,
                     const std::function<void(const std::string&, const YAML::Mark&,
                                              const std::string&)>& visit) const {
    if (!field.value.IsSequence()) fail(markOf(field), path, "must be a list of strings");
    std::size_t index = 0;
    for (const YAML::Node& item : field.value) {
      const std::string item_path = itemPath(path, index++);
      if (!item.IsScalar()) fail(item.Mark(), item_path, "must be a string");
      visit(item.Scalar(), item.Mark(), item_path);
    }
  }

  void readMetadata(const Field& field, Egress& egress) const {
    // Kubernetes adds labels, annotations, uid, resourceVersion and more: only the
    // fields the policy needs are read, the rest is left alone.
    const Fields metadata = readMap(field.value, markOf(field), "metadata");
    const Field& name = require(metadata, "name", "metadata", field.key.Mark());
    egress.name = readString(name, "metadata.name");
    if (egress.name.empty()) fail(markOf(name), "metadata.name", "must not be empty");
    if (const auto namespace_name = metadata.find("namespace"); namespace_name != metadata.end()) {
      egress.namespace_name = readString(namespace_name->second, "metadata.namespace");
    }
  }

  void readSpec(const Field& field, Egress& egress) const {
    const Fields spec = readMap(field.value, markOf(field), "spec");
    rejectUnknownFields(spec, "spec",
                        {"nodeSelector", "podSelector", "namespaceSelector", "mode", "denyResponse",
                         "queries", "tls", "rules"});
    if (const auto mode = spec.find("mode"); mode != spec.end()) {
      const std::string text = readString(mode->second, "spec.mode");
      if (text == "enforce") {
        egress.mode = EgressMode::kEnforce;
      } else if (text == "audit") {
        egress.mode = EgressMode::kAudit;
      } else {
        fail(markOf(mode->second), "spec.mode", inQuotes(text) + " is not enforce or audit");
      }
    }
    if (const auto response = spec.find("denyResponse"); response != spec.end()) {
      const std::string text = readString(response->second, "spec.denyResponse");
      egress.deny_response = parseDenyResponse(text);
      if (!egress.deny_response) {
        fail(markOf(response->second), "spec.denyResponse",
             inQuotes(text) + " is not passthrough, nxdomain or refused");
      }
    }
    if (const auto queries = spec.find("queries"); queries != spec.end()) {
      const std::string text = readString(queries->second, "spec.queries");
      egress.queries = parseQueryMode(text);
      if (!egress.queries) {
        fail(markOf(queries->second), "spec.queries", inQuotes(text) + " is not allow or deny");
      }
    }
    if (const auto tls = spec.find("tls"); tls != spec.end()) {
      egress.server_names = readServerNameCheck(tls->second);
    }
    if (const auto selector = spec.find("nodeSelector"); selector != spec.end()) {
      egress.node_selector = readLabelSelector(selector->second, "spec.nodeSelector");
    }
    if (const auto selector = spec.find("podSelector"); selector != spec.end()) {
      egress.pod_selector = readLabelSelector(selector->second, "spec.podSelector");
    }
    if (const auto selector = spec.find("namespaceSelector"); selector != spec.end()) {
      egress.namespace_selector = readLabelSelector(selector->second, "spec.namespaceSelector");
    }
    const auto rules = spec.find("rules");
    if (rules == spec.end()) return;
    if (!rules->second.value.IsSequence()) {
      fail(markOf(rules->second), "spec.rules", "must be a list of rules");
    }
    for (const YAML::Node& rule : rules->second.value) {
      egress.rules.push_back(readRule(rule, itemPath("spec.rules", egress.rules.size())));
    }
  }

  // Accepts {matchLabels: {k: v}, matchExpressions: [...]} and, as the Go original
  // did, a plain {k: v}.
  LabelSelector readLabelSelector(const Field& field, const std::string& path) const {
    const Fields selector = readMap(field.value, markOf(field), path);
    const auto match_labels = selector.find("matchLabels");
    const auto expressions = selector.find("matchExpressions");
    if (match_labels == selector.end() && expressions == selector.end()) {
      return LabelSelector{readLabels(selector, path), {}};
    }
    rejectUnknownFields(selector, path, {"matchLabels", "matchExpressions"});
    LabelSelector result;
    if (match_labels != selector.end()) {
      const std::string labels_path = childPath(path, "matchLabels");
      result.match_labels =
          readLabels(readMap(match_labels->second.value, markOf(match_labels->second), labels_path),
                     labels_path);
    }
    if (expressions != selector.end()) {
      const std::string list_path = childPath(path, "matchExpressions");
      if (!expressions->second.value.IsSequence()) {
        fail(markOf(expressions->second), list_path, "must be a list of requirements");
      }
      for (const YAML::Node& item : expressions->second.value) {
        result.match_expressions.push_back(
            readRequirement(item, itemPath(list_path, result.match_expressions.size())));
      }
    }
    return result;
  }

  LabelRequirement readRequirement(const YAML::Node& node, const std::string& path) const {
    using Operator = LabelRequirement::Operator;
    const Fields fields = readMap(node, node.Mark(), path);
    rejectUnknownFields(fields, path, {"key", "operator", "values"});
    LabelRequirement requirement;
    requirement.key = readString(require(fields, "key", path, node.Mark()), childPath(path, "key"));
    const Field& op_field = require(fields, "operator", path, node.Mark());
    const std::string op = readString(op_field, childPath(path, "operator"));
    if (op == "In") {
      requirement.op = Operator::kIn;
    } else if (op == "NotIn") {
      requirement.op = Operator::kNotIn;
    } else if (op == "Exists") {
      requirement.op = Operator::kExists;
    } else if (op == "DoesNotExist") {
      requirement.op = Operator::kDoesNotExist;
    } else {
      fail(markOf(op_field), childPath(path, "operator"),
           inQuotes(op) + " is not In, NotIn, Exists or DoesNotExist");
    }
    const auto values = fields.find("values");
    if (values != fields.end()) {
      forEachString(values->second, childPath(path, "values"),
                    [&](const std::string& value, const YAML::Mark&, const std::string&) {
                      requirement.values.push_back(value);
                    });
    }
    const bool needs_values = requirement.op == Operator::kIn || requirement.op == Operator::kNotIn;
    if (needs_values && requirement.values.empty()) {
      fail(node.Mark(), childPath(path, "values"), op + " needs a non-empty list of values");
    }
    if (!needs_values && !requirement.values.empty()) {
      fail(markOf(values->second), childPath(path, "values"), op + " takes no values");
    }
    return requirement;
  }

  std::map<std::string, std::string> readLabels(const Fields& fields,
                                                const std::string& path) const {
    std::map<std::string, std::string> labels;
    for (const auto& [key, field] : fields) labels[key] = readString(field, childPath(path, key));
    return labels;
  }

  EgressRule readRule(const YAML::Node& node, const std::string& path) const {
    const Fields fields = readMap(node, node.Mark(), path);
    rejectUnknownFields(fields, path,
                        {"domains", "ips", "cidrs", "regex", "fqdn", "ports", "minTTL"});

    EgressRule rule;
    const auto each = [&](std::string_view key, const auto& visit) {
      if (const auto field = fields.find(key); field != fields.end()) {
        forEachString(field->second, childPath(path, key), visit);
      }
    };
    each("domains", [&](const std::string& value, const YAML::Mark& mark, const std::string& at) {
      rule.domains.push_back(readDomain(value, mark, at));
    });
    each("ips", [&](const std::string& value, const YAML::Mark& mark, const std::string& at) {
      rule.ips.push_back(readIp(value, mark, at));
    });
    each("cidrs", [&](const std::string& value, const YAML::Mark& mark, const std::string& at) {
      rule.cidrs.push_back(readCidr(value, mark, at));
    });
    const auto add_regex = [&](const std::string& value, const YAML::Mark& mark,
                               const std::string& at) {
      validateRegex(value, mark, at);
      rule.regexes.push_back(value);
    };
    each("regex", add_regex);
    each("fqdn", add_regex);

    if (rule.domains.empty() && rule.ips.empty() && rule.cidrs.empty() && rule.regexes.empty()) {
      fail(node.Mark(), path, "a rule must list at least one of domains, ips, cidrs, regex, fqdn");
    }
    if (const auto ports = fields.find("ports"); ports != fields.end()) {
      rule.ports = readPorts(ports->second, childPath(path, "ports"));
    }
    if (const auto min_ttl = fields.find("minTTL"); min_ttl != fields.end()) {
      rule.min_ttl_s = readMinTtl(min_ttl->second, childPath(path, "minTTL"));
    }
    return rule;
  }

  // Whole seconds, 0 to a week; a duration written "30s" is refused rather than guessed.
  std::uint32_t readMinTtl(const Field& field, const std::string& path) const {
    const std::string text = field.value.IsScalar() ? field.value.Scalar() : "";
    const bool digits =
        !text.empty() && text.size() <= 7 &&
        std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    const unsigned long seconds = digits ? std::stoul(text) : kMaxRuleMinTtl + 1ul;
    if (seconds > kMaxRuleMinTtl) {
      fail(markOf(field), path,
           (field.value.IsScalar() ? inQuotes(text) + " is not" : std::string("must be")) +
               " a whole number of seconds from 0 to " + std::to_string(kMaxRuleMinTtl));
    }
    return static_cast<std::uint32_t>(seconds);
  }

  // [{port, endPort?, protocol?}], as in a Kubernetes NetworkPolicy: protocol defaults
  // to TCP, and an entry without port covers every port of its protocol.
  PortSet readPorts(const Field& field, const std::string& path) const {
    if (!field.value.IsSequence() || field.value.size() == 0) {
      fail(markOf(field), path,
           "must be a non-empty list of {port, endPort, protocol}; leave ports out to allow "
           "every port");
    }
    if (field.value.size() > kMaxPortRanges) {
      fail(markOf(field), path,
           "lists " + std::to_string(field.value.size()) + " entries; at most " +
               std::to_string(kMaxPortRanges) + " are allowed (use endPort for ranges)");
    }
    PortSet ports;
    std::size_t index = 0;
    for (const YAML::Node& item : field.value) {
      const std::string item_path = itemPath(path, index++);
      const Fields entry = readMap(item, item.Mark(), item_path);
      rejectUnknownFields(entry, item_path, {"port", "endPort", "protocol"});
      PortRange range;
      if (const auto protocol = entry.find("protocol"); protocol != entry.end()) {
        const std::string text = readString(protocol->second, childPath(item_path, "protocol"));
        if (text == "TCP") {
          range.protocol = PortProtocol::kTcp;
        } else if (text == "UDP") {
          range.protocol = PortProtocol::kUdp;
        } else if (text == "SCTP") {
          range.protocol = PortProtocol::kSctp;
        } else {
          fail(markOf(protocol->second), childPath(item_path, "protocol"),
               inQuotes(text) + " is not TCP, UDP or SCTP");
        }
      }
      const auto port = entry.find("port");
      const auto end_port = entry.find("endPort");
      if (port != entry.end()) {
        range.first = readPort(port->second, childPath(item_path, "port"));
        range.last = range.first;
      } else if (end_port != entry.end()) {
        fail(markOf(end_port->second), childPath(item_path, "endPort"), "needs port");
      }
      if (end_port != entry.end()) {
        range.last = readPort(end_port->second, childPath(item_path, "endPort"));
        if (range.last < range.first) {
          fail(markOf(end_port->second), childPath(item_path, "endPort"),
               std::to_string(range.last) + " is below port " + std::to_string(range.first));
        }
      }
      ports.push_back(range);
    }
    return normalizePorts(std::move(ports));
  }

  // spec.tls: {verifySNI: true, ports: [443], serverNames: learnedForAddress}. Without
  // verifySNI: true nothing is checked.
  std::optional<ServerNameCheck> readServerNameCheck(const Field& field) const {
    const Fields tls = readMap(field.value, markOf(field), "spec.tls");
    rejectUnknownFields(tls, "spec.tls", {"verifySNI", "ports", "serverNames"});
    ServerNameCheck check{.ports = defaultServerNamePorts()};
    if (const auto ports = tls.find("ports"); ports != tls.end()) {
      check.ports = readServerNamePorts(ports->second);
    }
    if (const auto match = tls.find("serverNames"); match != tls.end()) {
      const std::string text = readString(match->second, "spec.tls.serverNames");
      const auto parsed = parseServerNameMatch(text);
      if (!parsed) {
        fail(markOf(match->second), "spec.tls.serverNames",
             inQuotes(text) + " is not learnedForAddress or allowedByPolicy");
      }
      check.match = *parsed;
    }
    const auto verify = tls.find("verifySNI");
    if (verify == tls.end()) return std::nullopt;
    const std::string text = verify->second.value.IsScalar() ? verify->second.value.Scalar() : "";
    if (text != "true" && text != "false") {
      fail(markOf(verify->second), "spec.tls.verifySNI", "must be true or false");
    }
    if (text == "false") return std::nullopt;
    return check;
  }

  // Port numbers, each checked over TCP (TLS) and UDP (QUIC).
  PortSet readServerNamePorts(const Field& field) const {
    const std::string path = "spec.tls.ports";
    if (!field.value.IsSequence() || field.value.size() == 0) {
      fail(markOf(field), path, "must be a non-empty list of port numbers");
    }
    if (field.value.size() * 2 > kMaxPortRanges) {
      fail(markOf(field), path,
           "lists " + std::to_string(field.value.size()) + " ports; at most " +
               std::to_string(kMaxPortRanges / 2) + " are allowed");
    }
    PortSet ports;
    std::size_t index = 0;
    for (const YAML::Node& item : field.value) {
      const std::uint16_t port = readPort(Field{field.key, item}, itemPath(path, index++));
      ports.push_back({PortProtocol::kTcp, port, port});
      ports.push_back({PortProtocol::kUdp, port, port});
    }
    return normalizePorts(std::move(ports));
  }

  std::uint16_t readPort(const Field& field, const std::string& path) const {
    const std::string text = field.value.IsScalar() ? field.value.Scalar() : "";
    const bool digits =
        !text.empty() && text.size() <= 5 &&
        std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    const unsigned long number = digits ? std::stoul(text) : 0;
    if (number < 1 || number > 65535) {
      fail(markOf(field), path,
           (field.value.IsScalar() ? inQuotes(text) + " is not" : std::string("must be")) +
               " a port number from 1 to 65535 (named ports are not supported)");
    }
    return static_cast<std::uint16_t>(number);
  }

  std::string readDomain(const std::string& written, const YAML::Mark& mark,
                         const std::string& path) const {
    if (written == "*") return written;
    // "*.example.com": one or more whole labels below example.com, never the apex.
    const bool wildcard = written.starts_with("*.");
    if (written.find('*', wildcard ? 1 : 0) != std::string::npos) {
      fail(mark, path,
           inQuotes(written) +
               ": '*' may only stand alone or as the whole first label ('*.example.com'); "
               "use regex for other patterns, e.g. " +
               inQuotes(".*\\.example\\.com"));
    }
    const auto name = canonicalDomain(wildcard ? written.substr(2) : written);
    if (wildcard) {
      if (!name) {
        fail(mark, path, inQuotes(written) + " is not '*.' followed by a valid domain name");
      }
      return "*." + *name;
    }
    if (!name) {
      fail(mark, path,
           inQuotes(written) +
               " is not a valid domain name (dot-separated labels of 1 to 63 characters "
               "from a-z, 0-9, '-' and '_', at most 253 characters in all)");
    }
    return *name;
  }

  IpPrefix readIp(const std::string& written, const YAML::Mark& mark,
                  const std::string& path) const {
    if (written.find('/') != std::string::npos) {
      fail(mark, path, inQuotes(written) + " is a CIDR; list it under cidrs");
    }
    const auto address = IpAddress::parse(written);
    if (!address) fail(mark, path, inQuotes(written) + " is not a valid IP address");
    return IpPrefix::of(*address, address->maxPrefixLength());
  }

  IpPrefix readCidr(const std::string& written, const YAML::Mark& mark,
                    const std::string& path) const {
    const auto slash = written.find('/');
    if (slash == std::string::npos) {
      fail(mark, path,
           inQuotes(written) + " has no prefix length; list single addresses under ips");
    }
    const auto prefix = IpPrefix::parse(written);
    if (prefix) return *prefix;
    const auto address = IpAddress::parse(written.substr(0, slash));
    if (!address) {
      fail(mark, path,
           inQuotes(written) + " is not a valid CIDR: " + inQuotes(written.substr(0, slash)) +
               " is not an IP address");
    }
    fail(mark, path,
         inQuotes(written) + " is not a valid CIDR: the prefix length must be 0 to " +
             std::to_string(address->maxPrefixLength()));
  }

  // Compiled exactly as compileForNode will compile it, so a policy that loads also
  // compiles, and the error points at the line that holds the regex.
  void validateRegex(const std::string& pattern, const YAML::Mark& mark,
                     const std::string& path) const {
    NameMatcher validator;
    try {
      validator.addRegex(pattern, 0);
      validator.compile();
    } catch (const std::invalid_argument& error) {
      fail(mark, path, "invalid regex " + inQuotes(pattern) + ": " + error.what());
    }
  }

  const std::string& source_;
  const int document_;
  std::string name_;  // metadata.name once known
};

std::string qualifiedName(const Egress& egress) {
  return egress.namespace_name.empty() ? egress.name : egress.namespace_name + "/" + egress.name;
}

// Two Egress resources with one name would share rule descriptions and so rule ids.
void rejectDuplicateNames(const std::vector<Egress>& egresses) {
  std::map<std::string, const Egress*> seen;
  for (const Egress& egress : egresses) {
    const auto [first, inserted] = seen.emplace(qualifiedName(egress), &egress);
    if (inserted) continue;
    throw PolicyError(documentLocation(egress.source, egress.document, egress.name) +
                      ": metadata.name: Egress " + inQuotes(first->first) +
                      " is already defined in " + first->second->source + " document " +
                      std::to_string(first->second->document));
  }
}

// Counts documents and nothing else.
class DocumentCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    ++documents;
    last_start = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  std::size_t documents = 0;
  YAML::Mark last_start;
};

// yaml-cpp 0.7's LoadAll never returns, appending null documents until memory runs
// out, when a ',' stands outside a flow collection ("- a\n,"): its parser reports a
// document without consuming that token (jbeder/yaml-cpp#1040, fixed upstream by
// #1319, after 0.8.0). So the events are read once first. Every document after the
// first needs a 3-byte `---` or `...`: more documents than bytes means it is stuck.
void rejectEndlessDocuments(const std::string& text) {
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  DocumentCounter counter;
  while (parser.HandleNextDocument(counter)) {
    if (counter.documents > text.size()) {
      throw YAML::ParserException(counter.last_start,
                                  "unexpected token (a ',' outside a flow collection?)");
    }
  }
}

std::vector<Egress> parseDocuments(std::string_view yaml_text, const std::string& source_name) {
  std::vector<YAML::Node> documents;
  try {
    const std::string text(yaml_text);
    rejectEndlessDocuments(text);
    documents = YAML::LoadAll(text);
  } catch (const YAML::Exception& error) {
    std::string location = source_name;
    if (!error.mark.is_null()) location += ": line " + std::to_string(error.mark.line + 1);
    throw PolicyError(location + ": invalid YAML: " + error.msg);
  }

  std::vector<Egress> egresses;
  for (std::size_t index = 0; index < documents.size(); ++index) {
    // `---` followed by nothing, or only comments, is an empty document.
    if (documents[index].IsNull()) continue;
    egresses.push_back(
        DocumentReader(source_name, static_cast<int>(index + 1)).read(documents[index]));
  }
  return egresses;
}

std::string readFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw PolicyError(path + ": cannot read: " + std::strerror(errno));
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

std::vector<std::string> policyFilesIn(const std::string& directory) {
  std::vector<std::string> files;
  std::error_code error;
  for (std::filesystem::directory_iterator entry(directory, error), end; !error && entry != end;
       entry.increment(error)) {
    const std::string name = entry->path().filename().string();
    const std::string extension = entry->path().extension().string();
    // Like the shell glob *.yaml, skip dotfiles: editors and Kubernetes' ConfigMap
    // mounts (..data) put their own files there.
    if (name.starts_with('.') || (extension != ".yaml" && extension != ".yml")) continue;
    // is_regular_file follows symlinks, which is how ConfigMap mounts expose files.
    std::error_code type_error;
    if (entry->is_regular_file(type_error)) files.push_back(entry->path().string());
  }
  if (error) throw PolicyError(directory + ": cannot list directory: " + error.message());
  if (files.empty()) throw PolicyError(directory + ": directory has no *.yaml or *.yml files");
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

std::vector<Egress> parsePolicyDocuments(std::string_view yaml_text,
                                         const std::string& source_name) {
  std::vector<Egress> egresses = parseDocuments(yaml_text, source_name);
  rejectDuplicateNames(egresses);
  return egresses;
}

std::vector<Egress> loadPolicyPath(const std::string& path) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (!std::filesystem::exists(status)) {
    throw PolicyError(path + ": cannot read: " +
                      (error ? error.message() : std::string("no such file or directory")));
  }
  const std::vector<std::string> files =
      std::filesystem::is_directory(status) ? policyFilesIn(path) : std::vector<std::string>{path};

  std::vector<Egress> egresses;
  for (const std::string& file : files) {
    std::vector<Egress> from_file = parseDocuments(readFile(file), file);
    std::move(from_file.begin(), from_file.end(), std::back_inserter(egresses));
  }
  rejectDuplicateNames(egresses);
  return egresses;
}

std::optional<std::string> canonicalDomain(std::string_view text) {
  std::string name(text);
  std::transform(name.begin(), name.end(), name.begin(), asciiLower);
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (!isValidDomain(name)) return std::nullopt;
  return name;
}

}  // namespace skouter::policy
