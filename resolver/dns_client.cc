#include "resolver/dns_client.h"

#include "resolver/dns_question.h"

#include <ares.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstring>
#include <map>
#include <stdexcept>
#include <utility>

namespace skouter::resolver {

namespace {

constexpr int kClassIn = 1;
constexpr int kRcodeNoError = 0;
constexpr int kRcodeNxDomain = 3;

// The error for a finished query (see DnsClient::Callback).
std::string errorFor(int status, const std::vector<std::uint8_t>& answer) {
  if (answer.size() < kDnsHeaderSize) return ares_strerror(status);
  const bool truncated = (answer[2] & 0x02) != 0;
  const int rcode = answer[3] & 0x0f;
  if (truncated) return "truncated";
  if (rcode == kRcodeNoError || rcode == kRcodeNxDomain) return "";
  if (status != ARES_SUCCESS) return ares_strerror(status);
  return "server answered with RCODE " + std::to_string(rcode);
}

}  // namespace

const char* toString(DnsClient::Transport transport) {
  return transport == DnsClient::Transport::kTcp ? "tcp" : "udp";
}

struct DnsClient::Shared {
  std::size_t pending = 0;
};

// One c-ares channel and the Asio objects that drive it.
class DnsClient::Channel {
 public:
  Channel(boost::asio::io_context& io, const std::vector<ResolverAddress>& servers,
          const DnsClientOptions& options, Transport transport)
      : io_(io), timer_(io) {
    ares_options ares{};
    int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB |
               ARES_OPT_DOMAINS | ARES_OPT_NOROTATE | ARES_OPT_RESOLVCONF;
    ares.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES |
                 (transport == Transport::kTcp ? ARES_FLAG_USEVC : ARES_FLAG_IGNTC);
    if (options.edns_payload > 0) {
      ares.flags |= ARES_FLAG_EDNS;
      ares.ednspsz = options.edns_payload;
      mask |= ARES_OPT_EDNSPSZ;
    }
    ares.timeout = static_cast<int>(options.timeout.count());
    ares.tries = options.tries;
    ares.sock_state_cb = &Channel::onSocketState;
    ares.sock_state_cb_data = this;
    ares.domains = nullptr;
    ares.ndomains = 0;
    // An empty configuration file: nothing of /etc/resolv.conf (search domains,
    // options rotate/ndots/timeout) applies to these channels.
    std::string no_config = "/dev/null";
    ares.resolvconf_path = no_config.data();
    if (const int rc = ares_init_options(&channel_, &ares, mask); rc != ARES_SUCCESS) {
      throw std::runtime_error(std::string("c-ares channel setup failed: ") + ares_strerror(rc));
    }

    std::vector<ares_addr_port_node> nodes(servers.size());
    for (std::size_t i = 0; i < servers.size(); ++i) {
      auto& node = nodes[i];
      node.next = i + 1 < nodes.size() ? &nodes[i + 1] : nullptr;
      if (servers[i].ip.family == IpFamily::kV4) {
        node.family = AF_INET;
        std::memcpy(&node.addr.addr4, servers[i].ip.bytes.data(), 4);
      } else {
        node.family = AF_INET6;
        std::memcpy(&node.addr.addr6, servers[i].ip.bytes.data(), 16);
      }
      node.udp_port = servers[i].port;
      node.tcp_port = servers[i].port;
    }
    if (const int rc = ares_set_servers_ports(channel_, nodes.data()); rc != ARES_SUCCESS) {
      ares_destroy(channel_);
      throw std::runtime_error(std::string("c-ares rejected the resolver list: ") +
                               ares_strerror(rc));
    }
  }

  ~Channel() {
    // ares_destroy ends every query with ARES_EDESTRUCTION (onAnswer drops those)
    // and reports every socket closed before it closes it.
    ares_destroy(channel_);
    for (auto& [fd, socket] : sockets_) release(*socket);
    sockets_.clear();
    timer_.cancel();
    alive_.reset();
  }

  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  void query(const std::string& name, std::uint16_t type, std::weak_ptr<Shared> shared,
             Callback done) {
    auto* request = new Request{io_, std::move(shared), std::move(done)};
    // May call onAnswer at once (a bad name, say); onAnswer only posts.
    ares_query(channel_, name.c_str(), kClassIn, type, &Channel::onAnswer, request);
    updateTimer();
  }

