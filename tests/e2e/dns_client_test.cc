// The daemon's DNS client against the lab's real unbound. Each check runs the client
// on a thread that has joined the lab node's network namespace (setns moves only the
// calling thread), with an io_context of its own, so no query leaves the lab.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "lab.h"
#include "policy/compiled_policy.h"
#include "resolver/answer_handler.h"
#include "resolver/dns_client.h"

namespace skouter::e2e {
namespace {

using namespace std::chrono_literals;
using resolver::DnsClient;
using resolver::DnsClientOptions;
using resolver::ResolverAddress;
using Transport = DnsClient::Transport;
using Clock = std::chrono::steady_clock;

// Nothing in the lab owns this address: queries to it go unanswered.
constexpr const char* kNobody = "198.51.100.99";
constexpr int kRcodeNxDomain = 3;

ResolverAddress server(const std::string& text) {
  auto address = resolver::parseResolverAddress(text);
  if (!address) throw std::invalid_argument("bad resolver address " + text);
  return *address;
}

// Runs `body` on a thread in the network namespace `ns`; rethrows what it throws.
void inNamespace(const std::string& ns, const std::function<void()>& body) {
  std::exception_ptr failure;
  std::thread thread([&] {
    try {
      const std::string path = "/run/netns/" + ns;
      const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + path);
      const int rc = setns(fd, CLONE_NEWNET);
      const int saved_errno = errno;
      close(fd);
      if (rc != 0) throw std::system_error(saved_errno, std::generic_category(), "setns " + ns);
      body();
    } catch (...) {
      failure = std::current_exception();
    }
  });
  thread.join();
  if (failure) std::rethrow_exception(failure);
}

std::chrono::microseconds threadCpuTime() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  const auto us = [](const timeval& tv) {
    return std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
  };
  return us(usage.ru_utime) + us(usage.ru_stime);
}

struct Query {
  std::string name;
  std::uint16_t type = DnsClient::kTypeA;
  Transport transport = Transport::kUdp;
};

struct Outcome {
  bool done = false;
  std::string error;
  std::vector<std::uint8_t> answer;
  Clock::duration elapsed{};
};

struct Run {
  std::vector<Outcome> outcomes;
  bool drained = false;  // the io_context ran out of work before the time limit
  Clock::duration elapsed{};
  std::chrono::microseconds cpu{};  // CPU time the io_context thread used
};

constexpr auto kRunLimit = 30s;

// Sends every query at once through one client in the lab node and runs the
// io_context until it has no work left (or kRunLimit passes).
Run resolveInNode(const Lab& lab, std::vector<ResolverAddress> servers,
                  const std::vector<Query>& queries, DnsClientOptions options = {}) {
  Run run;
  run.outcomes.resize(queries.size());
  inNamespace(lab.nsName("node"), [&] {
    boost::asio::io_context io;
    DnsClient client(io, std::move(servers), options);
    const auto cpu_start = threadCpuTime();
    const auto start = Clock::now();
    for (std::size_t i = 0; i < queries.size(); ++i) {
      client.query(queries[i].name, queries[i].type, queries[i].transport,
                   [&run, i, start](std::string error, std::vector<std::uint8_t> answer) {
                     auto& outcome = run.outcomes[i];
                     EXPECT_FALSE(outcome.done) << "callback ran twice";
                     outcome.done = true;
                     outcome.error = std::move(error);
                     outcome.answer = std::move(answer);
                     outcome.elapsed = Clock::now() - start;
                   });
    }
    io.run_for(kRunLimit);
    run.drained = io.stopped();
    run.elapsed = Clock::now() - start;
    run.cpu = threadCpuTime() - cpu_start;
    EXPECT_EQ(client.pendingQueries(), 0u);
  });
  return run;
}

int rcodeOf(const std::vector<std::uint8_t>& answer) {
  return answer.size() >= 12 ? answer[3] & 0x0f : -1;
}

// The A/AAAA addresses in `answer`, read by the daemon's own answer parser.
std::vector<std::string> addressesIn(const std::vector<std::uint8_t>& answer) {
  policy::NameMatcher everything;
  everything.addRegex(".*", 1);
  everything.compile();
  const auto decision = resolver::decideAnswer(answer, everything, 0, {});
  std::vector<std::string> result;
  if (decision.verdict != resolver::AnswerVerdict::kAllowed) {
    result.push_back(std::string("<") + resolver::toString(decision.verdict) + ": " +
                     decision.error + ">");
  }
  for (const auto& learned : decision.addresses) result.push_back(learned.ip.toString());
  std::sort(result.begin(), result.end());
  return result;
}

