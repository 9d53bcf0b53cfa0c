#include "kubernetes/api_client.h"

#include <cctype>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <spdlog/spdlog.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <fstream>
#include <optional>
#include <sstream>

namespace skouter::kubernetes {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr std::size_t kMaxResponseBody = 256u << 20;  // a list of every pod of a big cluster
constexpr std::size_t kMaxWatchLine = 64u << 20;      // one watch event: one object
constexpr std::size_t kMaxWatchErrorBody = 1u << 20;
constexpr auto kDefaultWatchTimeout = std::chrono::hours(1);

bool isIpAddress(const std::string& host) {
  error_code error;
  asio::ip::make_address(host, error);
  return !error;
}

std::string hostAndPort(const ApiServerConfig& config) {
  const bool bracket = config.host.find(':') != std::string::npos;
  return (bracket ? "[" + config.host + "]" : config.host) + ":" + config.port;
}

std::string seconds(std::chrono::milliseconds duration) {
  std::ostringstream text;
  text << duration.count() / 1000.0 << " s";
  return text.str();
}

// The timeoutSeconds query parameter of a watch target: how long the server keeps the
// stream open.
std::chrono::milliseconds watchTimeoutOf(const std::string& target) {
  const auto query = target.find('?');
  if (query == std::string::npos) return kDefaultWatchTimeout;
  const std::string key = "timeoutSeconds=";
  for (auto start = query + 1; start < target.size();) {
    auto end = target.find('&', start);
    if (end == std::string::npos) end = target.size();
    if (target.compare(start, key.size(), key) == 0) {
      unsigned value = 0;
      const char* first = target.data() + start + key.size();
      const auto [rest, error] = std::from_chars(first, target.data() + end, value);
      if (error == std::errc() && rest == target.data() + end && value > 0) {
        return std::chrono::seconds(value);
      }
    }
    start = end + 1;
  }
  return kDefaultWatchTimeout;
}

std::string describe(const error_code& error) {
  if (error == asio::ssl::error::stream_truncated || error == http::error::partial_message ||
      error == http::error::end_of_stream || error == asio::error::eof) {
    return "the server closed the connection before the response was complete";
  }
  return error.message();
}

std::string trimmed(const std::string& text) {
  const auto begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  const auto end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

}  // namespace

// One request on its own connection: resolve, connect, TLS handshake, write, read.
class HttpsExchange : public std::enable_shared_from_this<HttpsExchange> {
 public:
  HttpsExchange(asio::io_context& io, std::shared_ptr<asio::ssl::context> tls,
                const ApiServerConfig& config, const ApiClientTimeouts& timeouts,
                http::request<http::string_body> request,
                std::function<void(std::string_view)> on_line,
                std::function<void(ApiResponse)> done)
      : tls_(std::move(tls)),
        resolver_(io),
        stream_(io, *tls_),
        deadline_(io),
        host_(config.host),
        port_(config.port),
        server_(hostAndPort(config)),
        verify_name_(config.tls_server_name.empty() ? config.host : config.tls_server_name),
        verify_peer_(!config.insecure_skip_tls_verify),
        timeouts_(timeouts),
        request_(std::move(request)),
        on_line_(std::move(on_line)),
        done_(std::move(done)) {}

