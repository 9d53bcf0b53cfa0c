#include "resolver/answer_injector.h"

#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace skouter::resolver {
namespace {

// IPPROTO_RAW sockets take the whole IP header from the caller (IP_HDRINCL for IPv4,
// its IPv6 equivalent since Linux 4.5), so the answer keeps the resolver as source.
int openRawSocket(int family, std::uint32_t mark) {
  const int fd = socket(family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
  if (fd < 0) {
    throw std::system_error(errno, std::generic_category(),
                            family == AF_INET ? "raw IPv4 socket" : "raw IPv6 socket");
  }
  if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0) {
    const int error = errno;
    close(fd);
    throw std::system_error(error, std::generic_category(), "SO_MARK on the raw socket");
  }
  return fd;
}

constexpr std::size_t kEthernetHeader = 14;

// Protocol 0: the socket only sends, it never receives a copy of the host's traffic.
// PACKET_QDISC_BYPASS sends through dev_direct_xmit, which runs no tc egress program.
int openPacketSocket() {
  const int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "packet socket");
  const int bypass = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &bypass, sizeof(bypass)) != 0) {
    const int error = errno;
    close(fd);
    throw std::system_error(error, std::generic_category(),
                            "PACKET_QDISC_BYPASS on the packet socket");
  }
  return fd;
}

}  // namespace

AnswerInjector::AnswerInjector(std::uint32_t mark)
    : ipv4_socket_(openRawSocket(AF_INET, mark)),
      ipv6_socket_(openRawSocket(AF_INET6, mark)),
      packet_socket_(openPacketSocket()) {}

AnswerInjector::~AnswerInjector() {
  close(ipv4_socket_);
  close(ipv6_socket_);
  close(packet_socket_);
}

std::string AnswerInjector::deliverToHost(std::span<const std::uint8_t> ip_packet,
                                          const IpAddress& client) {
  ssize_t sent;
  if (client.family == IpFamily::kV4) {
    sockaddr_in destination{};
    destination.sin_family = AF_INET;
    std::memcpy(&destination.sin_addr, client.bytes.data(), 4);
    sent = sendto(ipv4_socket_, ip_packet.data(), ip_packet.size(), 0,
                  reinterpret_cast<const sockaddr*>(&destination), sizeof(destination));
  } else {
    sockaddr_in6 destination{};
    destination.sin6_family = AF_INET6;
    std::memcpy(&destination.sin6_addr, client.bytes.data(), 16);
    sent = sendto(ipv6_socket_, ip_packet.data(), ip_packet.size(), 0,
                  reinterpret_cast<const sockaddr*>(&destination), sizeof(destination));
  }
  if (sent < 0) return std::strerror(errno);
  if (static_cast<std::size_t>(sent) != ip_packet.size()) return "short write";
  return {};
}

std::string AnswerInjector::deliverToInterface(std::span<const std::uint8_t> frame, int ifindex) {
  if (frame.size() <= kEthernetHeader) return "the frame is shorter than an Ethernet header";
  sockaddr_ll destination{};
  destination.sll_family = AF_PACKET;
  destination.sll_ifindex = ifindex;
  // The EtherType as the frame carries it (network order), for skb->protocol.
  std::memcpy(&destination.sll_protocol, &frame[12], sizeof(destination.sll_protocol));
  const ssize_t sent = sendto(packet_socket_, frame.data(), frame.size(), 0,
                              reinterpret_cast<const sockaddr*>(&destination), sizeof(destination));
  if (sent < 0) return std::strerror(errno);
  if (static_cast<std::size_t>(sent) != frame.size()) return "short write";
  return {};
}

std::optional<std::size_t> AnswerInjector::mtuOf(int ifindex) const {
  ifreq request{};
  if (ifindex <= 0 || !if_indextoname(static_cast<unsigned>(ifindex), request.ifr_name)) {
    return std::nullopt;
  }
  if (ioctl(packet_socket_, SIOCGIFMTU, &request) != 0 || request.ifr_mtu <= 0) return std::nullopt;
  return static_cast<std::size_t>(request.ifr_mtu);
}

}  // namespace skouter::resolver
