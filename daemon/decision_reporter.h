// Tells operators of each decision as it is made: the live event stream (/v1/events,
// `skouterctl monitor`), the audit table (/v1/audit, `skouterctl audit`) and the log of
// denied flows, one line per new destination.
#pragma once

#include <cstdint>
#include <string>

#include "common/ip_address.h"
#include "common/rate_limited_log.h"
#include "daemon/audit_table.h"
#include "daemon/daemon_view.h"
#include "daemon/denied_query_table.h"
#include "daemon/event_stream.h"
#include "daemon/expired_addresses.h"
#include "daemon/query_gate.h"
#include "daemon/server_name_gate.h"
#include "resolver/answer_handler.h"
#include "resolver/answer_pipeline.h"
#include "resolver/observed_names.h"

namespace skouter::daemon {

class DecisionReporter {
 public:
  // `view` names workloads and rules; `expired_addresses` tells late connections and
  // counts them.
  DecisionReporter(EventHub& events, AuditTable& audit_table, DeniedQueryTable& denied_queries,
                   ExpiredAddresses& expired_addresses, const DaemonView& view)
      : events_(events),
        audit_table_(audit_table),
        denied_queries_(denied_queries),
        expired_addresses_(expired_addresses),
        view_(view) {}

  // A flow the datapath denied or audited; to an address learned for the workload whose
  // expiry passed, a late connection.
  void flow(const FlowEvent& flow);
  // A held answer's outcome, after its addresses were installed.
  void answer(std::uint32_t identity, const IpAddress& client,
              const resolver::AnswerDecision& decision, resolver::AnswerOutcome outcome);
  // A new TLS or QUIC flow judged by its server name. Denied and audited ones are also
  // logged and go into the audit table, as flows the datapath denies do.
  void serverName(const ServerNameDecision& decision);
  // A held query judged. Denied ones are also logged and counted per workload in the
  // denied query table.
  void query(const QueryDecision& decision);
  // A policy applied (`error` empty) or kept out (`error` says why).
  void policy(const std::string& why, const std::string& error);

 private:
  EventHub& events_;
  AuditTable& audit_table_;
  DeniedQueryTable& denied_queries_;
  ExpiredAddresses& expired_addresses_;
  const DaemonView& view_;
  RateLimitedLog denied_flow_log_;
  RateLimitedLog server_name_log_;
  RateLimitedLog query_log_;
};

}  // namespace skouter::daemon