  void start() {
    // SNI carries names only (RFC 6066); an IP address is checked against the
    // certificate's IP SANs instead.
    SSL* ssl = stream_.native_handle();
    const bool verify_ip = isIpAddress(verify_name_);
    if (!verify_ip) SSL_set_tlsext_host_name(ssl, verify_name_.c_str());
    if (verify_peer_) {
      const bool ok =
          verify_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), verify_name_.c_str()) == 1
                    : SSL_set1_host(ssl, verify_name_.c_str()) == 1;
      if (!ok) {
        // Reported from the io_context: callbacks never run inside the call that started.
        asio::post(resolver_.get_executor(), [self = shared_from_this()] {
          self->finishWithError("cannot check the server's certificate against '" +
                                self->verify_name_ + "'");
        });
        return;
      }
    }
    armDeadline(timeouts_.connect, "connecting to " + server_ + " (TCP and TLS)");
    resolver_.async_resolve(
        host_, port_,
        [self = shared_from_this()](error_code error, tcp::resolver::results_type endpoints) {
          self->onResolved(error, std::move(endpoints));
        });
  }

  // Closes the connection; no callback runs afterwards.
  void cancel() {
    if (cancelled_ || finished_) return;
    cancelled_ = true;
    close();
  }

 private:
  bool streaming() const { return static_cast<bool>(on_line_); }

  void armDeadline(std::chrono::milliseconds timeout, std::string doing) {
    deadline_.expires_after(timeout);
    timed_out_doing_.clear();
    deadline_.async_wait(
        [self = shared_from_this(), doing = std::move(doing), timeout](error_code error) {
          if (error || self->finished_ || self->cancelled_) return;
          // Re-armed after this wait had already completed: not the current deadline.
          if (self->deadline_.expiry() > asio::steady_timer::clock_type::now()) return;
          self->timed_out_doing_ = "timed out after " + seconds(timeout) + " " + doing;
          self->close();
        });
  }

  void close() {
    deadline_.cancel();
    resolver_.cancel();
    error_code ignored;
    stream_.lowest_layer().close(ignored);
  }

  // Stops the exchange when `error` is set; then returns true.
  bool failed(const error_code& error, const std::string& doing) {
    if (cancelled_ || finished_) return true;
    if (!timed_out_doing_.empty()) {
      finishWithError(timed_out_doing_);
      return true;
    }
    if (!error) return false;
    finishWithError(doing + ": " + describe(error));
    return true;
  }

  void finishWithError(std::string error) {
    ApiResponse response;
    response.error = std::move(error);
    finish(std::move(response));
  }

  void finish(ApiResponse response) {
    if (finished_ || cancelled_) return;
    finished_ = true;
    close();
    auto done = std::move(done_);
    on_line_ = nullptr;
    if (done) done(std::move(response));
  }

  // Keepalive probes after a third of the limit, every sixth of it, three unanswered
  // ones declare the peer dead: about five sixths of the limit in all.
  void detectDeadPeer() {
    const int fd = stream_.lowest_layer().native_handle();
    const long limit = std::max<long>(timeouts_.dead_connection.count(), 6);
    const int on = 1;
    const int idle = static_cast<int>(limit / 3);
    const int interval = static_cast<int>(limit / 6);
    const int probes = 3;
    const unsigned user_timeout_ms = static_cast<unsigned>(limit * 1000);
    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof(probes)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof(user_timeout_ms)) !=
            0) {
      spdlog::warn("Kubernetes API: cannot set TCP keepalive on the connection to {}: {}", server_,
                   std::strerror(errno));
    }
  }

  void onResolved(error_code error, tcp::resolver::results_type endpoints) {
    if (failed(error, "resolving " + host_)) return;
    asio::async_connect(stream_.lowest_layer(), endpoints,
                        [self = shared_from_this()](error_code error, const tcp::endpoint&) {
                          self->onConnected(error);
                        });
  }

  void onConnected(error_code error) {
    if (failed(error, "connecting to " + server_)) return;
    detectDeadPeer();
    stream_.async_handshake(
        asio::ssl::stream_base::client,
        [self = shared_from_this()](error_code error) { self->onHandshake(error); });
  }

  void onHandshake(error_code error) {
    if (cancelled_ || finished_) return;
    if (error && timed_out_doing_.empty()) {
      std::string reason = error.message();
      const long verify_result = SSL_get_verify_result(stream_.native_handle());
      if (verify_result != X509_V_OK) {
        reason = "the server's certificate is not trusted: " +
                 std::string(X509_verify_cert_error_string(verify_result));
        if (verify_result == X509_V_ERR_HOSTNAME_MISMATCH ||
            verify_result == X509_V_ERR_IP_ADDRESS_MISMATCH) {
          reason += " (it does not name '" + verify_name_ + "')";
        } else {
          reason += " (is the configured CA the one that signed it?)";
        }
      }
      finishWithError("TLS handshake with " + server_ + " failed: " + reason);
      return;
    }
    if (failed(error, "TLS handshake with " + server_)) return;
    armDeadline(timeouts_.request, "waiting for the response to " + std::string(request_.target()) +
                                       " from " + server_);
    http::async_write(
        stream_, request_,
        [self = shared_from_this()](error_code error, std::size_t) { self->onWritten(error); });
  }

  void onWritten(error_code error) {
    if (failed(error, "sending the request to " + server_)) return;
    if (streaming()) {
      stream_parser_.emplace();
      stream_parser_->body_limit(boost::none);
      http::async_read_header(stream_, buffer_, *stream_parser_,
                              [self = shared_from_this()](error_code error, std::size_t) {
                                self->onStreamHeader(error);
                              });
    } else {
      parser_.emplace();
      parser_->body_limit(kMaxResponseBody);
      http::async_read(
          stream_, buffer_, *parser_,
          [self = shared_from_this()](error_code error, std::size_t) { self->onResponse(error); });
    }
  }

  void onResponse(error_code error) {
    if (failed(error, "reading the response from " + server_)) return;
    auto message = parser_->release();
    ApiResponse response;
    response.status = message.result_int();
    response.body = std::move(message.body());
    finish(std::move(response));
  }

  void onStreamHeader(error_code error) {
    if (failed(error, "reading the response from " + server_)) return;
    readStreamBody();
  }

  void readStreamBody() {
    auto& body = stream_parser_->get().body();
    body.data = chunk_.data();
    body.size = chunk_.size();
    if (stream_parser_->get().result() == http::status::ok) {
      armDeadline(watchTimeoutOf(std::string(request_.target())) + timeouts_.watch_idle_grace,
                  "waiting for the next byte of the watch " + std::string(request_.target()));
    }
    http::async_read_some(
        stream_, buffer_, *stream_parser_,
        [self = shared_from_this()](error_code error, std::size_t) { self->onStreamBody(error); });
  }

  void onStreamBody(error_code error) {
    if (cancelled_ || finished_) return;
    if (error == http::error::need_buffer) error = {};
    const std::size_t received = chunk_.size() - stream_parser_->get().body().size;
    const bool ok = stream_parser_->get().result() == http::status::ok;
    if (ok) {
      if (!takeLines(std::string_view(chunk_.data(), received))) return;
    } else if (error_body_.size() < kMaxWatchErrorBody) {
      error_body_.append(chunk_.data(), received);
    }
    if (failed(error, "reading the watch stream from " + server_)) return;
    if (stream_parser_->is_done()) {
      ApiResponse response;
      response.status = stream_parser_->get().result_int();
      if (!ok) response.body = std::move(error_body_);
      finish(std::move(response));
      return;
    }
    readStreamBody();
  }

  // Hands every completed line to on_line. Returns false when the exchange has ended
  // (on_line cancelled it, or a line is too long).
  bool takeLines(std::string_view data) {
    // The lines ending in this chunk are consumed from `partial_line_` in place.
    partial_line_.append(data);
    std::size_t line_start = 0;
    for (std::size_t newline; (newline = partial_line_.find('\n', line_start)) != std::string::npos;
         line_start = newline + 1) {
      on_line_(std::string_view(partial_line_).substr(line_start, newline - line_start));
      if (cancelled_ || finished_) return false;
    }
    partial_line_.erase(0, line_start);
    if (partial_line_.size() > kMaxWatchLine) {
      finishWithError("a watch event from " + server_ + " is longer than " +
                      std::to_string(kMaxWatchLine >> 20) + " MiB");
      return false;
    }
    return true;
  }

  std::shared_ptr<asio::ssl::context> tls_;
  tcp::resolver resolver_;
  asio::ssl::stream<tcp::socket> stream_;
  asio::steady_timer deadline_;
  const std::string host_, port_, server_, verify_name_;
  const bool verify_peer_;
  const ApiClientTimeouts timeouts_;
  http::request<http::string_body> request_;
  std::function<void(std::string_view)> on_line_;
  std::function<void(ApiResponse)> done_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;
  std::optional<http::response_parser<http::buffer_body>> stream_parser_;
  std::array<char, 16384> chunk_{};
  std::string partial_line_;
  std::string error_body_;
  std::string timed_out_doing_;  // set when the deadline closed the connection
  bool cancelled_ = false;
  bool finished_ = false;
};

