#include "daemon/admin_server.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <boost/beast/core.hpp>
#include <filesystem>
#include <memory>

namespace skouter::daemon {
namespace http = boost::beast::http;
using boost::asio::local::stream_protocol;

namespace {

// One connection: read a request, answer it, repeat while the client keeps it open.
class AdminSession : public std::enable_shared_from_this<AdminSession> {
 public:
  AdminSession(stream_protocol::socket socket, const AdminServer::Handler& handler)
      : socket_(std::move(socket)), handler_(handler) {}

  void readRequest() {
    request_ = {};
    http::async_read(socket_, buffer_, request_,
                     [self = shared_from_this()](boost::beast::error_code error, std::size_t) {
                       if (!error) self->respond();
                     });
  }

 private:
  void respond() {
    auto response = std::make_shared<HttpResponse>(handler_(request_));
    response->keep_alive(request_.keep_alive());
    response->prepare_payload();
    http::async_write(
        socket_, *response,
        [self = shared_from_this(), response](boost::beast::error_code error, std::size_t) {
          if (!error && response->keep_alive()) self->readRequest();
        });
  }

  stream_protocol::socket socket_;
  const AdminServer::Handler& handler_;
  boost::beast::flat_buffer buffer_;
  HttpRequest request_;
};

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
    std::make_shared<AdminSession>(std::move(socket), handler_)->readRequest();
    accept();
  });
}

}  // namespace skouter::daemon
