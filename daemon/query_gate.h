// The daemon's side of policed queries (bpf/lib/query.h): the datapath holds a query
// of a workload whose queries are policed when it cannot tell the name allowed (only
// a regex allows it, or no rule does) and punts it through the answers ring. This
// judges the name with the workload's whole policy, then either sends the query on
// its way as it was sent (out of the uplink for the host; received again on the pod's
// interface for a pod), or answers it itself, from the resolver's address, and drops
// it: the query never reaches a resolver. Runs on the daemon's Asio loop and holds
// nothing: each query is judged as it is read.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bpf/frame_receiver.h"
#include "bpf/maps/released_query_table.h"
#include "bpf/skouter_abi.h"
#include "common/ip_address.h"
#include "common/rate_limited_log.h"
#include "daemon/query_verdict.h"
#include "policy/compiled_policy.h"
#include "resolver/answer_injector.h"

namespace skouter::daemon {

// One query judged, as events and logs tell it.
struct QueryDecision {
  std::uint32_t identity = 0;
  IpAddress client;
  IpAddress resolver;
  std::string name;  // empty when unreadable
  std::uint16_t type = 0;
  QueryJudgement judgement;
};

class QueryGate {
 public:
  struct Sources {
    // The policy of an identity; nullptr when nothing polices it.
    std::function<const policy::CompiledPolicy*(std::uint32_t identity)> policy;
    // Forgets a recorded query (dns_queries): one answered here gets no other answer.
    std::function<void(const skouter_dns_query_key& key)> forget_query;
  };
  using Reporter = std::function<void(const QueryDecision&)>;

  struct Stats {
    std::uint64_t released = 0;     // allowed, sent on their way
    std::uint64_t answered = 0;     // denied, answered here
    std::uint64_t send_failed = 0;  // the kernel did not take a query or an answer
    std::uint64_t max_hold_ns = 0;  // longest time from holding to sending
    // Queries judged, by verdict and reason.
    std::map<std::pair<std::string, std::string>, std::uint64_t> judged;
  };

  // `deny_response`: --deny-response, for workloads whose Egresses set none.
  QueryGate(maps::ReleasedQueryTable& released, resolver::AnswerInjector& injector,
            const FrameReceiver& receiver, Sources sources, Reporter reporter,
            policy::DenyResponse deny_response);

  // One record of the answers ring whose destination is SKOUTER_QUERY_FROM_HOST or
  // SKOUTER_QUERY_FROM_POD.
  void handle(const skouter_answer_header& header, std::span<const std::uint8_t> frame);

  const Stats& stats() const { return stats_; }

 private:
  // Sends `frame` out of (host) or into (pod, received again) the interface it was
  // held at; the reason when it could not be sent.
  std::string send(const skouter_answer_header& header, std::vector<std::uint8_t> frame);
  // Sends `frame` out of the interface `ifindex`, past its tc egress hook.
  std::string sendOutOf(int ifindex, std::vector<std::uint8_t> frame);

  maps::ReleasedQueryTable& released_;
  resolver::AnswerInjector& injector_;
  const FrameReceiver& receiver_;
  Sources sources_;
  Reporter reporter_;
  policy::DenyResponse deny_response_;
  Stats stats_;
  RateLimitedLog trouble_log_;
};

}  // namespace skouter::daemon
