// What policy made of a flow, named the same in every API, log line and metric:
// /v1/explain, /v1/audit, /v1/events, the denied-flow log and skouter_datapath_packets_total.
#pragma once

namespace skouter::daemon {

enum class FlowVerdict {
  kAllowed,
  kDenied,   // the packet is dropped
  kAudited,  // denied by policy, passes because of audit mode
};

constexpr const char* toString(FlowVerdict verdict) {
  switch (verdict) {
    case FlowVerdict::kAllowed:
      return "allowed";
    case FlowVerdict::kDenied:
      return "denied";
    case FlowVerdict::kAudited:
      return "audited";
  }
  return "unknown";
}

}  // namespace skouter::daemon
