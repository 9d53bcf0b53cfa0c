// The lab itself, without any firewall: the baseline every firewall test relies on.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "lab.h"

namespace skouter::e2e {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> sortedLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}

class LabTest : public ::testing::Test {
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

  // Runs in the node and expects success; returns stdout.
  static std::string node(const std::string& command) {
    CommandResult r = lab_->run("node", command, 10s);
    EXPECT_TRUE(r.ok()) << command << ": " << r.describe();
    return r.out;
  }

  static std::unique_ptr<Lab> lab_;
  static std::string setup_error_;
};

std::unique_ptr<Lab> LabTest::lab_;
std::string LabTest::setup_error_;

TEST_F(LabTest, DigGivesAddresses) {
  EXPECT_EQ(node("dig +short example.com A"), "203.0.113.10\n");
  EXPECT_EQ(node("dig +short example.com AAAA"), "2001:db8:100::10\n");
  EXPECT_EQ(node("dig +short @2001:db8:1::53 github.com AAAA"), "2001:db8:100::20\n");
  EXPECT_EQ(node("dig +short wikipedia.org.attacker.test A"), "203.0.113.66\n");
  EXPECT_EQ(
      sortedLines(node("dig +short multi.wikipedia.org A")),
      (std::vector<std::string>{"203.0.113.50", "203.0.113.51", "203.0.113.52", "203.0.113.53"}));
}

TEST_F(LabTest, UnknownNamesAreNxdomainNotRecursed) {
  std::string answer = node("dig +time=2 +tries=1 no-such-name.example.org A");
  EXPECT_NE(answer.find("status: NXDOMAIN"), std::string::npos) << answer;
}

TEST_F(LabTest, FreshNamesFollowTheScheme) {
  for (int k : {1, 100, 101, 217, 300}) {
    EXPECT_EQ(node("dig +short " + freshName(k) + " A"), freshAddress(k) + "\n") << k;
  }
  EXPECT_EQ(freshAddress(1), "198.18.1.1");
  EXPECT_EQ(freshAddress(300), "198.18.3.100");
}

TEST_F(LabTest, CnameChainComesBackInOneAnswer) {
  // One query, one response holding the whole chain.
  std::string full = node("dig alias.wikipedia.org A");
  EXPECT_NE(full.find("QUERY: 1, ANSWER: 3,"), std::string::npos) << full;
  EXPECT_EQ(node("dig +short alias.wikipedia.org A"),
            "edge.cdn.test.\norigin.cdn.test.\n203.0.113.40\n");
  EXPECT_EQ(node("dig +short alias.wikipedia.org AAAA"),
            "edge.cdn.test.\norigin.cdn.test.\n2001:db8:100::40\n");
}

TEST_F(LabTest, KdigOverTcp) {
  EXPECT_EQ(node("kdig +tcp +short @198.51.100.53 github.com A"), "203.0.113.20\n");
  EXPECT_EQ(node("kdig +tcp +short @2001:db8:1::53 httpbin.org AAAA"), "2001:db8:100::11\n");
}

TEST_F(LabTest, ShortTtlName) {
  std::istringstream answer(node("dig +noall +answer short.wikipedia.org A"));
  std::string owner;
  int ttl = -1;
  answer >> owner >> ttl;
  EXPECT_EQ(owner, "short.wikipedia.org.");
  EXPECT_GE(ttl, 0);
  EXPECT_LE(ttl, 2);
}

TEST_F(LabTest, CurlOverIpv4AndIpv6) {
  EXPECT_EQ(node("curl -4 -sS --max-time 5 http://example.com/"), "hello from example.com\n");
  EXPECT_EQ(node("curl -6 -sS --max-time 5 http://example.com/"), "hello from example.com\n");
  EXPECT_EQ(node("curl -sS --max-time 5 http://" + freshName(42) + "/"),
            "hello from " + freshName(42) + "\n");
}