  void send(std::span<const std::uint8_t> message, std::weak_ptr<Shared> shared, Callback done) {
    auto* request = new Request{io_, std::move(shared), std::move(done)};
    ares_send(channel_, message.data(), static_cast<int>(message.size()), &Channel::onAnswer,
              request);
    updateTimer();
  }

  void addLocalPorts(std::vector<std::uint16_t>& ports) const {
    for (const auto& [fd, socket] : sockets_) {
      sockaddr_storage address{};
      socklen_t length = sizeof(address);
      if (socket->closed || getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        continue;
      }
      if (address.ss_family == AF_INET) {
        ports.push_back(ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port));
      } else if (address.ss_family == AF_INET6) {
        ports.push_back(ntohs(reinterpret_cast<const sockaddr_in6&>(address).sin6_port));
      }
    }
  }

 private:
  struct Request {
    boost::asio::io_context& io;
    std::weak_ptr<Shared> shared;
    Callback done;
  };

  // A socket c-ares opened, watched for what c-ares currently waits for.
  struct Socket {
    Socket(boost::asio::io_context& io, ares_socket_t fd) : descriptor(io), fd(fd) {}
    boost::asio::posix::stream_descriptor descriptor;
    ares_socket_t fd;
    bool want_read = false;
    bool want_write = false;
    bool reading = false;  // an async_wait for reading is outstanding
    bool writing = false;
    bool closed = false;  // c-ares closed it (or is about to): never touch fd again
  };

  // c-ares callbacks: nothing may throw through c-ares' C frames.
  static void onAnswer(void* arg, int status, int /*timeouts*/, unsigned char* abuf,
                       int alen) noexcept {
    std::unique_ptr<Request> request(static_cast<Request*>(arg));
    if (status == ARES_EDESTRUCTION) return;  // the client is being destroyed
    try {
      deliver(*request, status, abuf, alen);
    } catch (const std::exception& e) {
      spdlog::error("DNS client: dropping an answer: {}", e.what());
    }
  }

  static void deliver(Request& request, int status, const unsigned char* abuf, int alen) {
    std::vector<std::uint8_t> answer;
    if (abuf != nullptr && alen > 0) answer.assign(abuf, abuf + alen);
    std::string error = errorFor(status, answer);
    // Never call back from inside c-ares: the callback may destroy the client or
    // start new queries.
    boost::asio::post(request.io,
                      [shared = std::move(request.shared), done = std::move(request.done),
                       error = std::move(error), answer = std::move(answer)]() mutable {
                        const auto state = shared.lock();
                        if (!state) return;  // the client is gone
                        --state->pending;
                        done(std::move(error), std::move(answer));
                      });
  }

  static void onSocketState(void* data, ares_socket_t fd, int readable, int writable) noexcept {
    try {
      static_cast<Channel*>(data)->socketState(fd, readable != 0, writable != 0);
    } catch (const std::exception& e) {
      spdlog::error("DNS client: cannot watch a c-ares socket: {}", e.what());
    }
  }

  void socketState(ares_socket_t fd, bool readable, bool writable) {
    auto it = sockets_.find(fd);
    if (!readable && !writable) {  // c-ares closes fd right after this returns
      if (it != sockets_.end()) {
        release(*it->second);
        sockets_.erase(it);
      }
      return;
    }
    if (it == sockets_.end()) {
      auto socket = std::make_shared<Socket>(io_, fd);
      boost::system::error_code ec;
      socket->descriptor.assign(fd, ec);
      if (ec) {
        // Unwatched, the socket's queries end by timeout.
        spdlog::error("DNS client: cannot watch a c-ares socket: {}", ec.message());
        return;
      }
      it = sockets_.emplace(fd, std::move(socket)).first;
    }
    it->second->want_read = readable;
    it->second->want_write = writable;
    arm(it->second);
  }

  // Cancels the socket's waits and hands the fd back to c-ares, which closes it.
  static void release(Socket& socket) {
    socket.closed = true;
    socket.descriptor.release();
  }

