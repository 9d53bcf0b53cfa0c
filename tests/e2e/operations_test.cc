// Running skouterd in production, end to end: Prometheus metrics (checked by promtool),
// the live event stream behind `skouterctl monitor`, the configuration file, and a
// restart that takes over the previous daemon's state under load.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "firewall_test_fixture.h"

namespace skouter::e2e {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kMetricsAddress = "127.0.0.1:9464";

class OperationsTest : public FirewallTest {
 protected:
  std::string scrape() {
    const auto result =
        node(std::string("curl -sS --max-time 3 http://") + kMetricsAddress + "/metrics");
    EXPECT_TRUE(result.ok()) << result.describe();
    return result.out;
  }

  // The value of one sample, e.g. `skouter_dns_answers_total{outcome="allowed"}`.
  static double sample(const std::string& text, const std::string& series) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
          line[series.size()] == ' ') {
        return std::stod(line.substr(series.size() + 1));
      }
    }
    ADD_FAILURE() << "no sample " << series << " in the scrape";
    return -1;
  }

  // Runs promtool on `text`; its complaints, or "" when it accepts it.
  std::string promtoolComplaints(const std::string& text) {
    const std::string path = "/tmp/skouter-e2e-metrics-" + std::to_string(getpid()) + ".prom";
    std::ofstream(path) << text;
    const auto result =
        runCommand({"sh", "-c", "promtool check metrics < " + path + " 2>&1"}, seconds(20));
    std::remove(path.c_str());
    return result.ok() ? result.out : "promtool failed: " + result.describe();
  }
};

TEST_F(OperationsTest, PromtoolAcceptsTheMetricsAndTheyMoveWithTraffic) {
  // The metrics address comes from a configuration file, as on a packaged host.
  const std::string config = "/tmp/skouterd-e2e-config-" + std::to_string(getpid()) + ".yaml";
  std::ofstream(config) << "metrics-address: " << kMetricsAddress << "\nevent-rate-limit: 500\n";
  startDaemon({"--config", config});
  std::remove(config.c_str());

  const std::string before = scrape();
  EXPECT_EQ(promtoolComplaints(before), "");

  // A name not looked up before (the start pre-warmed example.com).
  ASSERT_TRUE(node(httpGet("http://" + freshName(1) + "/")).ok());
  EXPECT_EQ(node(httpGet("http://github.com/", "--connect-timeout 1")).exit_code, kCurlTimedOut);
  const std::string after = scrape();
  EXPECT_EQ(promtoolComplaints(after), "");

  const auto grew = [&](const std::string& series) {
    return sample(after, series) > sample(before, series);
  };
  EXPECT_TRUE(grew(R"(skouter_dns_answers_total{outcome="allowed"})"));
  EXPECT_TRUE(grew(R"(skouter_dns_answers_total{outcome="denied"})"));
  EXPECT_TRUE(grew(R"(skouter_datapath_packets_total{hook="uplink_egress",verdict="allowed"})"));
  EXPECT_TRUE(grew(R"(skouter_datapath_packets_total{hook="uplink_egress",verdict="denied"})"));
  EXPECT_TRUE(grew("skouter_dns_answer_hold_seconds_count"));
  EXPECT_TRUE(grew(R"(skouter_table_entries{table="allowed_ips"})"));
  // Nothing on this node is a pod: the pod hooks judged nothing.
  EXPECT_EQ(sample(after, R"(skouter_datapath_packets_total{hook="pod_ingress",verdict="denied"})"),
            0);
  EXPECT_GT(sample(after, R"(skouter_table_capacity{table="allowed_ips"})"), 0);
  EXPECT_EQ(sample(after, R"(skouter_policy_reloads_total{result="failed"})"), 0);
  EXPECT_NE(after.find("skouter_build_info{version=\""), std::string::npos);
  std::printf("hold time: %.0f answers, %.3f ms on average\n",
              sample(after, "skouter_dns_answer_hold_seconds_count"),
              1000 * sample(after, "skouter_dns_answer_hold_seconds_sum") /
                  sample(after, "skouter_dns_answer_hold_seconds_count"));

  // The configuration file's other key reached the daemon too.
  EXPECT_EQ(daemon_->status()["events"]["rate_limit"], 500);
}

