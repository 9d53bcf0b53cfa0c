// skouterd beside another BPF agent on the lab node's uplink: the other agent
// (skouter_foreign_agent, a packet-counting program) attaches tcx links and clsact
// filters before and after skouterd starts. skouter goes first in each tcx chain and
// still enforces; the other agent's programs keep seeing the traffic skouter passes; an
// agent that later puts itself first is reported once and left there; a restart takes
// over skouter's own links, and replaces an earlier daemon's clsact filters with them;
// `skouterd --detach` removes skouter's programs only.
// Skipped on kernels without tcx.
#include <csignal>

#include <chrono>
#include <cstdint>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "firewall_test_fixture.h"

namespace skouter::e2e {
namespace {

using std::chrono::seconds;
using Chain = std::vector<std::pair<std::string, std::uint32_t>>;

constexpr const char* kAllowedUrl = "http://example.com/";
constexpr const char* kDeniedUrl = "http://github.com/";

class CoexistenceTest : public FirewallTest {
 protected:
  void SetUp() override {
    FirewallTest::SetUp();
    if (IsSkipped()) return;
    if (!agent("chain " + lab_->uplink() + " ingress").ok()) {
      GTEST_SKIP() << "this kernel has no tcx";
    }
  }

  CommandResult agent(const std::string& arguments) {
    return node(std::string(SKOUTER_E2E_FOREIGN_AGENT) + " " + arguments);
  }

  // The other agent's program NAME on the uplink: `how` is "tcx DIRECTION first|last
  // VERDICT" or "tc DIRECTION PRIORITY VERDICT".
  void install(const std::string& name, const std::string& how) {
    std::istringstream words(how);
    std::string kind;
    std::string rest;
    words >> kind;
    std::getline(words, rest);
    const auto result = agent(kind + " " + lab_->uplink() + rest + " " + agentDir() + " " + name);
    ASSERT_TRUE(result.ok()) << result.describe();
  }

  std::uint64_t packets(const std::string& name) {
    const auto result = agent("count " + agentDir() + " " + name);
    EXPECT_TRUE(result.ok()) << result.describe();
    return result.ok() ? std::stoull(result.out) : 0;
  }

  // The uplink's tcx chain at `direction`: program name and link id, first first.
  Chain chain(const std::string& direction) {
    const auto result = agent("chain " + lab_->uplink() + " " + direction);
    EXPECT_TRUE(result.ok()) << result.describe();
    Chain programs;
    std::istringstream lines(result.out);
    std::string name;
    std::uint32_t link_id = 0;
    while (lines >> name >> link_id) programs.emplace_back(name, link_id);
    return programs;
  }

  // Whether status reports every hook of the uplink as `mode` with skouter first.
  bool statusSays(const std::string& mode, bool first) {
    const auto points = daemon_->status()["attach_points"];
    if (points.empty()) return false;
    for (const auto& hook : points[0]["attachment"]) {
      if (hook["mode"] != mode || hook["first"] != first) return false;
    }
    return points[0]["attachment"].size() == 2;
  }

  // A daemon taking over serves before its programs are loaded, and attaches them
  // after: until then the previous daemon's programs run.
  bool attached() {
    return eventually(
        [&] { return !daemon_->status()["startup"]["programs_loaded_after_ms"].is_null(); },
        seconds(15));
  }

  bool enforces() {
    const auto allowed = node(httpGet(kAllowedUrl));
    EXPECT_EQ(allowed.out, "hello from example.com\n") << allowed.describe();
    const auto denied = node(httpGet(kDeniedUrl));
    EXPECT_EQ(denied.exit_code, kCurlTimedOut) << denied.describe();
    return allowed.ok() && denied.exit_code == kCurlTimedOut;
  }

  std::size_t occurrences(const std::string& text, const std::string& part) {
    std::size_t count = 0;
    for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++count;
    return count;
  }

