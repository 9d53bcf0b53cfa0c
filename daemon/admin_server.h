// The admin API: HTTP/1.1 with JSON bodies on a Unix socket (mode 0600, so only root
// reaches it). Routing is the caller's; this class only speaks HTTP.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <string>

namespace skouter::daemon {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

class AdminServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  // Replaces a stale socket file left by a previous daemon. Throws on failure.
  AdminServer(boost::asio::io_context& io, const std::string& socket_path, Handler handler);
  ~AdminServer();

 private:
  void accept();

  boost::asio::local::stream_protocol::acceptor acceptor_;
  std::string socket_path_;
  Handler handler_;
};

HttpResponse jsonResponse(const HttpRequest& request, boost::beast::http::status status,
                          const std::string& body);

}  // namespace skouter::daemon
