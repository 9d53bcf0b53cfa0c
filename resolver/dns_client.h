// An asynchronous DNS stub client for the daemon's own lookups: c-ares channels
// driven by the daemon's Boost.Asio io_context, asking only the given resolvers and
// handing back each answer's raw bytes, so the caller parses them with the same code
// as every other answer.
//
//   DnsClient client(io, {*parseResolverAddress("192.0.2.53")});
//   client.query("example.com", DnsClient::kTypeA, DnsClient::Transport::kUdp,
//                [](std::string error, std::vector<std::uint8_t> answer) { ... });
//
// Threads: none of its own. Every member function must be called on the thread that
// runs the io_context (or while no thread runs it), and the callbacks run there, from
// the io_context (never from inside query() or the destructor). The client must be
// destroyed before its io_context.
//
// Asio integration: c-ares reports each socket it opens, each change in what it waits
// for and each close through its socket-state callback. The client wraps every such
// socket in a posix::stream_descriptor, waits for readiness with async_wait and hands
// ready sockets to ares_process_fd; before c-ares closes a socket the descriptor
// releases it, so only c-ares ever closes its sockets. One steady_timer per channel,
// set from ares_timeout, drives retransmissions and timeouts.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "resolver/system_resolvers.h"

namespace skouter::resolver {

struct DnsClientOptions {
  // How long a query waits for one server before asking the next. c-ares doubles it
  // after every round over the server list, so with one server, 2 s and 2 tries a
  // UDP query gives up after 2 + 4 = 6 s. Over TCP c-ares never resends a query on
  // the connection it already went out on, so a server that does not answer gets
  // one try: with one server a TCP query gives up after 2 s.
  std::chrono::milliseconds timeout{2000};
  int tries = 2;  // rounds over the server list
  // The UDP payload size advertised in an EDNS0 OPT record; 0 sends no OPT record
  // (answers over UDP are then limited to 512 bytes).
  std::uint16_t edns_payload = 1232;
};

class DnsClient {
 public:
  enum class Transport { kUdp, kTcp };

  static constexpr std::uint16_t kTypeA = 1;
  static constexpr std::uint16_t kTypeAAAA = 28;

  // `error` is empty when the server answered with RCODE NOERROR or NXDOMAIN (so an
  // empty answer section or a name that does not exist is not an error: read the
  // RCODE from `answer`) and the answer is complete. Otherwise `error` says why, in
  // words ("Timeout while contacting DNS servers", "truncated", ...), and `answer`
  // holds the server's response if there was one (a truncated one, say).
  using Callback = std::function<void(std::string error, std::vector<std::uint8_t> answer)>;

  // Asks exactly `servers`, in order (the next one after a timeout or a SERVFAIL,
  // NOTIMP or REFUSED answer); ignores resolv.conf and never appends search domains.
  // Throws std::invalid_argument when `servers` is empty and std::runtime_error when
  // c-ares cannot be set up.
  DnsClient(boost::asio::io_context& io, std::vector<ResolverAddress> servers,
            DnsClientOptions options = {});
  // Drops every pending query: their callbacks never run. Closes every socket.
  ~DnsClient();

  DnsClient(const DnsClient&) = delete;
  DnsClient& operator=(const DnsClient&) = delete;

  // Asks for `name` (class IN, recursion desired, no search domains) over `transport`.
  // kUdp never falls back to TCP: a truncated answer ends the query with the error
  // "truncated" and the truncated answer. `done` runs exactly once, later, from the
  // io_context, unless the client is destroyed first. A callback may destroy the
  // client or start new queries.
  void query(const std::string& name, std::uint16_t type, Transport transport, Callback done);
  // As query(), for a whole query message built by the caller: a name with any bytes,
  // in the case the caller chose, and the caller's id (c-ares keeps it).
  void send(std::span<const std::uint8_t> query, Transport transport, Callback done);

  // Queries whose callback has not run yet.
  std::size_t pendingQueries() const;

  // The local ports of the sockets c-ares holds open, so the daemon can tell answers to
  // its own queries from the answers it holds for workloads.
  std::vector<std::uint16_t> localPorts() const;

  const std::vector<ResolverAddress>& servers() const { return servers_; }

 private:
  class Channel;
  struct Shared;

  std::vector<ResolverAddress> servers_;
  // Outlives the client only in callbacks already posted to the io_context, which
  // check it to learn that the client is gone.
  std::shared_ptr<Shared> shared_;
  std::unique_ptr<Channel> udp_;
  std::unique_ptr<Channel> tcp_;  // ARES_FLAG_USEVC: every query over TCP
};

const char* toString(DnsClient::Transport transport);  // "udp", "tcp"

}  // namespace skouter::resolver
