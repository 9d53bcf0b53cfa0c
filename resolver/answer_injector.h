// Delivers a held DNS answer to its client. To a client on this host, the IP packet is
// sent as is through a raw socket to the local address, carrying the mark the
// datapath lets through. To a pod, the whole frame goes out of the pod's host-side
// interface past its tc egress hook, where pod_egress held it. Either way it is
// neither intercepted again nor delivered twice.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/ip_address.h"

namespace skouter::resolver {

// One answer made ready to send: its bytes, the socket and where they go.
struct OutgoingAnswer {
  std::vector<std::uint8_t> bytes;
  int socket = -1;
  sockaddr_storage destination{};
  socklen_t destination_length = 0;
  // After AnswerInjector::send(): empty, or why the kernel did not take it.
  std::string failure;
};

class AnswerInjector {
 public:
  // Throws std::system_error when the raw or packet sockets cannot be opened
  // (CAP_NET_RAW).
  explicit AnswerInjector(std::uint32_t mark);
  ~AnswerInjector();
  AnswerInjector(const AnswerInjector&) = delete;
  AnswerInjector& operator=(const AnswerInjector&) = delete;

  // The IP packet for `client`, to send through the raw socket.
  OutgoingAnswer toHost(std::span<const std::uint8_t> ip_packet, const IpAddress& client) const;

  // A whole Ethernet frame to send out of the interface with `ifindex` (in the daemon's
  // network namespace) with PACKET_QDISC_BYPASS, so the frame skips tc egress there
  // (pod_egress would hold it again) and reaches the peer exactly once. The kernel
  // refuses an IP packet larger than the interface's MTU. nullopt, with the reason in
  // `failure`, for a frame that is not one.
  std::optional<OutgoingAnswer> toInterface(std::vector<std::uint8_t> frame, int ifindex,
                                            std::string& failure) const;

  // Sends each answer in order, with one system call for each run of answers through
  // one socket (sendmmsg), and sets each one's failure.
  void send(std::span<OutgoingAnswer> answers) const;

  // The MTU of the interface with `ifindex`: the largest IP packet sent there through
  // toInterface(). nullopt when the interface is gone.
  std::optional<std::size_t> mtuOf(int ifindex) const;

 private:
  int ipv4_socket_ = -1;
  int ipv6_socket_ = -1;
  int packet_socket_ = -1;
};

}  // namespace skouter::resolver
