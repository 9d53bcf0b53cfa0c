// Delivers a held DNS answer to its client. To a client on this host, the IP packet is
// sent as is through a raw socket to the local address, carrying the mark the
// datapath lets through. To a pod, the whole frame goes out of the pod's host-side
// interface past its tc egress hook, where pod_egress held it. Either way it is
// neither intercepted again nor delivered twice.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "common/ip_address.h"

namespace skouter::resolver {

class AnswerInjector {
 public:
  // Throws std::system_error when the raw or packet sockets cannot be opened
  // (CAP_NET_RAW).
  explicit AnswerInjector(std::uint32_t mark);
  ~AnswerInjector();
  AnswerInjector(const AnswerInjector&) = delete;
  AnswerInjector& operator=(const AnswerInjector&) = delete;

  // Returns an empty string on success, otherwise the reason.
  std::string deliverToHost(std::span<const std::uint8_t> ip_packet, const IpAddress& client);

  // Sends a whole Ethernet frame out of the interface with `ifindex` (in the daemon's
  // network namespace) with PACKET_QDISC_BYPASS, so the frame skips tc egress there
  // (pod_egress would hold it again) and reaches the peer exactly once. The kernel
  // refuses an IP packet larger than the interface's MTU. Returns an empty string on
  // success, otherwise the reason.
  std::string deliverToInterface(std::span<const std::uint8_t> frame, int ifindex);

  // The MTU of the interface with `ifindex`: the largest IP packet deliverToInterface
  // sends there. nullopt when the interface is gone.
  std::optional<std::size_t> mtuOf(int ifindex) const;

 private:
  int ipv4_socket_ = -1;
  int ipv6_socket_ = -1;
  int packet_socket_ = -1;
};

}  // namespace skouter::resolver
