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

OutgoingAnswer AnswerInjector::toHost(std::span<const std::uint8_t> ip_packet,
                                      const IpAddress& client) const {
  OutgoingAnswer answer;
  answer.bytes.assign(ip_packet.begin(), ip_packet.end());
  if (client.family == IpFamily::kV4) {
    auto& destination = reinterpret_cast<sockaddr_in&>(answer.destination);
    destination.sin_family = AF_INET;
    std::memcpy(&destination.sin_addr, client.bytes.data(), 4);
    answer.destination_length = sizeof(sockaddr_in);
    answer.socket = ipv4_socket_;
  } else {
    auto& destination = reinterpret_cast<sockaddr_in6&>(answer.destination);
    destination.sin6_family = AF_INET6;
    std::memcpy(&destination.sin6_addr, client.bytes.data(), 16);
    answer.destination_length = sizeof(sockaddr_in6);
    answer.socket = ipv6_socket_;
  }
  return answer;
}

std::optional<OutgoingAnswer> AnswerInjector::toInterface(std::vector<std::uint8_t> frame,
                                                          int ifindex, std::string& failure) const {
  if (frame.size() <= kEthernetHeader) {
    failure = "the frame is shorter than an Ethernet header";
    return std::nullopt;
  }
  OutgoingAnswer answer;
  answer.bytes = std::move(frame);
  answer.socket = packet_socket_;
  auto& destination = reinterpret_cast<sockaddr_ll&>(answer.destination);
  destination.sll_family = AF_PACKET;
  destination.sll_ifindex = ifindex;
  // The EtherType as the frame carries it (network order), for skb->protocol.
  std::memcpy(&destination.sll_protocol, &answer.bytes[12], sizeof(destination.sll_protocol));
  answer.destination_length = sizeof(sockaddr_ll);
  return answer;
}

void AnswerInjector::send(std::span<OutgoingAnswer> answers) const {
  std::vector<iovec> buffers(answers.size());
  std::vector<mmsghdr> messages(answers.size());
  for (std::size_t i = 0; i < answers.size(); ++i) {
    buffers[i] = {answers[i].bytes.data(), answers[i].bytes.size()};
    messages[i].msg_hdr = {.msg_name = &answers[i].destination,
                           .msg_namelen = answers[i].destination_length,
                           .msg_iov = &buffers[i],
                           .msg_iovlen = 1,
                           .msg_control = nullptr,
                           .msg_controllen = 0,
                           .msg_flags = 0};
  }
  std::size_t next = 0;
  while (next < answers.size()) {
    std::size_t run = next + 1;
    while (run < answers.size() && answers[run].socket == answers[next].socket) ++run;
    const int sent =
        sendmmsg(answers[next].socket, &messages[next], static_cast<unsigned>(run - next), 0);
    if (sent <= 0) {
      // The first of the run failed (sendmmsg reports an error only then): the rest
      // are tried again after it.
      answers[next].failure = std::strerror(sent < 0 ? errno : EIO);
      ++next;
      continue;
    }
    for (int i = 0; i < sent; ++i) {
      if (messages[next + i].msg_len != answers[next + i].bytes.size()) {
        answers[next + i].failure = "short write";
      }
    }
    next += static_cast<std::size_t>(sent);
  }
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
