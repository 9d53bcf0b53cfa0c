// Where the kernel routes a pod's address, and when that may have changed: the pod
// programs go on the interface the route to the pod leads to (its host-side veth),
// whatever the CNI called it. Plain rtnetlink, in the daemon's network namespace.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/ip_address.h"

namespace skouter::daemon {

struct RouteInterface {
  int ifindex = 0;
  std::string name;
  bool operator==(const RouteInterface&) const = default;
};

// The interface the kernel sends packets for `address` out of, as `ip route get
// ADDRESS` shows it (policy rules included), or nullopt when the address is
// unreachable (no route, or an unreachable, prohibit or blackhole route). Throws
// std::system_error only when netlink itself fails.
std::optional<RouteInterface> routeInterfaceOf(const IpAddress& address);

// Follows link and route changes (RTMGRP_LINK, RTMGRP_IPV4_ROUTE, RTMGRP_IPV6_ROUTE) on
// the io_context and calls `on_change` once after each batch of netlink messages read;
// the caller re-resolves its pods (and debounces). A netlink buffer overrun (ENOBUFS:
// messages were lost) calls it too. Never throws after construction.
class NetworkChangeMonitor {
 public:
  // Throws std::system_error when the netlink socket cannot be opened or bound.
  NetworkChangeMonitor(boost::asio::io_context& io, std::function<void()> on_change);
  ~NetworkChangeMonitor();
  NetworkChangeMonitor(const NetworkChangeMonitor&) = delete;
  NetworkChangeMonitor& operator=(const NetworkChangeMonitor&) = delete;

  void start();

 private:
  void waitForMessages();
  // Reads every message waiting; true when there was any (or some were lost).
  bool drainMessages();

  boost::asio::posix::stream_descriptor socket_;
  std::function<void()> on_change_;
  std::vector<char> buffer_;
};

}  // namespace skouter::daemon