double seconds(Clock::duration duration) { return std::chrono::duration<double>(duration).count(); }

class DnsClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!Lab::isRoot()) return;
    lab_ = std::make_unique<Lab>(Lab::uniqueName());
    try {
      lab_->up();
    } catch (const std::exception& e) {
      setup_error_ = e.what();
    }
  }
  static void TearDownTestSuite() { lab_.reset(); }

  void SetUp() override {
    if (!Lab::isRoot()) GTEST_SKIP() << "e2e tests need root (network namespaces)";
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  }

  static std::unique_ptr<Lab> lab_;
  static std::string setup_error_;
};

std::unique_ptr<Lab> DnsClientTest::lab_;
std::string DnsClientTest::setup_error_;

TEST_F(DnsClientTest, UdpAQueryReturnsTheRawAnswer) {
  const auto tcp_opens_before = lab_->readNstat("node", "TcpActiveOpens");
  const auto run = resolveInNode(*lab_, {server(kResolverV4)}, {{"example.com"}});
  ASSERT_TRUE(run.outcomes[0].done);
  const auto& outcome = run.outcomes[0];
  EXPECT_EQ(outcome.error, "");
  ASSERT_GE(outcome.answer.size(), 12u);
  EXPECT_TRUE(outcome.answer[2] & 0x80) << "QR bit: not a response";
  EXPECT_EQ(rcodeOf(outcome.answer), 0);
  EXPECT_EQ(addressesIn(outcome.answer), std::vector<std::string>{"203.0.113.10"});
  EXPECT_TRUE(run.drained) << "the io_context kept work after the last query";
  EXPECT_EQ(lab_->readNstat("node", "TcpActiveOpens"), tcp_opens_before) << "UDP query used TCP";
}

TEST_F(DnsClientTest, TcpAaaaQueryOverIpv6) {
  const auto tcp_opens_before = lab_->readNstat("node", "TcpActiveOpens");
  const auto run = resolveInNode(*lab_, {server(kResolverV6)},
                                 {{"example.com", DnsClient::kTypeAAAA, Transport::kTcp}});
  ASSERT_TRUE(run.outcomes[0].done);
  EXPECT_EQ(run.outcomes[0].error, "");
  EXPECT_EQ(addressesIn(run.outcomes[0].answer), std::vector<std::string>{"2001:db8:100::10"});
  EXPECT_TRUE(run.drained);
  EXPECT_GT(lab_->readNstat("node", "TcpActiveOpens"), tcp_opens_before) << "no TCP connection";
}

// Both transports, both types, through each of the resolver's addresses.
TEST_F(DnsClientTest, EveryTransportTypeAndServerFamily) {
  for (const char* address : {kResolverV4, kResolverV6}) {
    std::vector<Query> queries;
    for (const auto transport : {Transport::kUdp, Transport::kTcp}) {
      queries.push_back({"de.wikipedia.org", DnsClient::kTypeA, transport});
      queries.push_back({"de.wikipedia.org", DnsClient::kTypeAAAA, transport});
    }
    const auto run = resolveInNode(*lab_, {server(address)}, queries);
    for (std::size_t i = 0; i < queries.size(); ++i) {
      SCOPED_TRACE(std::string(address) + " " + resolver::toString(queries[i].transport) + " " +
                   std::to_string(queries[i].type));
      ASSERT_TRUE(run.outcomes[i].done);
      EXPECT_EQ(run.outcomes[i].error, "");
      EXPECT_EQ(addressesIn(run.outcomes[i].answer),
                std::vector<std::string>{
                    queries[i].type == DnsClient::kTypeA ? "203.0.113.12" : "2001:db8:100::12"});
    }
    EXPECT_TRUE(run.drained);
  }
}