WatchStream::WatchStream(std::shared_ptr<HttpsExchange> exchange)
    : exchange_(std::move(exchange)) {}

WatchStream::~WatchStream() { cancel(); }

void WatchStream::cancel() {
  if (exchange_) exchange_->cancel();
}

ApiClient::ApiClient(asio::io_context& io, ApiServerConfig config, ApiClientTimeouts timeouts)
    : io_(io),
      config_(std::move(config)),
      timeouts_(timeouts),
      tls_(std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client)) {
  SSL_CTX_set_min_proto_version(tls_->native_handle(), TLS1_2_VERSION);
  error_code error;
  if (config_.insecure_skip_tls_verify) {
    tls_->set_verify_mode(asio::ssl::verify_none);
  } else {
    tls_->set_verify_mode(asio::ssl::verify_peer);
    if (config_.ca_pem.empty()) {
      tls_->set_default_verify_paths(error);
      if (error) {
        throw ConfigError("cannot load the system's trusted CAs: " + error.message());
      }
    } else {
      tls_->add_certificate_authority(asio::buffer(config_.ca_pem), error);
      if (error) {
        throw ConfigError("the cluster CA certificate of " + config_.origin +
                          " is not valid PEM: " + error.message());
      }
    }
  }
  if (!config_.client_certificate_pem.empty()) {
    tls_->use_certificate_chain(asio::buffer(config_.client_certificate_pem), error);
    if (error) {
      throw ConfigError("the client certificate of " + config_.origin +
                        " is not valid PEM: " + error.message());
    }
    tls_->use_private_key(asio::buffer(config_.client_key_pem), asio::ssl::context::pem, error);
    if (error) {
      throw ConfigError("the client key of " + config_.origin +
                        " is not a valid PEM key for its certificate: " + error.message());
    }
  }
}