// Every metric the Grafana dashboard and the README name is served, and nothing else
// is: tests/deploy/metric_names.txt is the one list of them.
TEST_F(OperationsTest, AdminSocketServesTheSameMetricsTheDashboardUses) {
  startDaemon();
  const auto result = node("curl -sS --max-time 3 --unix-socket " + daemon_->socketPath() +
                           " http://skouterd/metrics");
  ASSERT_TRUE(result.ok()) << result.describe();
  EXPECT_EQ(promtoolComplaints(result.out), "");
  // Name and type of each family served, and as the list has them ("NAME TYPE LABELS...").
  std::map<std::string, std::string> served;
  const std::regex type_line("# TYPE (\\S+) (\\S+)");
  std::istringstream lines(result.out);
  for (std::string line; std::getline(lines, line);) {
    std::smatch match;
    if (std::regex_search(line, match, type_line)) served[match[1]] = match[2];
  }
  std::map<std::string, std::string> listed;
  std::ifstream names(sourcePath("tests/deploy/metric_names.txt"));
  ASSERT_TRUE(names) << "tests/deploy/metric_names.txt is missing";
  for (std::string line; std::getline(names, line);) {
    std::istringstream fields(line);
    std::string name, type;
    if (fields >> name >> type && name[0] != '#') listed[name] = type;
  }
  EXPECT_EQ(served, listed);
}

TEST_F(OperationsTest, MonitorPrintsADeniedFlowWithItsNameWhileTheClientStillWaits) {
  startDaemon();
  auto monitor =
      lab_->startBackground("node", skouterctlPath() + " --socket " + daemon_->socketPath() +
                                        " monitor --type flow --verdict denied");
  ASSERT_TRUE(eventually([&] { return daemon_->status()["events"]["subscribers"] == 1; }))
      << monitor->output();

  // github.com resolves (the real answer passes) but its SYNs are dropped: curl waits
  // out its whole one-second connect timeout.
  const auto started = std::chrono::steady_clock::now();
  auto client = lab_->startBackground("node", "curl -4 -sS --connect-timeout 1 http://github.com/");
  std::optional<milliseconds> printed_after;
  bool client_still_waiting = false;
  while (client->running() || !printed_after) {
    const std::string out = monitor->output();
    if (!printed_after && out.find("github.com") != std::string::npos) {
      printed_after =
          std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started);
      client_still_waiting = client->running();
    }
    if (std::chrono::steady_clock::now() - started > seconds(10)) break;
    std::this_thread::sleep_for(milliseconds(5));
  }
  const std::string out = monitor->output();
  ASSERT_TRUE(printed_after) << out;
  EXPECT_TRUE(client_still_waiting) << "the line came only after curl gave up";
  std::printf("monitor printed the denied flow %lld ms after curl started\n",
              static_cast<long long>(printed_after->count()));
  std::string line;
  std::istringstream lines(out);
  while (std::getline(lines, line) && line.find("github.com") == std::string::npos) {
  }
  EXPECT_NE(line.find("DENIED"), std::string::npos) << line;
  EXPECT_NE(line.find("203.0.113.20"), std::string::npos) << line;
  EXPECT_NE(line.find("80"), std::string::npos) << line;
}