  std::string agentDir() const { return lab_->bpffsDir() + "/foreign"; }
};

TEST_F(CoexistenceTest, SkouterEnforcesFirstInTheChainAndTheOtherAgentKeepsCounting) {
  // Before skouterd: a tcx program at the head of egress that hands packets on, and a
  // clsact filter that ends the chain.
  install("early-tcx", "tcx egress first next");
  install("early-tc", "tc egress 7 ok");
  startDaemon();
  // After: a tcx program appended to ingress that ends the chain.
  install("late-tcx", "tcx ingress last ok");

  const Chain egress = chain("egress");
  ASSERT_EQ(egress.size(), 2u);
  EXPECT_EQ(egress[0].first, "uplink_egress");
  EXPECT_EQ(egress[1].first, "foreign_agent");
  const Chain ingress = chain("ingress");
  ASSERT_EQ(ingress.size(), 2u);
  EXPECT_EQ(ingress[0].first, "uplink_ingress");
  EXPECT_EQ(ingress[1].first, "foreign_agent");
  EXPECT_TRUE(statusSays("tcx", true)) << daemon_->status()["attach_points"].dump();

  const std::uint64_t early_tcx = packets("early-tcx");
  const std::uint64_t early_tc = packets("early-tc");
  const std::uint64_t late_tcx = packets("late-tcx");
  EXPECT_TRUE(enforces());
  // What skouter passes on, they all see: the lookups and the allowed connection.
  EXPECT_GT(packets("early-tcx"), early_tcx);
  EXPECT_GT(packets("early-tc"), early_tc);
  EXPECT_GT(packets("late-tcx"), late_tcx);
}

TEST_F(CoexistenceTest, AnAgentThatPutsItselfFirstLaterIsReportedOnceAndLeftThere) {
  startDaemon();
  install("pushy", "tcx egress first next");
  const std::string warning = "now runs before skouter's on " + lab_->uplink() + " egress";
  // The daemon looks every ten seconds.
  ASSERT_TRUE(
      eventually([&] { return daemon_->log().find(warning) != std::string::npos; }, seconds(15)))
      << daemon_->log();
  EXPECT_FALSE(statusSays("tcx", true));
  // Another look or two: no second warning, and skouter stays where it was put.
  std::this_thread::sleep_for(seconds(12));
  EXPECT_EQ(occurrences(daemon_->log(), warning), 1u) << daemon_->log();
  const Chain egress = chain("egress");
  ASSERT_EQ(egress.size(), 2u);
  EXPECT_EQ(egress[0].first, "foreign_agent");
  EXPECT_EQ(egress[1].first, "uplink_egress");
  // It hands packets on: skouter still judges them.
  EXPECT_TRUE(enforces());
  EXPECT_GT(packets("pushy"), 0u);
}

TEST_F(CoexistenceTest, ARestartTakesOverSkoutersLinksAndDetachRemovesOnlyThem) {
  install("other-tcx", "tcx egress first next");
  install("other-tc", "tc egress 7 next");
  startDaemon();
  const Chain egress = chain("egress");
  const Chain ingress = chain("ingress");
  ASSERT_EQ(egress.size(), 2u);
  ASSERT_EQ(ingress.size(), 1u);

  daemon_->kill(SIGTERM);
  daemon_->start();
  ASSERT_TRUE(attached()) << daemon_->log();
  // The same links, in the same places, and no second one.
  EXPECT_EQ(chain("egress"), egress);
  EXPECT_EQ(chain("ingress"), ingress);
  EXPECT_TRUE(statusSays("tcx", true)) << daemon_->status()["attach_points"].dump();
  EXPECT_TRUE(enforces());

  daemon_->kill(SIGTERM);
  const auto detach = daemon_->runOnce({"--detach"});
  ASSERT_TRUE(detach.ok()) << detach.describe();
  EXPECT_EQ(chain("egress"), (Chain{egress[1]}));
  EXPECT_TRUE(chain("ingress").empty());
  const std::string programs = tcPrograms(lab_->uplink());
  EXPECT_EQ(programs.find("uplink_"), std::string::npos) << programs;
  EXPECT_NE(programs.find("foreign_agent"), std::string::npos) << programs;
  const std::uint64_t other_tcx = packets("other-tcx");
  const std::uint64_t other_tc = packets("other-tc");
  const auto opened = node(httpGet(kDeniedUrl));
  EXPECT_TRUE(opened.ok()) << opened.describe();
  EXPECT_GT(packets("other-tcx"), other_tcx);
  EXPECT_GT(packets("other-tc"), other_tc);
}

// An upgrade from a skouter that attached clsact filters (or a change of
// --attach-mode): the new daemon's links go in, then the old filters go.
TEST_F(CoexistenceTest, ClsactFiltersOfAnEarlierDaemonGiveWayToItsLinks) {
  install("other-tc", "tc egress 7 next");
  startDaemon({"--attach-mode", "tc"});
  const auto filters = [&](const char* direction) {
    return node("tc filter show dev " + lab_->uplink() + " " + direction).out;
  };
  EXPECT_NE(filters("egress").find("uplink_egress"), std::string::npos) << filters("egress");
  EXPECT_TRUE(chain("egress").empty());
  EXPECT_TRUE(statusSays("tc", true)) << daemon_->status()["attach_points"].dump();

  daemon_->kill(SIGTERM);
  startDaemon();
  ASSERT_TRUE(attached()) << daemon_->log();
  EXPECT_TRUE(statusSays("tcx", true)) << daemon_->status()["attach_points"].dump();
  EXPECT_EQ(filters("egress").find("uplink_egress"), std::string::npos) << filters("egress");
  EXPECT_EQ(filters("ingress").find("uplink_ingress"), std::string::npos) << filters("ingress");
  EXPECT_NE(filters("egress").find("foreign_agent"), std::string::npos) << filters("egress");
  ASSERT_EQ(chain("egress").size(), 1u);
  EXPECT_EQ(chain("egress")[0].first, "uplink_egress");
  EXPECT_TRUE(enforces());
}

}  // namespace
}  // namespace skouter::e2e
