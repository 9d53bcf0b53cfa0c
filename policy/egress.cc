#include "policy/egress.h"

#include <algorithm>
#include <string>

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

std::optional<DenyResponse> parseDenyResponse(std::string_view text) {
  if (text == "passthrough") return DenyResponse::kPassthrough;
  if (text == "nxdomain") return DenyResponse::kNxdomain;
  if (text == "refused") return DenyResponse::kRefused;
  return std::nullopt;
}

const char* toString(DenyResponse response) {
  switch (response) {
    case DenyResponse::kPassthrough:
      return "passthrough";
    case DenyResponse::kNxdomain:
      return "nxdomain";
    case DenyResponse::kRefused:
      return "refused";
  }
  return "unknown";
}

std::optional<QueryMode> parseQueryMode(std::string_view text) {
  if (text == "allow") return QueryMode::kAllow;
  if (text == "deny") return QueryMode::kDeny;
  return std::nullopt;
}

const char* toString(QueryMode mode) { return mode == QueryMode::kDeny ? "deny" : "allow"; }

std::optional<ServerNameMatch> parseServerNameMatch(std::string_view text) {
  if (text == "learnedForAddress") return ServerNameMatch::kLearnedForAddress;
  if (text == "allowedByPolicy") return ServerNameMatch::kAllowedByPolicy;
  return std::nullopt;
}

const char* toString(ServerNameMatch match) {
  switch (match) {
    case ServerNameMatch::kLearnedForAddress:
      return "learnedForAddress";
    case ServerNameMatch::kAllowedByPolicy:
      return "allowedByPolicy";
  }
  return "unknown";
}

PortSet defaultServerNamePorts() {
  return normalizePorts({{PortProtocol::kTcp, 443, 443}, {PortProtocol::kUdp, 443, 443}});
}

const char* toString(PortProtocol protocol) {
  switch (protocol) {
    case PortProtocol::kTcp:
      return "TCP";
    case PortProtocol::kUdp:
      return "UDP";
    case PortProtocol::kSctp:
      return "SCTP";
  }
  return "unknown";
}

PortSet normalizePorts(PortSet ports) {
  std::sort(ports.begin(), ports.end());
  PortSet merged;
  for (const PortRange& range : ports) {
    if (!merged.empty() && merged.back().protocol == range.protocol &&
        static_cast<unsigned>(merged.back().last) + 1 >= range.first) {
      merged.back().last = std::max(merged.back().last, range.last);
    } else {
      merged.push_back(range);
    }
  }
  return merged;
}

PortSet unitePorts(const PortSet& a, const PortSet& b) {
  if (a.empty() || b.empty()) return {};
  PortSet both = a;
  both.insert(both.end(), b.begin(), b.end());
  return normalizePorts(std::move(both));
}

bool portSetAllows(const PortSet& ports, PortProtocol protocol, std::uint16_t port) {
  if (ports.empty()) return true;
  return std::any_of(ports.begin(), ports.end(), [&](const PortRange& range) {
    return range.protocol == protocol && range.first <= port && port <= range.last;
  });
}

PortSet widenToFit(PortSet ports, std::size_t max_ranges) {
  ports = normalizePorts(std::move(ports));
  while (ports.size() > max_ranges) {
    std::optional<std::size_t> narrowest;
    unsigned narrowest_gap = 0;
    for (std::size_t i = 0; i + 1 < ports.size(); ++i) {
      if (ports[i].protocol != ports[i + 1].protocol) continue;
      const unsigned gap = ports[i + 1].first - ports[i].last;
      if (!narrowest || gap < narrowest_gap) {
        narrowest = i;
        narrowest_gap = gap;
      }
    }
    if (!narrowest) break;  // one range per protocol left
    ports[*narrowest].last = ports[*narrowest + 1].last;
    ports.erase(ports.begin() + static_cast<std::ptrdiff_t>(*narrowest) + 1);
  }
  return ports;
}

std::string describePorts(const PortSet& ports) {
  if (ports.empty()) return "any port";
  std::string text;
  for (const PortRange& range : ports) {
    if (!text.empty()) text += ", ";
    text += std::to_string(range.first);
    if (range.last != range.first) text += "-" + std::to_string(range.last);
    text += "/";
    text += toString(range.protocol);
  }
  return text;
}

}  // namespace skouter::policy