TEST_F(OperationsTest, EventStreamCarriesAnswersFlowsAndPolicyReloads) {
  startDaemon();
  auto stream = lab_->startBackground(
      "node", "curl -sS -N --unix-socket " + daemon_->socketPath() + " http://skouterd/v1/events");
  ASSERT_TRUE(eventually([&] { return daemon_->status()["events"]["subscribers"] == 1; }));
  ASSERT_TRUE(node(httpGet("http://example.com/")).ok());
  EXPECT_EQ(node(httpGet("http://github.com/", "--connect-timeout 1")).exit_code, kCurlTimedOut);
  policies_.write("extra.yaml",
                  "apiVersion: egress.skouter/v1alpha1\nkind: Egress\nmetadata:\n  name: extra\n"
                  "spec:\n  nodeSelector: {}\n  rules:\n  - domains: [extra.example.net]\n");

  std::vector<nlohmann::json> events;
  const auto has = [&](const std::function<bool(const nlohmann::json&)>& wanted) {
    events.clear();
    std::istringstream lines(stream->output());
    for (std::string line; std::getline(lines, line);) {
      auto event = nlohmann::json::parse(line, nullptr, false);
      EXPECT_FALSE(event.is_discarded()) << "not JSON: " << line;
      events.push_back(event);
    }
    return std::any_of(events.begin(), events.end(), wanted);
  };
  EXPECT_TRUE(eventually([&] {
    return has([](const auto& e) {
      return e["type"] == "dns" && e["verdict"] == "allowed" && e["name"] == "example.com" &&
             e["qtype"] == "A" && e["workload"] == "host" &&
             e["addresses"] == nlohmann::json{"203.0.113.10"} && e["rule"].is_string();
    });
  })) << stream->output();
  EXPECT_TRUE(has([](const auto& e) {
    return e["type"] == "dns" && e["verdict"] == "denied" && e["name"] == "github.com";
  })) << stream->output();
  EXPECT_TRUE(has([](const auto& e) {
    return e["type"] == "flow" && e["verdict"] == "denied" && e["destination"] == "203.0.113.20" &&
           e["port"] == 80 && e["protocol"] == "tcp" && e["names"] == nlohmann::json{"github.com"};
  })) << stream->output();
  EXPECT_TRUE(eventually([&] {
    return has([](const auto& e) {
      return e["type"] == "policy" && e["result"] == "applied" &&
             e["reason"] == "policy files changed";
    });
  })) << stream->output();

  // An unknown filter is refused with the reason, not streamed.
  const auto refused = node("curl -sS --unix-socket " + daemon_->socketPath() +
                            " 'http://skouterd/v1/events?verdict=maybe'");
  EXPECT_NE(refused.out.find("verdict: 'maybe'"), std::string::npos) << refused.describe();

  // The stream's reader goes away: so does the subscription.
  stream->stop();
  EXPECT_TRUE(eventually([&] { return daemon_->status()["events"]["subscribers"] == 0; }));
}

// An upgrade or a crash: the new daemon takes over the pinned state while lookups
// keep coming, and says so.
TEST_F(OperationsTest, RestartUnderLookupsLosesNoEntryAndStatusReportsTheTakeover) {
  startDaemon();
  EXPECT_FALSE(daemon_->status()["takeover"]["took_over"].get<bool>());
  // Fresh names, one after the other, each looked up once, before, during and after
  // the restart.
  auto lookups = lab_->startBackground(
      "node",
      "for k in $(seq 1 150); do "
      "o=$(dig +short +tries=5 +timeout=1 n$k.wikipedia.org A); "
      "echo \"n$k.wikipedia.org $(echo \"$o\" | grep -c '^;;') $(echo \"$o\" | grep -v '^;;')\"; "
      "sleep 0.02; done; echo done");
  ASSERT_TRUE(eventually([&] { return lookups->output().find("n20.") != std::string::npos; }));
  const auto before_kill = learnedAddresses();
  daemon_->kill(SIGKILL);
  daemon_->start();
  ASSERT_TRUE(eventually([&] { return !lookups->running(); }, seconds(90))) << lookups->output();

  // "NAME TIMEOUTS ADDRESS": dig retries a query whose answer did not come in time.
  std::map<std::string, std::string> resolved;
  int timeouts = 0;
  std::istringstream lines(lookups->output());
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string name, address;
    int retries = 0;
    if (fields >> name >> retries) {
      fields >> address;
      resolved[name] = address;
      timeouts += retries;
    }
  }
  EXPECT_EQ(resolved.size(), 150u) << lookups->output();
  const auto entries = learnedAddresses();
  for (const auto& address : before_kill) EXPECT_TRUE(entries.contains(address)) << address;
  for (const auto& [name, address] : resolved) {
    // Every lookup got its answer, and what it answered is open.
    EXPECT_FALSE(address.empty()) << name << " got no answer";
    if (!address.empty()) {
      EXPECT_TRUE(entries.contains(address)) << name << " " << address;
    }
  }

  const auto status = daemon_->status();
  const auto& takeover = status["takeover"];
  EXPECT_TRUE(takeover["took_over"].get<bool>());
  EXPECT_FALSE(takeover["migrated"].get<bool>());
  EXPECT_EQ(takeover["previous_layout_version"], status["layout_version"]);
  EXPECT_GE(takeover["entries_taken_over"].get<std::size_t>(), before_kill.size());
  EXPECT_TRUE(takeover["gap_ms"].is_number());
  std::printf(
      "restart: %zu entries before the kill, %zu taken over, gap %s ms; %zu entries now; "
      "%d of 150 lookups timed out once and were retried; longest hold %.0f ms\n",
      before_kill.size(), takeover["entries_taken_over"].get<std::size_t>(),
      takeover["gap_ms"].dump().c_str(), entries.size(), timeouts,
      status["counters"]["answers"]["max_hold_us"].get<double>() / 1000);
  const auto table = ctl({"status"});
  ASSERT_TRUE(table.ok()) << table.describe();
  EXPECT_NE(table.out.find("took over"), std::string::npos) << table.out;
}

