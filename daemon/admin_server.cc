#include "daemon/admin_server.h"

#include "daemon/options.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core.hpp>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

namespace skouter::daemon {
namespace http = boost::beast::http;
using boost::asio::ip::tcp;
using boost::asio::local::stream_protocol;

namespace {

// Slow or idle clients hold nothing but their socket; a request larger than this is
// not one skouterd serves.
constexpr std::uint64_t kMaxRequestBody = 64 * 1024;

// One connection: read a request, answer it, repeat while the client keeps it open.
// A streaming reply ends the exchange: events flow until the client goes away.
template <class Socket>
class HttpSession : public std::enable_shared_from_this<HttpSession<Socket>> {
 public:
  HttpSession(Socket socket, std::function<AdminReply(const HttpRequest&)> handler)
      : socket_(std::move(socket)), handler_(std::move(handler)) {}

  void readRequest() {
    parser_.emplace();
    parser_->body_limit(kMaxRequestBody);
    http::async_read(
        socket_, buffer_, *parser_,
        [self = this->shared_from_this()](boost::beast::error_code error, std::size_t) {
          if (!error) self->respond(self->parser_->release());
        });
  }

 private:
  void respond(const HttpRequest& request) {
    AdminReply reply;
    try {
      reply = handler_(request);
    } catch (const std::exception& error) {
      // A map that cannot be read fails this request, never the daemon.
      spdlog::error("{} {}: {}", std::string(request.method_string()),
                    std::string(request.target()), error.what());
      reply = {jsonResponse(request, http::status::internal_server_error,
                            nlohmann::json{{"error", error.what()}}.dump()),
               nullptr};
    }
    if (reply.stream) {
      stream(request, std::move(reply));
      return;
    }
    auto response = std::make_shared<HttpResponse>(std::move(reply.response));
    response->keep_alive(request.keep_alive());
    response->prepare_payload();
    http::async_write(
        socket_, *response,
        [self = this->shared_from_this(), response](boost::beast::error_code error, std::size_t) {
          if (!error && response->keep_alive()) self->readRequest();
        });
  }

  void stream(const HttpRequest& request, AdminReply reply) {
    subscription_ = std::move(reply.stream);
    auto header = std::make_shared<http::response<http::empty_body>>(reply.response.result(),
                                                                     request.version());
    for (const auto& field : reply.response.base()) header->set(field.name(), field.value());
    header->chunked(true);
    auto serializer = std::make_shared<http::response_serializer<http::empty_body>>(*header);
    http::async_write_header(socket_, *serializer,
                             [self = this->shared_from_this(), header, serializer](
                                 boost::beast::error_code error, std::size_t) {
                               if (error) return self->close();
                               std::weak_ptr<HttpSession> weak = self;
                               self->subscription_->onQueued([weak] {
                                 if (const auto session = weak.lock()) session->flush();
                               });
                               self->watchForClose();
                               self->flush();
                             });
  }

  void flush() {
    if (writing_ || !subscription_) return;
    pending_ = subscription_->take();
    if (pending_.empty()) return;
    writing_ = true;
    boost::asio::async_write(
        socket_, http::make_chunk(boost::asio::buffer(pending_)),
        [self = this->shared_from_this()](boost::beast::error_code error, std::size_t) {
          self->writing_ = false;
          if (error) return self->close();
          self->flush();
        });
  }

  // The client sends nothing more; a read ends only when it hangs up.
  void watchForClose() {
    socket_.async_read_some(
        boost::asio::buffer(discard_),
        [self = this->shared_from_this()](boost::beast::error_code error, std::size_t) {
          if (error) return self->close();
          self->watchForClose();
        });
  }

  void close() {
    subscription_.reset();
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

  Socket socket_;
  std::function<AdminReply(const HttpRequest&)> handler_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<EventSubscription> subscription_;
  std::string pending_;
  bool writing_ = false;
  std::array<char, 256> discard_;
};

// `address` passed parseMetricsAddress() when the options were read.
tcp::endpoint listenEndpoint(const std::string& address) {
  const auto parsed = parseMetricsAddress(address);
  if (!parsed) throw std::runtime_error("--metrics-address '" + address + "' is not HOST:PORT");
  const std::string host = parsed->host == "localhost" ? "127.0.0.1" : parsed->host;
  return {boost::asio::ip::make_address(host), parsed->port};
}

}  // namespace

HttpResponse jsonResponse(const HttpRequest& request, http::status status,
                          const std::string& body) {
  HttpResponse response{status, request.version()};
  response.set(http::field::content_type, "application/json");
  response.body() = body;
  return response;
}

AdminServer::AdminServer(boost::asio::io_context& io, const std::string& socket_path,
                         Handler handler)
    : acceptor_(io), socket_path_(socket_path), handler_(std::move(handler)) {
  const std::filesystem::path path(socket_path);
  std::filesystem::create_directories(path.parent_path());
  std::filesystem::remove(path);
  // Created with no access for others at all, then opened to the owner only: there
  // is no moment at which another user could connect.
  const mode_t previous = umask(0177);
  acceptor_.open(stream_protocol());
  acceptor_.bind(stream_protocol::endpoint(socket_path));
  umask(previous);
  chmod(socket_path.c_str(), 0600);
  acceptor_.listen();
  accept();
}

AdminServer::~AdminServer() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

void AdminServer::accept() {
  acceptor_.async_accept([this](boost::system::error_code error, stream_protocol::socket socket) {
    if (error) {
      if (error != boost::asio::error::operation_aborted) {
        spdlog::warn("admin socket accept failed: {}", error.message());
        accept();
      }
      return;
    }
    std::make_shared<HttpSession<stream_protocol::socket>>(std::move(socket), handler_)
        ->readRequest();
    accept();
  });
}

MetricsServer::MetricsServer(boost::asio::io_context& io, const std::string& address,
                             Handler handler)
    : acceptor_(io), handler_(std::move(handler)) {
  const auto endpoint = listenEndpoint(address);
  boost::system::error_code error;
  acceptor_.open(endpoint.protocol(), error);
  if (!error) acceptor_.set_option(tcp::acceptor::reuse_address(true), error);
  if (!error) acceptor_.bind(endpoint, error);
  if (!error) acceptor_.listen(boost::asio::socket_base::max_listen_connections, error);
  if (error) {
    throw std::runtime_error("cannot serve metrics on " + address + ": " + error.message());
  }
  accept();
}

MetricsServer::~MetricsServer() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

void MetricsServer::accept() {
  acceptor_.async_accept([this](boost::system::error_code error, tcp::socket socket) {
    if (error) {
      if (error != boost::asio::error::operation_aborted) {
        spdlog::warn("metrics accept failed: {}", error.message());
        accept();
      }
      return;
    }
    std::make_shared<HttpSession<tcp::socket>>(std::move(socket), [this](
                                                                      const HttpRequest& request) {
      return AdminReply{handler_(request), nullptr};
    })->readRequest();
    accept();
  });
}

}  // namespace skouter::daemon