ApiClient::~ApiClient() {
  for (const auto& weak : exchanges_) {
    if (auto exchange = weak.lock()) exchange->cancel();
  }
}

const ApiServerConfig& ApiClient::config() const { return config_; }

std::string ApiClient::currentToken() {
  if (config_.token_file.empty()) return config_.token;
  std::ifstream file(config_.token_file, std::ios::binary);
  std::ostringstream contents;
  if (file) contents << file.rdbuf();
  const std::string token = trimmed(contents.str());
  if (!token.empty()) {
    if (!last_file_token_.empty() && token != last_file_token_) {
      spdlog::debug("Kubernetes API token {} changed; using the new token", config_.token_file);
    }
    last_file_token_ = token;
  } else if (!last_file_token_.empty()) {
    spdlog::warn("Kubernetes API token {} cannot be read or is empty; using the previous token",
                 config_.token_file);
  }
  return last_file_token_.empty() ? config_.token : last_file_token_;
}

std::shared_ptr<HttpsExchange> ApiClient::start(http::verb method, const std::string& target,
                                                std::string body,
                                                std::function<void(std::string_view)> on_line,
                                                std::function<void(ApiResponse)> done) {
  http::request<http::string_body> request{method, config_.path_prefix + target, 11};
  request.set(http::field::host, hostAndPort(config_));
  request.set(http::field::user_agent, "skouterd");
  request.set(http::field::accept, "application/json");
  const std::string token = currentToken();
  if (!token.empty()) request.set(http::field::authorization, "Bearer " + token);
  if (method == http::verb::post) {
    request.set(http::field::content_type, "application/json");
    request.body() = std::move(body);
  }
  request.keep_alive(false);
  request.prepare_payload();
  auto exchange = std::make_shared<HttpsExchange>(io_, tls_, config_, timeouts_, std::move(request),
                                                  std::move(on_line), std::move(done));
  std::erase_if(exchanges_, [](const auto& weak) { return weak.expired(); });
  exchanges_.push_back(exchange);
  exchange->start();
  return exchange;
}

void ApiClient::get(const std::string& target, std::function<void(ApiResponse)> done) {
  start(http::verb::get, target, "", nullptr, std::move(done));
}

void ApiClient::post(const std::string& target, std::string json_body,
                     std::function<void(ApiResponse)> done) {
  start(http::verb::post, target, std::move(json_body), nullptr, std::move(done));
}

std::shared_ptr<WatchStream> ApiClient::watch(const std::string& target,
                                              std::function<void(std::string_view line)> on_line,
                                              std::function<void(ApiResponse)> done) {
  if (!on_line) on_line = [](std::string_view) {};
  return std::make_shared<WatchStream>(
      start(http::verb::get, target, "", std::move(on_line), std::move(done)));
}

std::string queryEscaped(const std::string& text) {
  static const char* const kHex = "0123456789ABCDEF";
  std::string escaped;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      escaped += static_cast<char>(c);
    } else {
      escaped += '%';
      escaped += kHex[c >> 4];
      escaped += kHex[c & 15];
    }
  }
  return escaped;
}

}  // namespace skouter::kubernetes
