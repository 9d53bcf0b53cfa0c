#include "daemon/server_name_verdict.h"

#include <algorithm>

namespace skouter::daemon {

const char* toString(ServerNameReason reason) {
  switch (reason) {
    case ServerNameReason::kAllowed:
      return "allowed";
    case ServerNameReason::kNotAllowed:
      return "name_not_allowed";
    case ServerNameReason::kNotLearnedForAddress:
      return "not_learned_for_address";
    case ServerNameReason::kNoServerName:
      return "no_server_name";
    case ServerNameReason::kNotTls:
      return "not_tls";
    case ServerNameReason::kNotQuicInitial:
      return "not_quic_initial";
    case ServerNameReason::kUnreadable:
      return "unreadable";
  }
  return "unknown";
}

namespace {

std::string joined(const std::vector<std::string>& names) {
  if (names.empty()) return "no name";
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

ServerNameJudgement refuse(ServerNameReason reason, std::string explanation, bool audit) {
  return {audit ? FlowVerdict::kAudited : FlowVerdict::kDenied, reason, std::move(explanation)};
}

}  // namespace

ServerNameJudgement judgeServerName(const HelloReading& reading,
                                    const policy::ServerNameCheck& check,
                                    const policy::NameMatcher& names,
                                    const std::vector<std::string>& learned_names, bool audit) {
  const std::string learned = "the address was learned for " + joined(learned_names);
  switch (reading.kind) {
    case HelloReading::Kind::kNotTls:
      return refuse(ServerNameReason::kNotTls,
                    "the first data is not a TLS ClientHello, so it names no server; " + learned,
                    audit);
    case HelloReading::Kind::kNotQuicInitial:
      return refuse(
          ServerNameReason::kNotQuicInitial,
          "the first datagram is not a QUIC Initial of a version skouter reads; " + learned, audit);
    case HelloReading::Kind::kUnreadable:
      return refuse(ServerNameReason::kUnreadable,
                    "the ClientHello cannot be read (" + reading.detail + "); " + learned, audit);
    case HelloReading::Kind::kClientHello:
      break;
  }
  if (!reading.server_name) {
    return refuse(ServerNameReason::kNoServerName,
                  "the ClientHello names no server (an IP literal?); " + learned, audit);
  }
  const std::string& name = *reading.server_name;
  const std::string shown = reading.encrypted_client_hello
                                ? name + " (the outer name of an encrypted ClientHello)"
                                : name;
  if (!names.match(name)) {
    return refuse(ServerNameReason::kNotAllowed, "no rule allows " + shown + "; " + learned, audit);
  }
  if (check.match == policy::ServerNameMatch::kLearnedForAddress &&
      std::find(learned_names.begin(), learned_names.end(), name) == learned_names.end()) {
    return refuse(
        ServerNameReason::kNotLearnedForAddress,
        shown + " is allowed but did not resolve to this address for the workload; " + learned,
        audit);
  }
  return {FlowVerdict::kAllowed, ServerNameReason::kAllowed,
          shown + " is allowed" +
              (check.match == policy::ServerNameMatch::kLearnedForAddress
                   ? " and resolved to this address"
                   : std::string(" (any allowed name may use the address)"))};
}

}  // namespace skouter::daemon