  void arm(const std::shared_ptr<Socket>& socket) {
    if (socket->want_read && !socket->reading) {
      socket->reading = true;
      socket->descriptor.async_wait(
          boost::asio::posix::stream_descriptor::wait_read,
          [this, alive = std::weak_ptr<char>(alive_), socket](boost::system::error_code ec) {
            socket->reading = false;
            if (alive.expired() || socket->closed || ec == boost::asio::error::operation_aborted)
              return;
            process(socket->fd, ARES_SOCKET_BAD);
            if (!socket->closed) arm(socket);
          });
    }
    if (socket->want_write && !socket->writing) {
      socket->writing = true;
      socket->descriptor.async_wait(
          boost::asio::posix::stream_descriptor::wait_write,
          [this, alive = std::weak_ptr<char>(alive_), socket](boost::system::error_code ec) {
            socket->writing = false;
            if (alive.expired() || socket->closed || ec == boost::asio::error::operation_aborted)
              return;
            process(ARES_SOCKET_BAD, socket->fd);
            if (!socket->closed) arm(socket);
          });
    }
  }

  // Lets c-ares read/write a ready socket and handle due timeouts, then re-plans
  // the timer. Any error on the socket is c-ares' to find and handle.
  void process(ares_socket_t read_fd, ares_socket_t write_fd) {
    ares_process_fd(channel_, read_fd, write_fd);
    updateTimer();
  }

  void updateTimer() {
    timeval buffer{};
    const timeval* next = ares_timeout(channel_, nullptr, &buffer);
    if (next == nullptr) {  // no queries
      timer_.cancel();
      timer_armed_ = false;
      return;
    }
    // ares_timeout rounds down to milliseconds; waking a millisecond late keeps a
    // query from looking not-quite-due (and the timer from spinning until it is).
    const auto delay = std::chrono::seconds(next->tv_sec) +
                       std::chrono::microseconds(next->tv_usec) + std::chrono::milliseconds(1);
    const auto deadline = std::chrono::steady_clock::now() + delay;
    if (timer_armed_ && timer_.expiry() <= deadline &&
        timer_.expiry() + std::chrono::milliseconds(1) >= deadline) {
      return;  // already set for this deadline
    }
    timer_armed_ = true;
    timer_.expires_at(deadline);  // cancels the previous wait
    timer_.async_wait([this, alive = std::weak_ptr<char>(alive_)](boost::system::error_code ec) {
      if (alive.expired() || ec == boost::asio::error::operation_aborted) return;
      timer_armed_ = false;
      process(ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    });
  }

  boost::asio::io_context& io_;
  boost::asio::steady_timer timer_;
  bool timer_armed_ = false;
  ares_channel channel_ = nullptr;
  std::map<ares_socket_t, std::shared_ptr<Socket>> sockets_;
  // Handlers still queued in the io_context when the channel is destroyed find it
  // expired.
  std::shared_ptr<char> alive_ = std::make_shared<char>();
};

DnsClient::DnsClient(boost::asio::io_context& io, std::vector<ResolverAddress> servers,
                     DnsClientOptions options)
    : servers_(std::move(servers)), shared_(std::make_shared<Shared>()) {
  if (servers_.empty()) throw std::invalid_argument("DNS client: no resolvers given");
  if (options.timeout.count() <= 0 || options.tries < 1) {
    throw std::invalid_argument("DNS client: the timeout and the tries must be positive");
  }
  if (const int rc = ares_library_init(ARES_LIB_INIT_ALL); rc != ARES_SUCCESS) {
    throw std::runtime_error(std::string("c-ares initialisation failed: ") + ares_strerror(rc));
  }
  try {
    udp_ = std::make_unique<Channel>(io, servers_, options, Transport::kUdp);
    tcp_ = std::make_unique<Channel>(io, servers_, options, Transport::kTcp);
  } catch (...) {
    udp_.reset();
    ares_library_cleanup();
    throw;
  }
}

DnsClient::~DnsClient() {
  shared_.reset();  // callbacks already posted find the client gone
  udp_.reset();
  tcp_.reset();
  ares_library_cleanup();
}

void DnsClient::query(const std::string& name, std::uint16_t type, Transport transport,
                      Callback done) {
  ++shared_->pending;
  auto& channel = transport == Transport::kTcp ? *tcp_ : *udp_;
  channel.query(name, type, shared_, std::move(done));
}

void DnsClient::send(std::span<const std::uint8_t> query, Transport transport, Callback done) {
  ++shared_->pending;
  auto& channel = transport == Transport::kTcp ? *tcp_ : *udp_;
  channel.send(query, shared_, std::move(done));
}

std::size_t DnsClient::pendingQueries() const { return shared_->pending; }

std::vector<std::uint16_t> DnsClient::localPorts() const {
  std::vector<std::uint16_t> ports;
  udp_->addLocalPorts(ports);
  tcp_->addLocalPorts(ports);
  return ports;
}

}  // namespace skouter::resolver
