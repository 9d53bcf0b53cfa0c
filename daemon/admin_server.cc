#include "daemon/admin_server.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "daemon/json_text.h"
#include "daemon/options.h"

namespace skouter::daemon {
namespace http = boost::beast::http;
using boost::asio::ip::tcp;
using boost::asio::local::stream_protocol;

namespace {

// A request larger than this is not one skouterd serves.
constexpr std::uint64_t kMaxRequestBody = 64 * 1024;
// A client gets this long to send a whole request (a keep-alive connection: for the
// next one), and each response or event chunk this long to be taken: a client that
// stalls is cut off rather than hold a connection and its buffers for ever.
constexpr auto kRequestDeadline = std::chrono::seconds(10);
constexpr auto kWriteDeadline = std::chrono::seconds(10);
// An accept that fails (out of descriptors, most likely) is tried again after a
// pause that doubles up to a second: at once, it would fail again, for ever, and the
// loop would do nothing else.
constexpr auto kFirstAcceptBackoff = std::chrono::milliseconds(50);
constexpr auto kMaxAcceptBackoff = std::chrono::seconds(1);

// One connection: read a request, answer it, repeat while the client keeps it open.
// A streaming reply ends the exchange: events flow until the client goes away.
template <class Socket>
class HttpSession : public std::enable_shared_from_this<HttpSession<Socket>> {
 public:
  HttpSession(Socket socket, std::function<AdminReply(const HttpRequest&)> handler,
              std::shared_ptr<SessionLimit> limit)
      : socket_(std::move(socket)),
        handler_(std::move(handler)),
        limit_(std::move(limit)),
        deadline_(socket_.get_executor()) {
    ++limit_->open;
  }
  ~HttpSession() { --limit_->open; }

  void readRequest() {
    parser_.emplace();
    parser_->body_limit(kMaxRequestBody);
    armDeadline(kRequestDeadline);
    http::async_read(
        socket_, buffer_, *parser_,
        [self = this->shared_from_this()](boost::beast::error_code error, std::size_t) {
          self->deadline_.cancel();
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
                            jsonText(nlohmann::json{{"error", error.what()}})),
               nullptr,
               {}};
    }
    if (reply.stream) {
      stream(request, std::move(reply));
      return;
    }
    if (reply.pieces) {
      sendPieces(request, std::move(reply));
      return;
    }
    auto response = std::make_shared<HttpResponse>(std::move(reply.response));
    response->keep_alive(request.keep_alive());
    response->prepare_payload();
    armDeadline(kWriteDeadline);
    http::async_write(
        socket_, *response,
        [self = this->shared_from_this(), response](boost::beast::error_code error, std::size_t) {
          self->deadline_.cancel();
          if (!error && response->keep_alive()) self->readRequest();
        });
  }

  // Closes the connection unless the operation started now ends within `limit`.
  void armDeadline(std::chrono::steady_clock::duration limit) {
    deadline_.expires_after(limit);
    deadline_.async_wait([weak = std::weak_ptr<HttpSession>(this->shared_from_this())](
                             boost::system::error_code error) {
      if (error) return;  // cancelled: the operation ended in time
      if (const auto self = weak.lock()) self->close();
    });
  }

  // Writes the header of a chunked response to `request` with `response`'s status
  // and fields, then calls `then(keep_alive)`; closes the connection on an error.
  void writeChunkedHeader(const HttpRequest& request, const HttpResponse& response, bool keep_alive,
                          std::function<void(bool keep_alive)> then) {
    auto header =
        std::make_shared<http::response<http::empty_body>>(response.result(), request.version());
    for (const auto& field : response.base()) header->set(field.name(), field.value());
    header->keep_alive(keep_alive);
    header->chunked(true);
    auto serializer = std::make_shared<http::response_serializer<http::empty_body>>(*header);
    armDeadline(kWriteDeadline);
    http::async_write_header(socket_, *serializer,
                             [self = this->shared_from_this(), header, serializer,
                              then = std::move(then)](boost::beast::error_code error, std::size_t) {
                               self->deadline_.cancel();
                               if (error) return self->close();
                               then(header->keep_alive());
                             });
  }

  void stream(const HttpRequest& request, AdminReply reply) {
    subscription_ = std::move(reply.stream);
    // The stream ends when the client goes away.
    writeChunkedHeader(request, reply.response, request.keep_alive(),
                       [self = this->shared_from_this()](bool) {
                         std::weak_ptr<HttpSession> weak = self;
                         self->subscription_->onQueued([weak] {
                           if (const auto session = weak.lock()) session->flush();
                         });
                         self->watchForClose();
                         self->flush();
                       });
  }

  // The header, then each piece as a chunk once the last is written (one piece per
  // turn of the loop), then the last chunk; then the next request.
  void sendPieces(const HttpRequest& request, AdminReply reply) {
    pieces_ = std::move(reply.pieces);
    writeChunkedHeader(
        request, reply.response, request.keep_alive(),
        [self = this->shared_from_this()](bool keep_alive) { self->sendNextPiece(keep_alive); });
  }

