// The admin API: HTTP/1.1 with JSON bodies on a Unix socket (mode 0600, so only root
// reaches it), and the optional Prometheus endpoint on TCP. Routing is the caller's;
// these classes only speak HTTP (daemon/admin_api.h routes).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "daemon/admin_api.h"

namespace skouter::daemon {

// The connections a server holds at once; one beyond `max` is closed as it comes.
struct SessionLimit {
  std::size_t max = 0;
  std::size_t open = 0;
  std::uint64_t refused = 0;
};

// What both servers share: accepting within the limit, backing off when accept fails.
template <class Protocol>
class HttpListener {
 public:
  using Handler = std::function<AdminReply(const HttpRequest&)>;
  HttpListener(boost::asio::io_context& io, std::size_t max_sessions, Handler handler);
  ~HttpListener();

  typename Protocol::acceptor& acceptor() { return acceptor_; }
  const typename Protocol::acceptor& acceptor() const { return acceptor_; }
  // Connections closed at once because as many were open as allowed.
  std::uint64_t refused() const { return limit_->refused; }
  void accept();

 private:
  typename Protocol::acceptor acceptor_;
  Handler handler_;
  std::shared_ptr<SessionLimit> limit_;
  boost::asio::steady_timer retry_;
  std::chrono::milliseconds backoff_{0};
};

class AdminServer {
 public:
  using Handler = std::function<AdminReply(const HttpRequest&)>;
  // Admin clients are root's tools and monitors: a few at a time.
  static constexpr std::size_t kMaxSessions = 64;

  // Replaces a stale socket file left by a previous daemon. Throws on failure.
  AdminServer(boost::asio::io_context& io, const std::string& socket_path, Handler handler);

  std::uint64_t refused() const { return listener_.refused(); }

 private:
  HttpListener<boost::asio::local::stream_protocol> listener_;
};

// Serves GET /metrics (and nothing else) on a TCP address, for Prometheus.
class MetricsServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  // Scrapers, a few at a time; the address may be reachable by anyone on the node.
  static constexpr std::size_t kMaxSessions = 16;

  // `address` is HOST:PORT or [IPV6]:PORT. Throws with the reason when it cannot listen.
  MetricsServer(boost::asio::io_context& io, const std::string& address, Handler handler);

  boost::asio::ip::tcp::endpoint endpoint() const { return listener_.acceptor().local_endpoint(); }
  std::uint64_t refused() const { return listener_.refused(); }

 private:
  HttpListener<boost::asio::ip::tcp> listener_;
};

}  // namespace skouter::daemon