TEST_F(DnsClientTest, MissingNameGivesTheNxdomainAnswer) {
  const auto run = resolveInNode(*lab_, {server(kResolverV4)},
                                 {{"missing.example.com", DnsClient::kTypeA, Transport::kUdp},
                                  {"missing.example.com", DnsClient::kTypeA, Transport::kTcp}});
  for (const auto& outcome : run.outcomes) {
    ASSERT_TRUE(outcome.done);
    EXPECT_EQ(outcome.error, "");
    EXPECT_EQ(rcodeOf(outcome.answer), kRcodeNxDomain);
    EXPECT_EQ(addressesIn(outcome.answer), std::vector<std::string>{});
  }
}

// A name that exists without records of the asked type: NOERROR, no addresses.
TEST_F(DnsClientTest, NoDataAnswerIsNotAnError) {
  const auto run =
      resolveInNode(*lab_, {server(kResolverV4)}, {{"www.example.com", DnsClient::kTypeAAAA}});
  ASSERT_TRUE(run.outcomes[0].done);
  EXPECT_EQ(run.outcomes[0].error, "");
  EXPECT_EQ(rcodeOf(run.outcomes[0].answer), 0);
  EXPECT_EQ(addressesIn(run.outcomes[0].answer), std::vector<std::string>{});
}

// Nobody answers: the query ends with an error after its tries (0.5 s + 1 s here),
// and the client waits on its timer meanwhile rather than spinning.
TEST_F(DnsClientTest, UnansweredQueryTimesOut) {
  DnsClientOptions options;
  options.timeout = 500ms;
  options.tries = 2;
  const auto run = resolveInNode(*lab_, {server(kNobody)},
                                 {{"example.com", DnsClient::kTypeA, Transport::kUdp},
                                  {"example.com", DnsClient::kTypeA, Transport::kTcp}},
                                 options);
  for (const auto& outcome : run.outcomes) {
    ASSERT_TRUE(outcome.done);
    EXPECT_NE(outcome.error, "");
    EXPECT_TRUE(outcome.answer.empty());
    // It waited for the timeout (a lower bound a slow machine cannot break); that it
    // gave up at all is `drained` below.
    EXPECT_GE(outcome.elapsed, 400ms);
    std::cout << "[          ] gave up after " << seconds(outcome.elapsed)
              << " s: " << outcome.error << "\n";
  }
  EXPECT_TRUE(run.drained);
  EXPECT_LT(run.cpu, 200ms) << "busy waiting?";
}

TEST_F(DnsClientTest, FallsOverToTheNextServer) {
  DnsClientOptions options;
  options.timeout = 300ms;
  const auto run = resolveInNode(*lab_, {server(kNobody), server(kResolverV6)},
                                 {{"example.com", DnsClient::kTypeA, Transport::kUdp},
                                  {"example.com", DnsClient::kTypeA, Transport::kTcp}},
                                 options);
  for (const auto& outcome : run.outcomes) {
    ASSERT_TRUE(outcome.done);
    EXPECT_EQ(outcome.error, "");
    EXPECT_EQ(addressesIn(outcome.answer), std::vector<std::string>{"203.0.113.10"});
  }
}

TEST_F(DnsClientTest, HundredConcurrentQueriesPerTransportAllComplete) {
  for (const auto transport : {Transport::kUdp, Transport::kTcp}) {
    SCOPED_TRACE(resolver::toString(transport));
    std::vector<Query> queries;
    for (int k = 1; k <= 100; ++k) queries.push_back({freshName(k), DnsClient::kTypeA, transport});
    const auto run = resolveInNode(*lab_, {server(kResolverV4)}, queries);
    int answered = 0;
    for (int k = 1; k <= 100; ++k) {
      const auto& outcome = run.outcomes[k - 1];
      ASSERT_TRUE(outcome.done) << freshName(k);
      EXPECT_EQ(outcome.error, "") << freshName(k);
      EXPECT_EQ(addressesIn(outcome.answer), std::vector<std::string>{freshAddress(k)})
          << freshName(k);
      answered += outcome.error.empty();
    }
    EXPECT_EQ(answered, 100);
    EXPECT_TRUE(run.drained);
    std::cout << "[          ] 100 " << resolver::toString(transport) << " queries in "
              << seconds(run.elapsed) << " s\n";
  }
}

