#include "daemon/flow_event_reader.h"

#include <arpa/inet.h>

#include <cstring>

#include "bpf/maps/bpf_address.h"
#include "bpf/skouter_abi.h"

namespace skouter::daemon {
FlowEventReader::FlowEventReader(boost::asio::io_context& io, int ring_fd, Handler handler)
    : handler_(std::move(handler)),
      ring_(io, ring_fd, "events",
            {.before_turn = {},
             .record = [this](resolver::RingRecord record) { handleRecord(record); },
             .after_turn = {}}) {}

void FlowEventReader::handleRecord(std::span<const std::uint8_t> record) {
  skouter_flow_event event;
  if (record.size() < sizeof(event)) {
    ++malformed_;
    return;
  }
  std::memcpy(&event, record.data(), sizeof(event));
  if ((event.family != SKOUTER_FAMILY_IPV4 && event.family != SKOUTER_FAMILY_IPV6) ||
      (event.verdict != SKOUTER_EVENT_DENIED && event.verdict != SKOUTER_EVENT_AUDITED)) {
    ++malformed_;
    return;
  }
  FlowEvent flow;
  flow.identity = event.identity;
  flow.source = maps::fromBpfAddr(event.family, event.saddr);
  flow.destination = maps::fromBpfAddr(event.family, event.daddr);
  flow.protocol = event.protocol;
  flow.port = ntohs(event.dport);
  flow.verdict =
      event.verdict == SKOUTER_EVENT_AUDITED ? FlowVerdict::kAudited : FlowVerdict::kDenied;
  handler_(flow);
}

}  // namespace skouter::daemon