  void sendNextPiece(bool keep_alive) {
    std::optional<std::string> piece;
    try {
      piece = pieces_();
    } catch (const std::exception& error) {
      // Too late for an error status: the client sees the body end early.
      spdlog::error("a reply stopped half way: {}", error.what());
      return close();
    }
    const auto written = [self = this->shared_from_this(), keep_alive, last = !piece](
                             boost::beast::error_code error, std::size_t) {
      self->deadline_.cancel();
      if (error) return self->close();
      if (!last) return self->sendNextPiece(keep_alive);
      self->pieces_ = nullptr;
      self->pending_.clear();
      if (keep_alive) self->readRequest();
    };
    armDeadline(kWriteDeadline);
    if (!piece) {
      boost::asio::async_write(socket_, http::make_chunk_last(), written);
      return;
    }
    pending_ = std::move(*piece);
    boost::asio::async_write(socket_, http::make_chunk(boost::asio::buffer(pending_)), written);
  }

  void flush() {
    if (writing_ || !subscription_) return;
    pending_ = subscription_->take();
    if (pending_.empty()) return;
    writing_ = true;
    armDeadline(kWriteDeadline);
    boost::asio::async_write(
        socket_, http::make_chunk(boost::asio::buffer(pending_)),
        [self = this->shared_from_this()](boost::beast::error_code error, std::size_t) {
          self->deadline_.cancel();
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
    deadline_.cancel();
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

  Socket socket_;
  std::function<AdminReply(const HttpRequest&)> handler_;
  std::shared_ptr<SessionLimit> limit_;
  boost::asio::steady_timer deadline_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<EventSubscription> subscription_;
  BodyPiece pieces_;
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

template <class Protocol>
HttpListener<Protocol>::HttpListener(boost::asio::io_context& io, std::size_t max_sessions,
                                     Handler handler)
    : acceptor_(io),
      handler_(std::move(handler)),
      limit_(std::make_shared<SessionLimit>(SessionLimit{.max = max_sessions})),
      retry_(io) {}

template <class Protocol>
HttpListener<Protocol>::~HttpListener() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  retry_.cancel();
}

template <class Protocol>
void HttpListener<Protocol>::accept() {
  acceptor_.async_accept([this](boost::system::error_code error, typename Protocol::socket socket) {
    if (error == boost::asio::error::operation_aborted) return;
    if (error) {
      backoff_ = std::min<std::chrono::milliseconds>(
          std::max<std::chrono::milliseconds>(backoff_ * 2, kFirstAcceptBackoff),
          kMaxAcceptBackoff);
      spdlog::warn("accepting a connection failed ({}); trying again in {} ms", error.message(),
                   backoff_.count());
      retry_.expires_after(backoff_);
      retry_.async_wait([this](boost::system::error_code cancelled) {
        if (!cancelled) accept();
      });
      return;
    }
    backoff_ = std::chrono::milliseconds(0);
    if (limit_->open >= limit_->max) {
      ++limit_->refused;
      boost::system::error_code ignored;
      socket.close(ignored);
    } else {
      std::make_shared<HttpSession<typename Protocol::socket>>(std::move(socket), handler_, limit_)
          ->readRequest();
    }
    accept();
  });
}

AdminServer::AdminServer(boost::asio::io_context& io, const std::string& socket_path,
                         Handler handler)
    : listener_(io, kMaxSessions, std::move(handler)) {
  const std::filesystem::path path(socket_path);
  std::filesystem::create_directories(path.parent_path());
  std::filesystem::remove(path);
  // Created with no access for others at all, then opened to the owner only: there
  // is no moment at which another user could connect.
  auto& acceptor = listener_.acceptor();
  const mode_t previous = umask(0177);
  acceptor.open(stream_protocol());
  acceptor.bind(stream_protocol::endpoint(socket_path));
  umask(previous);
  chmod(socket_path.c_str(), 0600);
  acceptor.listen();
  listener_.accept();
}

MetricsServer::MetricsServer(boost::asio::io_context& io, const std::string& address,
                             Handler handler)
    : listener_(io, kMaxSessions, [handler = std::move(handler)](const HttpRequest& request) {
        return AdminReply{handler(request), nullptr, {}};
      }) {
  const auto endpoint = listenEndpoint(address);
  auto& acceptor = listener_.acceptor();
  boost::system::error_code error;
  acceptor.open(endpoint.protocol(), error);
  if (!error) acceptor.set_option(tcp::acceptor::reuse_address(true), error);
  if (!error) acceptor.bind(endpoint, error);
  if (!error) acceptor.listen(boost::asio::socket_base::max_listen_connections, error);
  if (error) {
    throw std::runtime_error("cannot serve metrics on " + address + ": " + error.message());
  }
  listener_.accept();
}

template class HttpListener<stream_protocol>;
template class HttpListener<tcp>;

}  // namespace skouter::daemon
