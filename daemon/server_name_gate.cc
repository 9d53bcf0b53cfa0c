#include "daemon/server_name_gate.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "bpf/maps/bpf_address.h"
#include "common/datapath_clock.h"
#include "resolver/ip_frame.h"
#include "tls/client_hello.h"

namespace skouter::daemon {

namespace {

// Flows judged lately are remembered this long, and at most this many.
constexpr std::uint64_t kSettledMemoryNs = 10'000'000'000;
constexpr std::size_t kMaxSettled = 4096;

std::uint16_t read16(std::span<const std::uint8_t> bytes, std::size_t at) {
  return static_cast<std::uint16_t>(bytes[at] << 8 | bytes[at + 1]);
}

HelloReading readingOf(const tls::HelloParse& parse, HelloReading::Kind not_hello) {
  HelloReading reading;
  switch (parse.status) {
    case tls::HelloStatus::kComplete:
      reading.server_name = parse.info.server_name;
      reading.encrypted_client_hello = parse.info.encrypted_client_hello;
      break;
    case tls::HelloStatus::kNotTls:
      reading.kind = not_hello;
      reading.detail = parse.error;
      break;
    case tls::HelloStatus::kMalformed:
    case tls::HelloStatus::kNeedMore:
      reading.kind = HelloReading::Kind::kUnreadable;
      reading.detail = parse.error;
      break;
  }
  return reading;
}

}  // namespace

ServerNameGate::ServerNameGate(maps::FlowTable& flows, resolver::AnswerInjector& injector,
                               const FrameReceiver& receiver, Sources sources, Reporter reporter,
                               ServerNameGateLimits limits)
    : flows_(flows),
      injector_(injector),
      receiver_(receiver),
      sources_(std::move(sources)),
      reporter_(std::move(reporter)),
      limits_(limits) {}

std::optional<ServerNameGate::HeldFrame> ServerNameGate::readFrame(
    const skouter_answer_header& header, std::span<const std::uint8_t> frame, skouter_flow_key& key,
    IpAddress& source, IpAddress& remote, std::uint16_t& remote_port) const {
  std::string error;
  HeldFrame held;
  held.link_header.assign(frame.begin(),
                          frame.begin() + std::min<std::size_t>(header.l3_offset, frame.size()));
  std::uint16_t local_port = 0;
  if (header.protocol == IPPROTO_TCP) {
    // The held segment's "client" is its destination: here the remote server.
    auto segment = resolver::extractHeldSegment(frame, header.l3_offset, header.l4_offset, error);
    if (!segment) return std::nullopt;
    source = segment->server;
    remote = segment->client;
    local_port = segment->server_port;
    remote_port = segment->client_port;
    held.sequence = segment->sequence;
    const auto payload = segment->payload();
    held.payload.assign(payload.begin(), payload.end());
    // Checksums were left to offload, and a segment larger than the MTU to GSO.
    const auto mtu = injector_.mtuOf(static_cast<int>(header.ifindex));
    if (mtu && segment->ip_packet.size() > *mtu) {
      held.ip_packets = resolver::splitTcpSegment(*segment, *mtu);
    } else {
      resolver::recomputeTcpChecksum(*segment);
      held.ip_packets.push_back(std::move(segment->ip_packet));
    }
  } else if (header.protocol == IPPROTO_UDP) {
    auto datagram = resolver::extractHeldPacket(frame, header.l3_offset, header.l4_offset, error);
    if (!datagram) return std::nullopt;
    source = datagram->server;
    remote = datagram->client;
    const auto udp =
        std::span<const std::uint8_t>(datagram->ip_packet).subspan(datagram->udp_offset);
    local_port = read16(udp, 0);
    remote_port = read16(udp, 2);
    const auto payload = datagram->dns();
    held.payload.assign(payload.begin(), payload.end());
    held.ip_packets.push_back(resolver::rebuildUdpPacket(*datagram, payload));
  } else {
    return std::nullopt;
  }
  key = {};
  key.identity = header.identity;
  const skouter_addr local_address = maps::toBpfAddr(source);
  const skouter_addr remote_address = maps::toBpfAddr(remote);
  key.family = local_address.family;
  key.protocol = header.protocol;
  key.local_port = htons(local_port);
  key.remote_port = htons(remote_port);
  std::memcpy(key.local, local_address.addr, sizeof(key.local));
  std::memcpy(key.remote, remote_address.addr, sizeof(key.remote));
  return held;
}

void ServerNameGate::handle(const skouter_answer_header& header,
                            std::span<const std::uint8_t> frame) {
  ++stats_.held;
  const std::uint64_t now = datapathNowNs();
  skouter_flow_key key{};
  IpAddress source;
  IpAddress remote;
  std::uint16_t remote_port = 0;
  auto held = readFrame(header, frame, key, source, remote, remote_port);
  if (!held) {
    ++stats_.unreadable_frames;
    ++stats_.dropped;
    return;
  }
  FlowId id;
  std::memcpy(id.data(), &key, sizeof(key));

  // Held before the datapath saw the flow's verdict: it follows the verdict. What was
  // held after it belongs to a flow the datapath opened anew (a new connection on the
  // same ports, or one it had lost), which is judged anew.
  if (const auto settled = settled_.find(id);
      settled != settled_.end() && header.received_ns > settled->second.settled_ns) {
    settled_.erase(settled);
  } else if (settled != settled_.end()) {
    if (settled->second.origin == SKOUTER_FLOW_SERVER_NAME_DENIED) {
      ++stats_.dropped;
      return;
    }
    release(header.destination, header.ifindex, header.received_ns, std::span(&*held, 1));
    return;
  }

  auto [it, added] = pending_.try_emplace(id);
  PendingFlow& flow = it->second;
  if (added) {
    if (pending_.size() > limits_.max_flows) {
      // The oldest goes: its workload sends its data again and starts over.
      auto oldest = std::min_element(pending_.begin(), pending_.end(), [](auto& a, auto& b) {
        return a.second.first_held_ns < b.second.first_held_ns;
      });
      if (oldest == it) {
        pending_.erase(it);
        ++stats_.dropped;
        ++stats_.flows_forgotten;
        return;
      }
      forget(oldest);
    }
    flow.key = key;
    flow.identity = header.identity;
    flow.destination = header.destination;
    flow.ifindex = header.ifindex;
    flow.protocol = header.protocol;
    flow.source = source;
    flow.remote = remote;
    flow.remote_port = remote_port;
    flow.first_held_ns = header.received_ns;
  }
  std::size_t size = held->link_header.size();
  for (const auto& packet : held->ip_packets) size += packet.size();
  if (flow.bytes + size > limits_.max_flow_bytes || bytes_held_ + size > limits_.max_bytes) {
    trouble_log_.log(now, spdlog::level::warn,
                     "server name check: the first data of a flow of identity {} to {} is "
                     "larger than skouter holds; dropped",
                     header.identity, remote.toString());
    ++stats_.dropped;
    forget(it);
    return;
  }
  flow.bytes += size;
  bytes_held_ += size;
  flow.frames.push_back(std::move(*held));
  if (const auto reading = read(flow)) judge(id, flow, *reading);
}

std::optional<HelloReading> ServerNameGate::read(PendingFlow& flow) const {
  if (flow.protocol == IPPROTO_TCP) {
    // The stream from the lowest sequence number held: data goes out in order, and a
    // retransmission repeats what came before.
    std::vector<const HeldFrame*> frames;
    for (const auto& frame : flow.frames) frames.push_back(&frame);
    const std::uint32_t base = flow.frames.front().sequence;
    auto offset = [base](const HeldFrame* frame) {
      return static_cast<std::int32_t>(frame->sequence - base);
    };
    std::sort(frames.begin(), frames.end(),
              [&](const HeldFrame* a, const HeldFrame* b) { return offset(a) < offset(b); });
    const std::int32_t start = offset(frames.front());
    std::vector<std::uint8_t> stream;
    for (const HeldFrame* frame : frames) {
      const auto at = static_cast<std::size_t>(offset(frame) - start);
      if (at > stream.size()) break;  // a gap: what follows is not here yet
      const std::size_t overlap = stream.size() - at;
      if (overlap < frame->payload.size()) {
        stream.insert(stream.end(), frame->payload.begin() + static_cast<std::ptrdiff_t>(overlap),
                      frame->payload.end());
      }
    }
    const auto parse = tls::parseTlsClientHello(stream);
    if (parse.status == tls::HelloStatus::kNeedMore) return std::nullopt;
    return readingOf(parse, HelloReading::Kind::kNotTls);
  }
  const auto& datagram = flow.frames.back().payload;
  const auto initial = tls::decryptQuicInitials(datagram);
  if (initial.status != tls::QuicStatus::kOk) {
    // Only the first datagram must be an Initial; what follows it waits with it.
    if (flow.frames.size() > 1) return std::nullopt;
    HelloReading reading;
    reading.kind = initial.status == tls::QuicStatus::kMalformed ||
                           initial.status == tls::QuicStatus::kUndecryptable
                       ? HelloReading::Kind::kUnreadable
                       : HelloReading::Kind::kNotQuicInitial;
    reading.detail = initial.error;
    return reading;
  }
  for (const auto& fragment : initial.crypto) {
    if (!flow.crypto.add(fragment)) {
      HelloReading reading;
      reading.kind = HelloReading::Kind::kUnreadable;
      reading.detail =
          flow.crypto.overflowed()
              ? "a ClientHello larger than " + std::to_string(tls::kMaxClientHelloBytes) + " bytes"
              : std::string("CRYPTO frames that contradict each other");
      return reading;
    }
  }
  const auto parse = tls::parseClientHelloMessage(flow.crypto.contiguous());
  if (parse.status == tls::HelloStatus::kNeedMore) return std::nullopt;
  return readingOf(parse, HelloReading::Kind::kUnreadable);
}

void ServerNameGate::judge(const FlowId& id, PendingFlow& flow, const HelloReading& reading) {
  const std::uint64_t now = datapathNowNs();
  static const policy::NameMatcher kNothingAllowed;
  const auto* policy = sources_.policy(flow.identity);
  const auto entry = sources_.learned(flow.identity, flow.remote);
  const auto check = entry ? sources_.check(entry->rule) : std::nullopt;
  ServerNameDecision decision;
  decision.identity = flow.identity;
  decision.protocol = flow.protocol == IPPROTO_TCP ? "tls" : "quic";
  decision.source = flow.source;
  decision.destination = flow.remote;
  decision.port = flow.remote_port;
  decision.reading = reading;
  if (entry) decision.learned_names = entry->names;
  if (!check) {
    // The rule stopped checking (or the address expired and went) since the flow
    // opened: what the datapath would decide of a new flow now decides this one.
    decision.judgement = {FlowVerdict::kAllowed, ServerNameReason::kAllowed,
                          "the address's rule no longer checks server names"};
    if (!entry) {
      decision.judgement = {FlowVerdict::kDenied, ServerNameReason::kNotLearnedForAddress,
                            "the address is no longer learned for the workload"};
    }
  } else {
    decision.judgement = judgeServerName(reading, *check, policy ? policy->names : kNothingAllowed,
                                         decision.learned_names, policy && policy->audit());
  }
  const FlowVerdict verdict = decision.judgement.verdict;
  const skouter_flow_origin origin = verdict == FlowVerdict::kAllowed ? SKOUTER_FLOW_OUTBOUND
                                     : verdict == FlowVerdict::kAudited
                                         ? SKOUTER_FLOW_AUDITED
                                         : SKOUTER_FLOW_SERVER_NAME_DENIED;
  // Settled first: a frame received on a pod's interface again passes its tc ingress
  // only on a settled flow.
  if (!flows_.settle(flow.key, origin, now)) {
    trouble_log_.log(now, spdlog::level::warn,
                     "server name check: cannot settle the flow of identity {} to {}: the flow "
                     "table is full",
                     flow.identity, flow.remote.toString());
  }
  ++stats_.judged[{decision.protocol, toString(verdict), toString(decision.judgement.reason)}];
  if (reporter_) reporter_(decision);
  rememberSettled(id, origin, now);
  auto it = pending_.find(id);
  if (origin != SKOUTER_FLOW_SERVER_NAME_DENIED) {
    release(flow.destination, flow.ifindex, flow.first_held_ns, flow.frames);
  } else {
    stats_.dropped += flow.frames.size();
  }
  bytes_held_ -= std::min(bytes_held_, it->second.bytes);
  pending_.erase(it);
}

void ServerNameGate::release(std::uint32_t destination, std::uint32_t ifindex,
                             std::uint64_t held_since_ns, std::span<const HeldFrame> frames) {
  std::vector<resolver::OutgoingAnswer> outgoing;
  for (const auto& frame : frames) {
    for (const auto& packet : frame.ip_packets) {
      std::vector<std::uint8_t> bytes(frame.link_header);
      bytes.insert(bytes.end(), packet.begin(), packet.end());
      std::string failure;
      if (destination == SKOUTER_HELLO_FROM_POD) {
        failure = receiver_.receive(bytes, static_cast<int>(ifindex));
      } else if (auto sent =
                     injector_.toInterface(std::move(bytes), static_cast<int>(ifindex), failure)) {
        outgoing.push_back(std::move(*sent));
        continue;
      }
      if (failure.empty()) {
        ++stats_.released;
      } else {
        ++stats_.release_failed;
        trouble_log_.log(datapathNowNs(), spdlog::level::warn,
                         "server name check: cannot release held data on interface {}: {}", ifindex,
                         failure);
      }
    }
  }
  injector_.send(outgoing);
  for (const auto& sent : outgoing) {
    if (sent.failure.empty()) {
      ++stats_.released;
      continue;
    }
    ++stats_.release_failed;
    trouble_log_.log(datapathNowNs(), spdlog::level::warn,
                     "server name check: cannot release held data on interface {}: {}", ifindex,
                     sent.failure);
  }
  stats_.max_hold_ns = std::max(stats_.max_hold_ns, elapsedSince(held_since_ns, datapathNowNs()));
}

void ServerNameGate::forget(std::map<FlowId, PendingFlow>::iterator flow) {
  stats_.dropped += flow->second.frames.size();
  ++stats_.flows_forgotten;
  bytes_held_ -= std::min(bytes_held_, flow->second.bytes);
  pending_.erase(flow);
}

void ServerNameGate::rememberSettled(const FlowId& id, skouter_flow_origin origin,
                                     std::uint64_t now) {
  if (settled_.size() >= kMaxSettled) {
    auto oldest = std::min_element(settled_.begin(), settled_.end(), [](auto& a, auto& b) {
      return a.second.settled_ns < b.second.settled_ns;
    });
    settled_.erase(oldest);
  }
  settled_[id] = {origin, now};
}

void ServerNameGate::expire() {
  const std::uint64_t now = datapathNowNs();
  for (auto it = pending_.begin(); it != pending_.end();) {
    auto next = std::next(it);
    if (elapsedSince(it->second.first_held_ns, now) > limits_.max_hold_ns) forget(it);
    it = next;
  }
  std::erase_if(settled_, [now](const auto& entry) {
    return elapsedSince(entry.second.settled_ns, now) > kSettledMemoryNs;
  });
}

}  // namespace skouter::daemon
