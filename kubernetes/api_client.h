// HTTPS requests to the Kubernetes API server (Boost.Beast over OpenSSL), asynchronous on
// the caller's io_context: plain GET/POST, and watch streams delivered line by line.
//
// Every request opens its own connection: requests are few (lists, watches, events) and
// a watch holds its connection for minutes, so a pool would save little. Each connection
// checks the server's certificate against the configured CA and host (name or IP
// address), sends SNI for names, and authenticates with the client certificate and/or
// the bearer token, which is read from token_file for every connection so a rotated
// token is picked up without a restart.
//
// Threads: none of its own. Call it on the thread that runs the io_context; callbacks run
// there, never from inside the call that started the request. Destroying the client
// cancels every request still running without calling its callbacks.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kubernetes/api_server_config.h"

namespace boost::asio::ssl {
class context;
}

namespace skouter::kubernetes {

struct ApiResponse {
  std::string error;    // transport/TLS failure, empty when an HTTP response arrived
  unsigned status = 0;  // HTTP status
  std::string body;
};

class HttpsExchange;

// An open watch. Destroying it or calling cancel() closes the connection; `done` is then
// never called.
class WatchStream {
 public:
  explicit WatchStream(std::shared_ptr<HttpsExchange> exchange);
  ~WatchStream();
  WatchStream(const WatchStream&) = delete;
  WatchStream& operator=(const WatchStream&) = delete;

  void cancel();

 private:
  std::shared_ptr<HttpsExchange> exchange_;
};

struct ApiClientTimeouts {
  std::chrono::milliseconds connect{5000};   // TCP connect and TLS handshake together
  std::chrono::milliseconds request{30000};  // a whole non-watch request after connecting
  // A watch is dead when no byte arrives for its timeoutSeconds (from the target; one hour
  // when absent) plus this.
  std::chrono::milliseconds watch_idle_grace{30000};
  // A connection whose peer stops answering (a server gone without a FIN, a partition,
  // a load balancer that forgot it) is closed within this: TCP keepalive probes on an
  // idle connection, and a limit on how long sent data may wait for its ACK. A quiet
  // watch is idle for minutes, and without this would look alive until its deadline.
  std::chrono::seconds dead_connection{30};
};

class ApiClient {
 public:
  // Throws ConfigError when the CA, client certificate or key in `config` is not valid PEM.
  ApiClient(boost::asio::io_context& io, ApiServerConfig config, ApiClientTimeouts timeouts = {});
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  const ApiServerConfig& config() const;

  // `target`: path and query, e.g. "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1".
  void get(const std::string& target, std::function<void(ApiResponse)> done);
  void post(const std::string& target, std::string json_body,
            std::function<void(ApiResponse)> done);
  // A streaming GET: `on_line` for every complete newline-terminated line of the body
  // (chunked decoding handled); `done` exactly once when the stream ends: error empty and
  // status 200 when the server ended it cleanly, error or status otherwise (body holds a
  // non-200 body). `on_line` may destroy or cancel the returned stream.
  std::shared_ptr<WatchStream> watch(const std::string& target,
                                     std::function<void(std::string_view line)> on_line,
                                     std::function<void(ApiResponse)> done);

 private:
  // `on_line` set: a watch.
  std::shared_ptr<HttpsExchange> start(boost::beast::http::verb method, const std::string& target,
                                       std::string body,
                                       std::function<void(std::string_view)> on_line,
                                       std::function<void(ApiResponse)> done);
  // The bearer token for a new connection: token_file's current contents, or `token`.
  std::string currentToken();

  boost::asio::io_context& io_;
  ApiServerConfig config_;
  ApiClientTimeouts timeouts_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::string last_file_token_;  // kept when a rotation briefly leaves the file unreadable
  std::vector<std::weak_ptr<HttpsExchange>> exchanges_;
};

// `text` as a query string value: every byte but RFC 3986's unreserved characters is
// percent-encoded (selectors carry '=', ',' and the '/' of label keys).
std::string queryEscaped(const std::string& text);

}  // namespace skouter::kubernetes
