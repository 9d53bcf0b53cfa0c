// --verify-answers: before an address a workload was never given for a name is
// installed, skouterd asks the resolver that answered the same question itself and
// installs only the addresses it confirms. An accomplice who spoofs the resolver's
// address and knows the workload's query (its id, port and question: the workload
// chose them) cannot know the daemon's: each has a random id, c-ares opens its socket
// (a random port) when a resolver's first query goes out and closes it when none is
// left, and the question's letters go in random case (0x20), which the answer must
// echo exactly. The query is built from the question's own bytes, so any name, whatever
// bytes it holds, can be confirmed.
//
// A resolver that hands out rotating subsets of a large address set may confirm a
// different subset: up to `rounds` lookups gather what it gives, and the caller removes
// what stays unconfirmed from the answer, so a client never connects to an address that
// was not installed. Confirmed addresses are cached for their TTL, per resolver and
// question, so a burst of lookups of one name costs one confirmation.
//
// Threads: the io_context's, like DnsClient.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "common/ip_address.h"
#include "resolver/dns_client.h"
#include "resolver/system_resolvers.h"

namespace skouter::resolver {

struct VerifySettings {
  // How long one confirmation waits for the resolver (--verify-timeout).
  std::chrono::milliseconds timeout{1000};
  // Lookups per confirmation while addresses stay unconfirmed (rotating subsets).
  int rounds = 3;
  // Confirmed addresses kept, over every question; the least recently used go first.
  // An entry costs a few hundred bytes (its name twice, map, list and set nodes), and
  // random names under an allowed wildcard make one per name: 16,384 keep it to a few
  // MiB, and still cover a burst of lookups of the names in use.
  std::size_t cache_addresses = 16384;
};

struct VerifyStats {
  std::uint64_t lookups = 0;      // confirmation lookups sent
  std::uint64_t failed = 0;       // ... that got no usable answer (timeout, error, 0x20 mismatch)
  std::uint64_t confirmed = 0;    // addresses confirmed by a lookup
  std::uint64_t cached = 0;       // addresses confirmed from the cache, without a lookup
  std::uint64_t unconfirmed = 0;  // addresses the resolver did not confirm: never installed
};

// The question a confirmation asks, as the answer being confirmed carries it.
struct VerifyQuestion {
  ResolverAddress resolver;
  std::string name;  // canonical (dns_question.h), the cache's key
  std::uint16_t type = 0;
  // The wire bytes of the question (name, type, class) as the answer carries it.
  std::vector<std::uint8_t> wire;
};

class AnswerVerifier {
 public:
  // Gets the addresses of `wanted` the resolver gave.
  using Done = std::function<void(std::set<IpAddress> confirmed)>;

  AnswerVerifier(boost::asio::io_context& io, VerifySettings settings = {});
  ~AnswerVerifier();
  AnswerVerifier(const AnswerVerifier&) = delete;
  AnswerVerifier& operator=(const AnswerVerifier&) = delete;

  // Whether a recent confirmation of `question` gave `address`.
  bool cached(const VerifyQuestion& question, const IpAddress& address, std::uint64_t now_ns);
  // Asks `question.resolver` until every address of `wanted` is confirmed or `rounds`
  // lookups were made; `done` runs once, later, from the io_context.
  void confirm(VerifyQuestion question, std::set<IpAddress> wanted, Done done);
  // Whether `port` is the local port of a confirmation lookup under way.
  bool ownsPort(std::uint16_t port) const;
  std::size_t pending() const { return lookups_.size(); }
  const VerifyStats& stats() const { return stats_; }
  std::size_t cachedAddresses() const { return cached_addresses_; }

 private:
  struct Lookup;
  using CacheKey = std::tuple<ResolverAddress, std::string, std::uint16_t>;
  struct CacheEntry {
    std::set<IpAddress> addresses;
    std::uint64_t expiry_ns = 0;
    std::list<CacheKey>::iterator recency;
  };

  // One client per resolver asked lately, so a confirmation costs no channel setup.
  static constexpr std::size_t kMaxClients = 64;
  DnsClient& clientFor(const ResolverAddress& resolver);
  // A random id no confirmation under way has; nullopt when none is found.
  std::optional<std::uint16_t> freshId();
  void ask(const std::shared_ptr<Lookup>& lookup, DnsClient::Transport transport);
  void answered(const std::shared_ptr<Lookup>& lookup, DnsClient::Transport transport,
                const std::string& error, const std::vector<std::uint8_t>& answer);
  void finish(const std::shared_ptr<Lookup>& lookup);
  void remember(const CacheKey& key, const std::set<IpAddress>& addresses, std::uint64_t expiry_ns);
  void erase(std::map<CacheKey, CacheEntry>::iterator entry);

  boost::asio::io_context& io_;
  VerifySettings settings_;
  std::map<ResolverAddress, std::unique_ptr<DnsClient>> clients_;
  std::set<std::shared_ptr<Lookup>> lookups_;
  std::set<std::uint16_t> ids_in_flight_;
  std::map<CacheKey, CacheEntry> cache_;
  std::list<CacheKey> recency_;  // least recently used first
  std::size_t cached_addresses_ = 0;
  VerifyStats stats_;
};

// Puts each ASCII letter of a question's name (its wire bytes: name, type, class) in
// random case, in place. False when the bytes are not one uncompressed question of a
// name below the root.
bool randomizeCase(std::span<std::uint8_t> question);

// The query a confirmation sends: `id`, recursion desired, `question` as it is, an
// EDNS OPT record (1232 bytes, as the daemon's other lookups) so answers that fit need
// no TCP.
std::vector<std::uint8_t> confirmationQuery(std::uint16_t id,
                                            std::span<const std::uint8_t> question);

}  // namespace skouter::resolver
