#include "resolver/answer_verifier.h"

#include <spdlog/spdlog.h>
#include <sys/random.h>

#include <algorithm>
#include <boost/asio/post.hpp>

#include "common/datapath_clock.h"
#include "policy/compiled_policy.h"
#include "resolver/answer_handler.h"
#include "resolver/dns_message.h"

namespace skouter::resolver {

namespace {

constexpr std::uint16_t kEdnsPayload = 1232;  // as DnsClient's own queries

// Every name allowed: a confirmation reads the addresses of the question's CNAME chain
// exactly as an answer to a workload is read.
const policy::NameMatcher& anyName() {
  static const policy::NameMatcher matcher = [] {
    policy::NameMatcher any;
    any.addAnyName(0);
    any.compile();
    return any;
  }();
  return matcher;
}

bool isLetter(std::uint8_t byte) { return (byte | 0x20) >= 'a' && (byte | 0x20) <= 'z'; }

}  // namespace

bool randomizeCase(std::span<std::uint8_t> question) {
  std::vector<std::uint8_t> coins(question.size());
  if (getrandom(coins.data(), coins.size(), 0) != static_cast<ssize_t>(coins.size())) return false;
  std::size_t at = 0;
  while (at < question.size() && question[at] != 0) {
    const std::size_t length = question[at];
    if (length > 63 || at + 1 + length >= question.size()) return false;
    for (std::size_t i = at + 1; i <= at + length; ++i) {
      std::uint8_t& byte = question[i];
      if (isLetter(byte)) byte = (coins[i] & 1) ? (byte | 0x20) : (byte & ~0x20);
    }
    at += 1 + length;
  }
  // The root alone is no name to confirm; type and class must follow the name.
  return at > 0 && at + 5 == question.size();
}

std::vector<std::uint8_t> confirmationQuery(std::uint16_t id,
                                            std::span<const std::uint8_t> question) {
  // RD, one question, one OPT record.
  const std::uint8_t header[] = {static_cast<std::uint8_t>(id >> 8),
                                 static_cast<std::uint8_t>(id & 0xff),
                                 0x01,
                                 0x00,
                                 0,
                                 1,
                                 0,
                                 0,
                                 0,
                                 0,
                                 0,
                                 1};
  // OPT: root owner, type 41, the UDP payload size as class, TTL 0, no data.
  const std::uint8_t opt[] = {0, 0, 41, kEdnsPayload >> 8, kEdnsPayload & 0xff, 0, 0, 0, 0, 0, 0};
  std::vector<std::uint8_t> query;
  query.reserve(sizeof(header) + question.size() + sizeof(opt));
  query.insert(query.end(), std::begin(header), std::end(header));
  query.insert(query.end(), question.begin(), question.end());
  query.insert(query.end(), std::begin(opt), std::end(opt));
  return query;
}

struct AnswerVerifier::Lookup {
  VerifyQuestion question;
  std::optional<std::uint16_t> id;  // of the query under way
  std::set<IpAddress> wanted;       // not confirmed yet
  std::set<IpAddress> confirmed;
  int rounds_left = 0;
  Done done;
};

AnswerVerifier::AnswerVerifier(boost::asio::io_context& io, VerifySettings settings)
    : io_(io), settings_(settings) {}

AnswerVerifier::~AnswerVerifier() = default;

bool AnswerVerifier::cached(const VerifyQuestion& question, const IpAddress& address,
                            std::uint64_t now_ns) {
  const auto entry = cache_.find({question.resolver, question.name, question.type});
  if (entry == cache_.end()) return false;
  if (entry->second.expiry_ns <= now_ns) {
    erase(entry);
    return false;
  }
  if (!entry->second.addresses.contains(address)) return false;
  recency_.splice(recency_.end(), recency_, entry->second.recency);
  ++stats_.cached;
  return true;
}

void AnswerVerifier::confirm(VerifyQuestion question, std::set<IpAddress> wanted, Done done) {
  auto lookup = std::make_shared<Lookup>();
  lookup->question = std::move(question);
  lookup->wanted = std::move(wanted);
  lookup->rounds_left = settings_.rounds;
  lookup->done = std::move(done);
  lookups_.insert(lookup);
  ask(lookup, DnsClient::Transport::kUdp);
}

bool AnswerVerifier::ownsPort(std::uint16_t port) const {
  if (lookups_.empty()) return false;
  return std::any_of(clients_.begin(), clients_.end(), [port](const auto& client) {
    const auto ports = client.second->localPorts();
    return std::find(ports.begin(), ports.end(), port) != ports.end();
  });
}

DnsClient& AnswerVerifier::clientFor(const ResolverAddress& resolver) {
  auto it = clients_.find(resolver);
  if (it != clients_.end()) return *it->second;
  if (clients_.size() >= kMaxClients) {
    // Resolvers come and go (a CoreDNS rollout); those with nothing under way go.
    std::erase_if(clients_,
                  [](const auto& client) { return client.second->pendingQueries() == 0; });
  }
  DnsClientOptions options;
  options.timeout = settings_.timeout;
  options.tries = 1;
  return *clients_
              .emplace(resolver, std::make_unique<DnsClient>(io_, std::vector{resolver}, options))
              .first->second;
}

void AnswerVerifier::ask(const std::shared_ptr<Lookup>& lookup, DnsClient::Transport transport) {
  if (!randomizeCase(lookup->question.wire)) {
    ++stats_.failed;
    spdlog::debug("cannot confirm {}: not a question", lookup->question.name);
    return finish(lookup);
  }
  --lookup->rounds_left;
  ++stats_.lookups;
  DnsClient* client = nullptr;
  try {
    client = &clientFor(lookup->question.resolver);
  } catch (const std::exception& e) {
    ++stats_.failed;
    spdlog::warn("cannot confirm {}: {}", lookup->question.name, e.what());
    return finish(lookup);
  }
  lookup->id = freshId();
  if (!lookup->id) {
    ++stats_.failed;
    return finish(lookup);
  }
  client->send(
      confirmationQuery(*lookup->id, lookup->question.wire), transport,
      [this, lookup, transport](const std::string& error, const std::vector<std::uint8_t>& answer) {
        answered(lookup, transport, error, answer);
      });
}

std::optional<std::uint16_t> AnswerVerifier::freshId() {
  // The datapath records each query by client port and id, and the confirmations to one
  // resolver share a socket: no two under way may share an id.
  for (int attempt = 0; attempt < 16; ++attempt) {
    std::uint16_t id = 0;
    if (getrandom(&id, sizeof(id), 0) != sizeof(id)) return std::nullopt;
    if (ids_in_flight_.insert(id).second) return id;
  }
  return std::nullopt;
}

void AnswerVerifier::answered(const std::shared_ptr<Lookup>& lookup, DnsClient::Transport transport,
                              const std::string& error, const std::vector<std::uint8_t>& answer) {
  ids_in_flight_.erase(*lookup->id);
  if (error == "truncated" && transport == DnsClient::Transport::kUdp) {
    ++lookup->rounds_left;  // the same lookup, completed over TCP
    return ask(lookup, DnsClient::Transport::kTcp);
  }
  // c-ares compares the echoed question without regard to case; 0x20 asks for exactly
  // the case sent (and uncompressed, as it was sent).
  const auto message = DnsMessage::read(answer);
  const auto& echoed = message.question();
  if (!error.empty() || !echoed || echoed->compressed ||
      !std::ranges::equal(echoed->wire, lookup->question.wire)) {
    ++stats_.failed;
    spdlog::debug("confirming {} at {}: {}", lookup->question.name,
                  lookup->question.resolver.toString(),
                  error.empty() ? "the answer did not echo the question as asked" : error);
    return finish(lookup);
  }
  const auto now = datapathNowNs();
  const auto decision = decideAnswer(message, anyName(), now, TtlSettings{0, 0, std::nullopt});
  std::set<IpAddress> given;
  std::uint64_t expiry_ns = 0;
  for (const auto& learned : decision.addresses) {
    given.insert(learned.ip);
    expiry_ns = expiry_ns == 0 ? learned.expiry_ns : std::min(expiry_ns, learned.expiry_ns);
  }
  for (const auto& address : given) {
    if (lookup->wanted.erase(address) > 0) {
      lookup->confirmed.insert(address);
      ++stats_.confirmed;
    }
  }
  if (expiry_ns > now) {
    remember({lookup->question.resolver, lookup->question.name, lookup->question.type}, given,
             expiry_ns);
  }
  if (!lookup->wanted.empty() && lookup->rounds_left > 0) {
    return ask(lookup, DnsClient::Transport::kUdp);
  }
  finish(lookup);
}

void AnswerVerifier::finish(const std::shared_ptr<Lookup>& lookup) {
  stats_.unconfirmed += lookup->wanted.size();
  lookups_.erase(lookup);
  // Posted: this may run inside the client's own callback, and `done` may start a new
  // confirmation.
  boost::asio::post(io_, [lookup] { lookup->done(std::move(lookup->confirmed)); });
}

void AnswerVerifier::remember(const CacheKey& key, const std::set<IpAddress>& addresses,
                              std::uint64_t expiry_ns) {
  auto [entry, fresh] = cache_.try_emplace(key);
  if (fresh) {
    entry->second.recency = recency_.insert(recency_.end(), key);
  } else {
    recency_.splice(recency_.end(), recency_, entry->second.recency);
  }
  // Rotating subsets: what earlier lookups gave stays confirmed while this one's TTL runs.
  for (const auto& address : addresses) {
    if (entry->second.addresses.insert(address).second) ++cached_addresses_;
  }
  entry->second.expiry_ns = std::max(entry->second.expiry_ns, expiry_ns);
  while (cached_addresses_ > settings_.cache_addresses && !recency_.empty()) {
    erase(cache_.find(recency_.front()));
  }
}

void AnswerVerifier::erase(std::map<CacheKey, CacheEntry>::iterator entry) {
  cached_addresses_ -= entry->second.addresses.size();
  recency_.erase(entry->second.recency);
  cache_.erase(entry);
}

}  // namespace skouter::resolver
