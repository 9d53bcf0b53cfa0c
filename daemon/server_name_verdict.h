// What the server name a new TLS or QUIC flow names makes of it: a pure function of
// what the daemon read from the flow's first data, the rule's check, the workload's
// policy and the names its address was learned for. The datapath let the flow open
// because its address was learned; this tells apart the sites that share it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "daemon/flow_verdict.h"
#include "policy/compiled_policy.h"
#include "policy/egress.h"

namespace skouter::daemon {

// What the first data of the flow turned out to be.
struct HelloReading {
  enum class Kind {
    kClientHello,     // a TLS ClientHello, over TCP or in QUIC Initial packets
    kNotTls,          // TCP data that does not start a TLS handshake
    kNotQuicInitial,  // a UDP datagram that is not a QUIC Initial of a known version
    kUnreadable,      // broken, undecryptable or larger than a ClientHello may be
  };
  Kind kind = Kind::kClientHello;
  std::optional<std::string> server_name;  // lower case; nullopt: none (an IP literal)
  // Encrypted Client Hello: `server_name` is the outer, public name; the real one is
  // encrypted for the server and cannot be checked.
  bool encrypted_client_hello = false;
  std::string detail;  // why unreadable, from the parser
};

// Why: one word for metrics and events, the same in every API.
enum class ServerNameReason {
  kAllowed,
  kNotAllowed,            // the policy allows no such name
  kNotLearnedForAddress,  // allowed, but it did not resolve to this address for the workload
  kNoServerName,
  kNotTls,
  kNotQuicInitial,
  kUnreadable,
};
const char* toString(ServerNameReason reason);

struct ServerNameJudgement {
  FlowVerdict verdict = FlowVerdict::kDenied;
  ServerNameReason reason = ServerNameReason::kNotAllowed;
  std::string explanation;  // one sentence for the operator
};

// `learned_names`: the names the flow's address was learned for, for this workload.
// `audit`: the workload is in audit mode (a denial is kAudited, the flow goes on).
ServerNameJudgement judgeServerName(const HelloReading& reading,
                                    const policy::ServerNameCheck& check,
                                    const policy::NameMatcher& names,
                                    const std::vector<std::string>& learned_names, bool audit);

}  // namespace skouter::daemon