// A restart, an upgrade or a crash under continuous lookups and connections: the new
// daemon serves held answers before its programs are verified, and one stopped with
// SIGTERM answers what it had read before it exits, so no client waits for its retry.
TEST_F(OperationsTest, RestartsUnderLookupsAndConnectionsCostNoRetryAndNoConnection) {
  startDaemon();
  // Fresh names one after the other, each looked up once with no retry and then
  // connected to: "NAME ADDRESS HTTP-CODE" (no address: the lookup timed out).
  constexpr int kLookups = 240;
  auto clients = lab_->startBackground(
      "node", "for k in $(seq 1 " + std::to_string(kLookups) +
                  "); do "
                  "a=$(dig +short +tries=1 +timeout=1 n$k.wikipedia.org A | grep -v '^;;' | head -1); "
                  "c=$( [ -n \"$a\" ] && curl -s -o /dev/null --max-time 2 -w '%{http_code}' "
                  "http://$a/ ); "
                  "echo \"n$k.wikipedia.org ${a:--} ${c:-000}\"; sleep 0.01; done; echo done");
  struct Restart {
    int signal;
    int after_lookups;
  };
  std::vector<double> holds_ms, read_after_ms, gaps_ms;
  for (const Restart restart : {Restart{SIGTERM, 40}, Restart{SIGKILL, 100}, Restart{SIGTERM, 160}}) {
    const std::string marker = "n" + std::to_string(restart.after_lookups) + ".wikipedia.org";
    ASSERT_TRUE(eventually([&] { return clients->output().find(marker) != std::string::npos; },
                           seconds(60)))
        << clients->output();
    daemon_->kill(restart.signal);
    daemon_->start();
    const auto status = daemon_->status();
    ASSERT_TRUE(status["takeover"]["took_over"].get<bool>());
    read_after_ms.push_back(status["startup"]["answers_read_after_ms"].get<double>());
    gaps_ms.push_back(status["takeover"]["gap_ms"].get<double>());
    // The programs are loaded while the new daemon serves, then attached.
    EXPECT_TRUE(eventually([&] {
      return daemon_->status()["startup"]["programs_loaded"].get<bool>();
    })) << daemon_->log();
    holds_ms.push_back(daemon_->status()["counters"]["answers"]["max_hold_us"].get<double>() /
                       1000);
  }
  ASSERT_TRUE(eventually([&] { return !clients->running(); }, seconds(90))) << clients->output();

  int lookups = 0;
  std::vector<std::string> failed;
  std::istringstream lines(clients->output());
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string name, address, code;
    if (!(fields >> name >> address >> code)) continue;
    ++lookups;
    if (address == "-" || code != "200") failed.push_back(line);
  }
  EXPECT_EQ(lookups, kLookups) << clients->output();
  // Every lookup answered within its one second, and every connection to what it
  // answered went through.
  EXPECT_TRUE(failed.empty()) << fmt::format("{}", fmt::join(failed, "\n"));
  std::printf(
      "restarts (SIGTERM, SIGKILL, SIGTERM) under %d lookups+connections: %zu failed; answers "
      "read %.1f / %.1f / %.1f ms after start; gap since the last heartbeat %.0f / %.0f / %.0f "
      "ms; longest hold after each restart %.1f / %.1f / %.1f ms\n",
      lookups, failed.size(), read_after_ms[0], read_after_ms[1], read_after_ms[2], gaps_ms[0],
      gaps_ms[1], gaps_ms[2], holds_ms[0], holds_ms[1], holds_ms[2]);
}

}  // namespace
}  // namespace skouter::e2e
