// The admin API: HTTP/1.1 with JSON bodies on a Unix socket (mode 0600, so only root
// reaches it), and the optional Prometheus endpoint on TCP. Routing is the caller's;
// these classes only speak HTTP.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <memory>
#include <string>

#include "daemon/event_stream.h"

namespace skouter::daemon {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

// The answer to one request: a response, or (with `stream` set) an endless chunked
// response of newline-delimited JSON fed by the subscription.
struct AdminReply {
  HttpResponse response;
  std::shared_ptr<EventSubscription> stream;
};

class AdminServer {
 public:
  using Handler = std::function<AdminReply(const HttpRequest&)>;

  // Replaces a stale socket file left by a previous daemon. Throws on failure.
  AdminServer(boost::asio::io_context& io, const std::string& socket_path, Handler handler);
  ~AdminServer();

 private:
  void accept();

  boost::asio::local::stream_protocol::acceptor acceptor_;
  std::string socket_path_;
  Handler handler_;
};

// Serves GET /metrics (and nothing else) on a TCP address, for Prometheus.
class MetricsServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  // `address` is HOST:PORT or [IPV6]:PORT. Throws with the reason when it cannot listen.
  MetricsServer(boost::asio::io_context& io, const std::string& address, Handler handler);
  ~MetricsServer();

  boost::asio::ip::tcp::endpoint endpoint() const { return acceptor_.local_endpoint(); }

 private:
  void accept();

  boost::asio::ip::tcp::acceptor acceptor_;
  Handler handler_;
};

HttpResponse jsonResponse(const HttpRequest& request, boost::beast::http::status status,
                          const std::string& body);

}  // namespace skouter::daemon