// A UDP answer with the TC bit is not retried over TCP: it ends the query.
TEST_F(DnsClientTest, TruncatedUdpAnswerIsAnError) {
  Outcome outcome;
  inNamespace(lab_->nsName("node"), [&] {
    boost::asio::io_context io;
    // A fake resolver on the node's loopback that answers everything truncated.
    using boost::asio::ip::udp;
    udp::socket fake(io, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    std::vector<std::uint8_t> buffer(2048);
    udp::endpoint peer;
    fake.async_receive_from(boost::asio::buffer(buffer), peer,
                            [&](boost::system::error_code ec, std::size_t size) {
                              ASSERT_FALSE(ec) << ec.message();
                              ASSERT_GE(size, 12u);
                              buffer.resize(size);
                              buffer[2] |= 0x82;  // QR, TC
                              fake.send_to(boost::asio::buffer(buffer), peer);
                            });
    DnsClient client(io, {server("127.0.0.1:" + std::to_string(fake.local_endpoint().port()))});
    client.query("example.com", DnsClient::kTypeA, Transport::kUdp,
                 [&](std::string error, std::vector<std::uint8_t> answer) {
                   outcome.done = true;
                   outcome.error = std::move(error);
                   outcome.answer = std::move(answer);
                   fake.close();
                 });
    io.run_for(kRunLimit);
  });
  ASSERT_TRUE(outcome.done);
  EXPECT_EQ(outcome.error, "truncated");
  ASSERT_GE(outcome.answer.size(), 12u);
  EXPECT_TRUE(outcome.answer[2] & 0x02);
}

// Destroying the client drops its pending queries: their callbacks never run and
// it leaves no work in the io_context.
TEST_F(DnsClientTest, DestroyingTheClientDropsPendingQueries) {
  int callbacks = 0;
  bool drained = false;
  inNamespace(lab_->nsName("node"), [&] {
    boost::asio::io_context io;
    auto client = std::make_unique<DnsClient>(io, std::vector{server(kNobody)});
    for (int i = 0; i < 10; ++i) {
      client->query("example.com", DnsClient::kTypeA, i % 2 ? Transport::kTcp : Transport::kUdp,
                    [&](std::string, std::vector<std::uint8_t>) { ++callbacks; });
    }
    EXPECT_EQ(client->pendingQueries(), 10u);
    boost::asio::steady_timer destroy(io, 300ms);
    destroy.async_wait([&](boost::system::error_code) { client.reset(); });
    io.run_for(kRunLimit);
    drained = io.stopped();
  });
  EXPECT_EQ(callbacks, 0);
  // Nothing of the client is left on the loop: it ran out of work before kRunLimit.
  EXPECT_TRUE(drained);
}

// A callback may destroy the client: the other query's callback then never runs.
// Another callback may start a new query.
TEST_F(DnsClientTest, CallbacksMayDestroyTheClientOrQueryAgain) {
  int destroyed_callbacks = 0;
  std::vector<std::string> chained;
  inNamespace(lab_->nsName("node"), [&] {
    boost::asio::io_context io;
    auto client = std::make_unique<DnsClient>(io, std::vector{server(kResolverV4)});
    for (int i = 0; i < 2; ++i) {
      client->query("example.com", DnsClient::kTypeA, Transport::kUdp,
                    [&](std::string, std::vector<std::uint8_t>) {
                      ++destroyed_callbacks;
                      client.reset();
                    });
    }
    io.run_for(kRunLimit);
    EXPECT_TRUE(io.stopped());

    io.restart();
    DnsClient again(io, {server(kResolverV4)});
    again.query("example.com", DnsClient::kTypeA, Transport::kUdp,
                [&](std::string error, std::vector<std::uint8_t> answer) {
                  chained.push_back(error.empty() ? addressesIn(answer).at(0) : error);
                  again.query(
                      "example.com", DnsClient::kTypeAAAA, Transport::kTcp,
                      [&](std::string error, std::vector<std::uint8_t> answer) {
                        chained.push_back(error.empty() ? addressesIn(answer).at(0) : error);
                      });
                });
    io.run_for(kRunLimit);
    EXPECT_TRUE(io.stopped());
  });
  EXPECT_EQ(destroyed_callbacks, 1);
  EXPECT_EQ(chained, (std::vector<std::string>{"203.0.113.10", "2001:db8:100::10"}));
}

}  // namespace
}  // namespace skouter::e2e
