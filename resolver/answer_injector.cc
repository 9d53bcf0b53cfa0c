#include "resolver/answer_injector.h"

#include <netinet/in.h>
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

}  // namespace

AnswerInjector::AnswerInjector(std::uint32_t mark)
    : ipv4_socket_(openRawSocket(AF_INET, mark)), ipv6_socket_(openRawSocket(AF_INET6, mark)) {}

AnswerInjector::~AnswerInjector() {
  close(ipv4_socket_);
  close(ipv6_socket_);
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

}  // namespace skouter::resolver
