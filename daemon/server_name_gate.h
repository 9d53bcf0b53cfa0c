// The daemon's side of the server name check (bpf/lib/server_name.h): the datapath
// holds the first data of a flow to a learned address whose rule checks server names
// and punts it through the answers ring; this reads the TLS ClientHello (over TCP,
// reassembled from its segments) or the QUIC Initial (decrypted with its initial
// keys), judges the server name it names (daemon/server_name_verdict.h), settles the
// flow in the flow table, and then releases what it held, or drops it. Runs on the
// daemon's Asio loop; holds a bounded amount.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "bpf/frame_receiver.h"
#include "bpf/maps/allowed_ip_entry.h"
#include "bpf/maps/flow_table.h"
#include "bpf/skouter_abi.h"
#include "common/ip_address.h"
#include "common/rate_limited_log.h"
#include "daemon/server_name_verdict.h"
#include "policy/compiled_policy.h"
#include "resolver/answer_injector.h"
#include "tls/quic_initial.h"

namespace skouter::daemon {

// One flow judged by its server name, as events and logs tell it.
struct ServerNameDecision {
  std::uint32_t identity = 0;
  const char* protocol = "tls";  // "tls" (TCP) or "quic" (UDP)
  IpAddress source;
  IpAddress destination;
  std::uint16_t port = 0;
  HelloReading reading;
  ServerNameJudgement judgement;
  std::vector<std::string> learned_names;  // the names the address was learned for
};

// How much the gate holds at once, whatever workloads send.
struct ServerNameGateLimits {
  std::size_t max_flows = 1024;               // flows whose first data is held
  std::size_t max_flow_bytes = 256 * 1024;    // frames held for one flow
  std::size_t max_bytes = 32 * 1024 * 1024;   // frames held in all
  std::uint64_t max_hold_ns = 3'000'000'000;  // a ClientHello not complete by then is dropped
};

class ServerNameGate {
 public:
  struct Sources {
    // The policy of an identity; nullptr when nothing polices it.
    std::function<const policy::CompiledPolicy*(std::uint32_t identity)> policy;
    // The learned entry of `ip` for `identity`, with the names it was learned for.
    std::function<std::optional<maps::AllowedIpEntry>(std::uint32_t identity, const IpAddress& ip)>
        learned;
    // How `rule` is checked; nullopt when it no longer is.
    std::function<std::optional<policy::ServerNameCheck>(policy::RuleId rule)> check;
  };
  using Reporter = std::function<void(const ServerNameDecision&)>;

  struct Stats {
    std::uint64_t held = 0;               // records read: frames held by the datapath
    std::uint64_t released = 0;           // frames sent on their way
    std::uint64_t dropped = 0;            // frames of denied flows, and frames forgotten
    std::uint64_t unreadable_frames = 0;  // records that are no TCP segment or UDP datagram
    std::uint64_t flows_forgotten = 0;    // incomplete past max_hold_ns, or over the limits
    std::uint64_t release_failed = 0;     // the kernel did not take a released frame
    std::uint64_t max_hold_ns = 0;        // longest time from holding to releasing
    // Flows judged, by protocol ("tls", "quic"), verdict and reason.
    std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> judged;
  };

  ServerNameGate(maps::FlowTable& flows, resolver::AnswerInjector& injector,
                 const FrameReceiver& receiver, Sources sources, Reporter reporter,
                 ServerNameGateLimits limits = {});

  // One record of the answers ring whose destination is SKOUTER_HELLO_FROM_HOST or
  // SKOUTER_HELLO_FROM_POD.
  void handle(const skouter_answer_header& header, std::span<const std::uint8_t> frame);
  // Drops what has waited longer than max_hold_ns; called from the daemon's timers.
  void expire();

  const Stats& stats() const { return stats_; }
  std::size_t flowsHeld() const { return pending_.size(); }

 private:
  using FlowId = std::array<std::uint8_t, sizeof(skouter_flow_key)>;

  // A frame as the datapath held it, and where it goes once released.
  struct HeldFrame {
    std::vector<std::uint8_t> link_header;
    std::vector<std::vector<std::uint8_t>> ip_packets;  // ready to send, checksums complete
    std::uint32_t sequence = 0;                         // TCP
    std::vector<std::uint8_t> payload;                  // TCP data, UDP datagram
  };
  struct PendingFlow {
    skouter_flow_key key{};
    std::uint32_t identity = 0;
    std::uint32_t destination = 0;  // enum skouter_answer_destination
    std::uint32_t ifindex = 0;
    std::uint8_t protocol = 0;
    IpAddress source;
    IpAddress remote;
    std::uint16_t remote_port = 0;
    std::uint64_t first_held_ns = 0;
    std::size_t bytes = 0;
    std::vector<HeldFrame> frames;
    tls::CryptoStream crypto;  // QUIC
  };
  struct Settled {
    skouter_flow_origin origin;
    std::uint64_t settled_ns;
  };

  // The frame made ready for release; nullopt (counted) when it is not a TCP segment
  // or UDP datagram at the offsets the datapath gave.
  std::optional<HeldFrame> readFrame(const skouter_answer_header& header,
                                     std::span<const std::uint8_t> frame, skouter_flow_key& key,
                                     IpAddress& source, IpAddress& remote,
                                     std::uint16_t& remote_port) const;
  // What the flow's held data says so far; nullopt while the ClientHello is incomplete.
  std::optional<HelloReading> read(PendingFlow& flow) const;
  void judge(const FlowId& id, PendingFlow& flow, const HelloReading& reading);
  // Sends `frames`, held since `held_since_ns` at `ifindex` for `destination` (enum
  // skouter_answer_destination), on their way.
  void release(std::uint32_t destination, std::uint32_t ifindex, std::uint64_t held_since_ns,
               std::span<const HeldFrame> frames);
  void forget(std::map<FlowId, PendingFlow>::iterator flow);
  void rememberSettled(const FlowId& id, skouter_flow_origin origin, std::uint64_t now);

  maps::FlowTable& flows_;
  resolver::AnswerInjector& injector_;
  const FrameReceiver& receiver_;
  Sources sources_;
  Reporter reporter_;
  ServerNameGateLimits limits_;
  std::map<FlowId, PendingFlow> pending_;
  std::size_t bytes_held_ = 0;
  // Flows judged lately: data the datapath held before it saw the verdict follows it.
  std::map<FlowId, Settled> settled_;
  Stats stats_;
  RateLimitedLog trouble_log_;
};

}  // namespace skouter::daemon
