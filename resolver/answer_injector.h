// Delivers a held DNS answer to a client on this host: the IP packet is sent as is
// through a raw socket to the local address, carrying the mark the datapath lets
// through, so it is neither intercepted again nor delivered twice.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/ip_address.h"

namespace skouter::resolver {

class AnswerInjector {
 public:
  // Throws std::system_error when the raw sockets cannot be opened (CAP_NET_RAW).
  explicit AnswerInjector(std::uint32_t mark);
  ~AnswerInjector();
  AnswerInjector(const AnswerInjector&) = delete;
  AnswerInjector& operator=(const AnswerInjector&) = delete;

  // Returns an empty string on success, otherwise the reason.
  std::string deliverToHost(std::span<const std::uint8_t> ip_packet, const IpAddress& client);

 private:
  int ipv4_socket_ = -1;
  int ipv6_socket_ = -1;
};

}  // namespace skouter::resolver
