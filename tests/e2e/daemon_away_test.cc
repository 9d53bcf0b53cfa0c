// While skouterd is stopped (SIGSTOP: a stall; SIGKILL: a crash, the next daemon not
// started yet) the datapath judges answers itself by the names the daemon compiled
// into it: new names that exact and wildcard rules allow keep opening, denied ones
// stay closed, and a name only a regex allows resolves but opens nothing. The daemon,
// back or restarted, lists what was learned.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "firewall_test_fixture.h"

namespace skouter::e2e {
namespace {

using std::chrono::seconds;

constexpr const char* kAwayPolicy = R"(apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata:
  name: away
spec:
  nodeSelector: {}
  rules:
    - domains: ['*.wikipedia.org', 'late.example.com']
    - regex: ['^git.*\.com$']
)";

class DaemonAwayTest : public FirewallTest, public ::testing::WithParamInterface<int> {
 protected:
  void SetUp() override {
    FirewallTest::SetUp();
    if (IsSkipped()) return;
    away_policies_.write("away.yaml", kAwayPolicy);
    daemon_ = std::make_unique<Skouterd>(*lab_, away_policies_.path());
    daemon_->start();
    // The exact name exists only from now on: the daemon's pre-warming lookup at start
    // found nothing, so the name is new to the datapath too. (A reload empties
    // unbound's cache of that NXDOMAIN.)
    const std::string state = "/run/skouter-lab/" + lab_->name();
    const auto added = lab_->run(
        "world",
        "printf 'late.example.com. 300 IN A 203.0.113.15\nlate.example.com. 300 IN AAAA "
        "2001:db8:100::15\n' >> " +
            state + "/lab.zone && kill -HUP $(cat " + state + "/unbound.pid) && sleep 0.5");
    ASSERT_TRUE(added.ok()) << added.describe();
  }

  PolicyDirectory away_policies_{PolicyDirectory::Contents::kEmpty};
};

TEST_P(DaemonAwayTest, NewAllowedNamesKeepOpeningAndDeniedOnesStayClosed) {
  const int signal = GetParam();
  // Waits until the daemon is gone (SIGKILL), or 5 s for one only stopped; then past
  // the 2 s --failsafe-timeout, so the datapath takes the daemon for away. (An answer
  // held in between waits in the ring for the next daemon: the client's retry, after
  // the failsafe, is learned. README, Limits.)
  daemon_->kill(signal);
  if (signal == SIGKILL) std::this_thread::sleep_for(std::chrono::milliseconds(2500));

  // For 30 s: a fresh name under the wildcard every 0.1 s, looked up and connected to:
  // "NAME ADDRESS HTTP-CODE".
  auto clients = lab_->startBackground(
      "node",
      "end=$(($(date +%s) + 30)); k=0; while [ $(date +%s) -lt $end ] && [ $k -lt 300 ]; do "
      "k=$((k + 1)); "
      "a=$(dig +short +tries=2 +timeout=2 n$k.wikipedia.org A | grep -v '^;;' | head -1); "
      "c=$( [ -n \"$a\" ] && curl -s -o /dev/null --max-time 2 -w '%{http_code}' http://$a/ ); "
      "echo \"n$k.wikipedia.org ${a:--} ${c:-000}\"; sleep 0.1; done; echo done");
  // Exact names, both families; a denied name; a name only a regex allows.
  EXPECT_TRUE(node(httpGet("http://late.example.com/", "-4")).ok());
  EXPECT_TRUE(node(httpGet("http://late.example.com/", "-6")).ok());
  EXPECT_EQ(node(httpGet("http://httpbin.org/")).exit_code, kCurlTimedOut);
  EXPECT_EQ(node(httpGet("http://github.com/")).exit_code, kCurlTimedOut)
      << "a regex-only name resolves, and opens nothing while the daemon is away";
  ASSERT_TRUE(eventually([&] { return !clients->running(); }, seconds(60))) << clients->output();

  int lookups = 0;
  std::set<std::string> learned_names;
  std::vector<std::string> failed;
  std::istringstream lines(clients->output());
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string name, address, code;
    if (!(fields >> name >> address >> code)) continue;
    ++lookups;
    if (address == "-" || code != "200") failed.push_back(line);
    learned_names.insert(name);
  }
  EXPECT_GE(lookups, 100) << clients->output();
  EXPECT_TRUE(failed.empty()) << failed.size() << " of " << lookups
                              << " failed, first: " << (failed.empty() ? "" : failed.front());

  if (signal == SIGSTOP) {
    daemon_->kill(SIGCONT);
  } else {
    daemon_->start();
  }
  // The daemon, back, lists what the datapath learned, under the rule that allowed it.
  EXPECT_TRUE(eventually([&] { return learnedAddresses("n1.wikipedia.org").size() == 1; }))
      << daemon_->log();
  EXPECT_EQ(learnedAddresses("late.example.com"),
            (std::set<std::string>{"203.0.113.15", "2001:db8:100::15"}));
  EXPECT_TRUE(learnedAddresses("github.com").empty());
  EXPECT_TRUE(learnedAddresses("httpbin.org").empty());
  std::size_t listed = 0;
  for (const auto& entry : daemon_->entries()) {
    for (const auto& name : entry["names"]) listed += learned_names.count(name.get<std::string>());
  }
  EXPECT_EQ(listed, learned_names.size());
  EXPECT_GE(counter("datapath", "dns_answer_learned"), learned_names.size());
  std::printf("daemon away (%s): %d lookups and connections, %zu failed; %zu names listed after\n",
              signal == SIGSTOP ? "SIGSTOP" : "SIGKILL", lookups, failed.size(), listed);
}

INSTANTIATE_TEST_SUITE_P(Stopped, DaemonAwayTest, ::testing::Values(SIGSTOP, SIGKILL),
                         [](const auto& info) {
                           return std::string(info.param == SIGSTOP ? "Sigstop" : "Sigkill");
                         });

}  // namespace
}  // namespace skouter::e2e
