#include "daemon/route_lookup.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

namespace skouter::daemon {
namespace {

// Large enough for any reply to one route lookup (a route with its metrics and cache
// information is a few hundred bytes), and for a datagram of notifications.
constexpr std::size_t kNetlinkBufferSize = 64 * 1024;
// Notifications read in one batch before the event loop gets a turn again.
constexpr int kMaxDatagramsPerBatch = 256;
// Room for bursts (hundreds of pods starting at once) before the kernel drops
// notifications; the daemon has CAP_NET_ADMIN to go beyond net.core.rmem_max.
constexpr int kMonitorReceiveBuffer = 4 * 1024 * 1024;

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

int openRtnetlink(int extra_flags) {
  const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | extra_flags, NETLINK_ROUTE);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "rtnetlink socket");
  return fd;
}

// What the kernel answers for an address it cannot send anywhere: no route (or an
// unreachable route), a prohibit route, a blackhole route.
bool meansUnreachable(int error) {
  return error == ENETUNREACH || error == EHOSTUNREACH || error == EACCES || error == EINVAL;
}

struct RouteRequest {
  nlmsghdr header;
  rtmsg route;
  char attributes[RTA_SPACE(16)];
};

RouteRequest routeRequest(const IpAddress& address, std::uint32_t sequence) {
  RouteRequest request{};
  request.header.nlmsg_type = RTM_GETROUTE;
  request.header.nlmsg_flags = NLM_F_REQUEST;
  request.header.nlmsg_seq = sequence;
  request.route.rtm_family = address.family == IpFamily::kV4 ? AF_INET : AF_INET6;
  request.route.rtm_dst_len = static_cast<unsigned char>(address.maxPrefixLength());
  request.route.rtm_flags = RTM_F_LOOKUP_TABLE;
  auto* destination = reinterpret_cast<rtattr*>(request.attributes);
  destination->rta_type = RTA_DST;
  destination->rta_len = static_cast<unsigned short>(RTA_LENGTH(address.size()));
  std::memcpy(RTA_DATA(destination), address.bytes.data(), address.size());
  request.header.nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg)) + RTA_ALIGN(destination->rta_len);
  return request;
}

std::optional<int> outputInterfaceOf(const nlmsghdr* message) {
  const auto* route = static_cast<const rtmsg*>(NLMSG_DATA(message));
  int length = static_cast<int>(RTM_PAYLOAD(message));
  for (const rtattr* attribute = RTM_RTA(route); RTA_OK(attribute, length);
       attribute = RTA_NEXT(attribute, length)) {
    if (attribute->rta_type == RTA_OIF && RTA_PAYLOAD(attribute) >= sizeof(int)) {
      int ifindex = 0;
      std::memcpy(&ifindex, RTA_DATA(attribute), sizeof(ifindex));
      return ifindex;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<RouteInterface> routeInterfaceOf(const IpAddress& address) {
  const FileDescriptor fd(openRtnetlink(0));
  const std::string what = "route lookup of " + address.toString();
  constexpr std::uint32_t kSequence = 1;
  const RouteRequest request = routeRequest(address, kSequence);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd.get(), &request, request.header.nlmsg_len, 0,
             reinterpret_cast<const sockaddr*>(&kernel), sizeof(kernel)) < 0) {
    throw std::system_error(errno, std::generic_category(), what);
  }
  // The kernel queues the reply before sendto returns: it is there to read.
  std::vector<char> reply(kNetlinkBufferSize);
  for (;;) {
    const ssize_t received = recv(fd.get(), reply.data(), reply.size(), 0);
    if (received < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), what);
    }
    int remaining = static_cast<int>(received);
    for (auto* message = reinterpret_cast<const nlmsghdr*>(reply.data());
         NLMSG_OK(message, remaining); message = NLMSG_NEXT(message, remaining)) {
      if (message->nlmsg_seq != kSequence) continue;
      if (message->nlmsg_type == NLMSG_ERROR) {
        const int error = -static_cast<const nlmsgerr*>(NLMSG_DATA(message))->error;
        if (error == 0) continue;
        if (meansUnreachable(error)) return std::nullopt;
        throw std::system_error(error, std::generic_category(), what);
      }
      if (message->nlmsg_type != RTM_NEWROUTE) continue;
      const auto ifindex = outputInterfaceOf(message);
      if (!ifindex) return std::nullopt;
      char name[IF_NAMESIZE] = {};
      // Gone since the lookup: so is the route through it.
      if (!if_indextoname(static_cast<unsigned>(*ifindex), name)) return std::nullopt;
      return RouteInterface{.ifindex = *ifindex, .name = name};
    }
  }
}

namespace {

int openMonitorSocket() {
  FileDescriptor fd(openRtnetlink(SOCK_NONBLOCK));
  // Beyond net.core.rmem_max when the daemon may (CAP_NET_ADMIN), else as far as it
  // goes; a smaller buffer only makes an overrun (handled) more likely.
  if (setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &kMonitorReceiveBuffer,
                 sizeof(kMonitorReceiveBuffer)) != 0) {
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &kMonitorReceiveBuffer,
               sizeof(kMonitorReceiveBuffer));
  }
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  local.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&local), sizeof(local)) != 0) {
    throw std::system_error(errno, std::generic_category(),
                            "subscribing to rtnetlink link and route changes");
  }
  return fd.release();
}

}  // namespace

NetworkChangeMonitor::NetworkChangeMonitor(boost::asio::io_context& io,
                                           std::function<void()> on_change)
    : socket_(io, openMonitorSocket()),
      on_change_(std::move(on_change)),
      buffer_(kNetlinkBufferSize) {}

NetworkChangeMonitor::~NetworkChangeMonitor() = default;

void NetworkChangeMonitor::start() { waitForMessages(); }

void NetworkChangeMonitor::waitForMessages() {
  socket_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                     [this](const boost::system::error_code& error) {
                       // Aborted: the monitor is being destroyed; touch nothing of it.
                       if (error == boost::asio::error::operation_aborted) return;
                       if (error) {
                         spdlog::error("no longer following network changes: {}", error.message());
                         return;
                       }
                       if (drainMessages()) on_change_();
                       waitForMessages();
                     });
}

bool NetworkChangeMonitor::drainMessages() {
  bool changed = false;
  for (int datagram = 0; datagram < kMaxDatagramsPerBatch; ++datagram) {
    const ssize_t received = recv(socket_.native_handle(), buffer_.data(), buffer_.size(), 0);
    if (received >= 0) {
      changed = true;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return changed;
    // ENOBUFS: the kernel dropped notifications, so whatever they said must be read
    // afresh; more may be waiting behind the overrun.
    changed = true;
    if (errno == ENOBUFS) continue;
    // Anything else is as good a reason to look again.
    spdlog::warn("reading network changes: {}", std::strerror(errno));
    return changed;
  }
  return changed;
}

}  // namespace skouter::daemon