TEST_F(LabTest, BytesEndpoint) {
  EXPECT_EQ(node("curl -sS --max-time 5 'http://httpbin.org/bytes?n=100000' | wc -c"), "100000\n");
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(node("curl -sS --max-time 8 'http://httpbin.org/bytes?n=30000&rate=20000' | wc -c"),
            "30000\n");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 1200ms);  // paced, not instant
}

TEST_F(LabTest, WorldReachesNodePort8080) {
  CommandResult v4 = lab_->run("world", "curl -sS --max-time 5 http://198.51.100.2:8080/", 10s);
  EXPECT_EQ(v4.out, "hello from 198.51.100.2:8080\n") << v4.describe();
  CommandResult v6 =
      lab_->run("world", "curl -sS --max-time 5 'http://[2001:db8:1::2]:8080/'", 10s);
  EXPECT_EQ(v6.out, "hello from [2001:db8:1::2]:8080\n") << v6.describe();
}

TEST_F(LabTest, RunReportsExitCodeOutputAndTimeout) {
  CommandResult r = lab_->run("node", "echo out; echo err >&2; exit 3", 5s);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_FALSE(r.timed_out);

  auto start = std::chrono::steady_clock::now();
  r = lab_->run("node", "echo before; sleep 31.5", 300ms);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.out, "before\n");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  // The pattern does not match its own command line.
  EXPECT_EQ(runCommand({"pgrep", "-f", "sleep 31[.]5"}, 5s).exit_code, 1) << "sleep survived";
}

TEST_F(LabTest, BackgroundProcessIsStoppedByItsDestructor) {
  auto bg = lab_->startBackground("node", "echo started; sleep 32.5");
  EXPECT_TRUE(bg->running());
  for (int i = 0; i < 100 && bg->output().empty(); ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(bg->output(), "started\n");
  std::string log = bg->logPath();
  bg.reset();
  EXPECT_EQ(runCommand({"pgrep", "-f", "sleep 32[.]5"}, 5s).exit_code, 1) << "sleep survived";
  EXPECT_NE(access(log.c_str(), F_OK), 0) << "log file left behind: " << log;

  bg = lab_->startBackground("world", "exec sleep 33.5");
  EXPECT_EQ(bg->stop(), 128 + SIGTERM);
  EXPECT_FALSE(bg->running());
}

TEST_F(LabTest, NstatCountersAreReadInsideTheNamespace) {
  uint64_t node_opens = lab_->readNstat("node", "TcpActiveOpens");
  uint64_t world_opens = lab_->readNstat("world", "TcpActiveOpens");
  uint64_t world_passive = lab_->readNstat("world", "TcpPassiveOpens");
  node("curl -sS --max-time 5 http://example.com/");
  EXPECT_GE(lab_->readNstat("node", "TcpActiveOpens"), node_opens + 1);
  EXPECT_EQ(lab_->readNstat("world", "TcpActiveOpens"), world_opens);
  EXPECT_GE(lab_->readNstat("world", "TcpPassiveOpens"), world_passive + 1);
  EXPECT_NO_THROW(lab_->readNstat("node", "TcpExtTCPSynRetrans"));
  EXPECT_NO_THROW(lab_->readNstat("node", "TcpRetransSegs"));
  EXPECT_NO_THROW(lab_->readNstat("node", "Ip6InReceives"));
  EXPECT_THROW(lab_->readNstat("node", "NoSuchCounter"), std::runtime_error);
}

TEST(LabNames, UniqueAndShortEnough) {
  std::string a = Lab::uniqueName();
  std::string b = Lab::uniqueName();
  EXPECT_NE(a, b);
  EXPECT_LE(a.size(), 8u);
  EXPECT_EQ(Lab(a).nsName("node"), a + "-node");
  EXPECT_THROW(Lab(a).nsName("router"), std::invalid_argument);
}

}  // namespace
}  // namespace skouter::e2e
