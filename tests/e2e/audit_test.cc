// Audit mode and explain end to end: an operator runs a workload under audit, reads
// what it needed, turns that into policy, and asks why a flow passes or not.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>

#include "firewall_test_fixture.h"

namespace skouter::e2e {
namespace {

using AuditTest = FirewallTest;

constexpr const char* kAuditOnlyPolicy = R"(apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata:
  name: discovery
spec:
  nodeSelector: {}
  mode: audit
  rules: []
)";

// What the workload of these tests does: lookups and connections to names, some of
// them siblings under one domain, and connections to addresses no name gave. Names
// are looked up over IPv4 only (-4), so which address curl picks is certain.
struct Request {
  std::string url;
  std::string flags;
};
const std::vector<Request> kWorkload = {
    {"http://github.com/", "-4"},       {"http://github.com:443/", "-4"},
    {"http://n1.wikipedia.org/", "-4"}, {"http://n2.wikipedia.org/", "-4"},
    {"http://n3.wikipedia.org/", "-4"}, {"http://[2001:db8:100::10]/", ""},
    {"http://198.18.200.7/", ""},
};

std::set<std::string> destinationsOf(const nlohmann::json& audit) {
  std::set<std::string> result;
  for (const auto& record : audit["records"]) {
    result.insert(record["destination"].get<std::string>() + " " +
                  std::to_string(record["port"].get<int>()));
  }
  return result;
}

TEST_F(AuditTest, AuditPassesEverythingAndItsSuggestionEnforcesTheSameTraffic) {
  PolicyDirectory policies(PolicyDirectory::Contents::kEmpty);
  policies.write("policy.yaml", kAuditOnlyPolicy);
  daemon_ = std::make_unique<Skouterd>(*lab_, policies.path());
  daemon_->start();

  for (const auto& [url, flags] : kWorkload) {
    const auto result = node(httpGet(url, flags));
    EXPECT_TRUE(result.ok()) << url << ": " << result.describe();
  }
  EXPECT_EQ(counter("datapath", "egress_denied"), 0u);
  EXPECT_GE(counter("datapath", "egress_audited"), kWorkload.size());

  const std::set<std::string> expected = {
      "203.0.113.20 80", "203.0.113.20 443",    "198.18.1.1 80",   "198.18.1.2 80",
      "198.18.1.3 80",   "2001:db8:100::10 80", "198.18.200.7 80",
  };
  nlohmann::json audit;
  ASSERT_TRUE(eventually([&] {
    audit = daemon_->ctlJson("audit");
    return destinationsOf(audit) == expected;
  })) << audit.dump(2);
  for (const auto& record : audit["records"]) {
    EXPECT_EQ(record["verdict"], "audited") << record;
    EXPECT_EQ(record["protocol"], 6) << record;
    if (record["destination"] == "203.0.113.20") {
      EXPECT_EQ(record["names"], nlohmann::json::array({"github.com"})) << record;
    }
    if (record["destination"] == "198.18.200.7") {
      EXPECT_TRUE(record["names"].empty()) << record;
    }
  }
  const auto table = ctl({"audit"});
  EXPECT_TRUE(table.ok()) << table.describe();
  EXPECT_NE(table.out.find("github.com"), std::string::npos) << table.out;

  const auto suggestion = ctl({"audit", "suggest", "--name", "learned"});
  ASSERT_TRUE(suggestion.ok()) << suggestion.describe();
  EXPECT_NE(suggestion.out.find("*.wikipedia.org"), std::string::npos) << suggestion.out;
  EXPECT_EQ(suggestion.out.find("n1.wikipedia.org"), std::string::npos) << suggestion.out;

  // The suggestion, in enforce mode, replaces the audit policy.
  policies.write("policy.yaml", suggestion.out);
  ASSERT_TRUE(eventually([&] { return daemon_->status()["policy_reloads"]["applied"] == 1; }))
      << daemon_->status()["last_policy_error"] << "\n"
      << suggestion.out;
  EXPECT_FALSE(daemon_->status()["audit"]["active"].get<bool>());
  for (const auto& [url, flags] : kWorkload) {
    const auto result = node(httpGet(url, flags));
    EXPECT_TRUE(result.ok()) << url << ": " << result.describe() << "\n" << suggestion.out;
  }
  // A sibling the workload never used is covered by the wildcard; what was never
  // seen is not: another name, another port of a seen name, an unseen address.
  EXPECT_TRUE(node(httpGet("http://n4.wikipedia.org/", "-4")).ok());
  EXPECT_EQ(node(httpGet("http://example.com/", "-4")).exit_code, kCurlTimedOut);
  EXPECT_EQ(node(httpGet("http://n1.wikipedia.org:443/", "-4")).exit_code, kCurlTimedOut);
  EXPECT_EQ(node(httpGet("http://198.18.200.8/")).exit_code, kCurlTimedOut);
}

TEST_F(AuditTest, AFlowOnlyAuditLetThroughIsCutWhenEnforcementBegins) {
  PolicyDirectory policies(PolicyDirectory::Contents::kEmpty);
  policies.write("policy.yaml", kAuditOnlyPolicy);
  daemon_ = std::make_unique<Skouterd>(*lab_, policies.path());
  daemon_->start();
  // A download of about 4 s that only audit lets through; cut, it stalls until
  // curl gives up after 8 s.
  auto download = lab_->startBackground("node",
                                        "curl -sS --max-time 8 -o /dev/null -w '%{size_download}' "
                                        "'http://203.0.113.201/bytes?n=400000&rate=100000'");
  ASSERT_TRUE(eventually([&] { return !daemon_->ctlJson("audit")["records"].empty(); }));
  policies.write("policy.yaml", R"(apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata:
  name: enforced
spec:
  nodeSelector: {}
  rules:
    - domains: [example.com]
)");
  ASSERT_TRUE(eventually([&] { return daemon_->status()["policy_reloads"]["applied"] == 1; }));
  // Enforcement now cuts the flow audit let through: the download stalls and ends
  // in curl's timeout instead of completing.
  ASSERT_TRUE(eventually([&] { return !download->running(); }, std::chrono::seconds(12)));
  EXPECT_NE(download->output(), "400000") << download->output();
  nlohmann::json audit;
  EXPECT_TRUE(eventually([&] {
    audit = daemon_->ctlJson("audit");
    for (const auto& record : audit["records"]) {
      if (record["destination"] == "203.0.113.201" && record["verdict"] == "denied") return true;
    }
    return false;
  })) << audit.dump(2);
}

TEST_F(AuditTest, AuditFlagPassesDeniedFlowsWithoutTouchingDns) {
  startDaemon({"--audit", "--deny-response", "nxdomain"});
  const auto lookup = node("dig +tries=1 +timeout=2 github.com A");
  EXPECT_NE(lookup.out.find("status: NOERROR"), std::string::npos) << lookup.describe();
  EXPECT_TRUE(node(httpGet("http://github.com/")).ok());
  const auto status = daemon_->status();
  EXPECT_TRUE(status["audit"]["active"].get<bool>()) << status["audit"];
  EXPECT_TRUE(status["audit"]["flag"].get<bool>()) << status["audit"];
  const auto explanation = ctl({"explain", "--dst", "203.0.113.20", "--port", "80"});
  EXPECT_TRUE(explanation.ok()) << explanation.describe();
  EXPECT_NE(explanation.out.find("audited:"), std::string::npos) << explanation.out;
  EXPECT_NE(explanation.out.find("github.com"), std::string::npos) << explanation.out;
  EXPECT_NE(explanation.out.find("--audit"), std::string::npos) << explanation.out;
}

TEST_F(AuditTest, EnforceModeListsWhatItDropped) {
  startDaemon();
  EXPECT_EQ(node(httpGet("http://github.com/", "-4")).exit_code, kCurlTimedOut);
  nlohmann::json audit;
  ASSERT_TRUE(eventually([&] {
    audit = daemon_->ctlJson("audit");
    return !audit["records"].empty();
  }));
  const auto& record = audit["records"][0];
  EXPECT_EQ(record["destination"], "203.0.113.20") << record;
  EXPECT_EQ(record["port"], 80) << record;
  EXPECT_EQ(record["verdict"], "denied") << record;
  EXPECT_EQ(record["names"], nlohmann::json::array({"github.com"})) << record;
  // Every retransmitted SYN was dropped and counted against the one destination.
  EXPECT_GE(record["count"].get<int>(), 2) << record;
}

TEST_F(AuditTest, ExplainSaysWhichRuleAndNameAllowAFlowOrWhatIsMissing) {
  startDaemon();
  ASSERT_TRUE(node(httpGet("http://example.com/", "-4")).ok());
  const auto learned = ctl({"explain", "--dst", "203.0.113.10", "--port", "80", "-o", "json"});
  ASSERT_TRUE(learned.ok()) << learned.describe();
  const auto allowed = nlohmann::json::parse(learned.out);
  EXPECT_EQ(allowed["verdict"], "allowed") << allowed;
  EXPECT_EQ(allowed["rule"], "example/rules[0]") << allowed;
  EXPECT_EQ(allowed["names"], nlohmann::json::array({"example.com"})) << allowed;
  EXPECT_GT(allowed["expires_in_s"].get<double>(), 0) << allowed;

  const auto fixed = nlohmann::json::parse(
      ctl({"explain", "--dst", "198.19.0.77", "--port", "80", "-o", "json"}).out);
  EXPECT_EQ(fixed["verdict"], "allowed") << fixed;
  EXPECT_EQ(fixed["rule"], "lab-static/rules[1]") << fixed;
  EXPECT_NE(fixed["reason"].get<std::string>().find("198.19.0.0/24"), std::string::npos) << fixed;

  // github.com is answered but no rule allows it.
  EXPECT_EQ(node(httpGet("http://github.com/")).exit_code, kCurlTimedOut);
  const auto denied =
      ctl({"explain", "--src", "198.51.100.2", "--dst", "2001:db8:100::20", "--port", "80"});
  EXPECT_TRUE(denied.ok()) << denied.describe();
  EXPECT_NE(denied.out.find("denied: answers gave 2001:db8:100::20 for github.com, which no rule "
                            "allows"),
            std::string::npos)
      << denied.out;
  // The API itself, as any HTTP client sends it: percent-encoded.
  const auto raw = runCommand({"curl", "-sS", "--unix-socket", daemon_->socketPath(),
                               "http://skouterd/v1/explain?dst=2001%3Adb8%3A100%3A%3A20&port=80"},
                              std::chrono::seconds(5));
  EXPECT_EQ(nlohmann::json::parse(raw.out, nullptr, false)["verdict"], "denied") << raw.describe();
  const auto unknown = ctl({"explain", "--dst", "198.18.9.9", "--port", "80"});
  EXPECT_NE(unknown.out.find("no rule allows 198.18.9.9"), std::string::npos) << unknown.out;

  // Trusted resolvers always pass; bad questions get a clear error.
  EXPECT_NE(ctl({"explain", "--dst", "198.51.100.53", "--port", "53", "--proto", "udp"})
                .out.find("trusted resolver"),
            std::string::npos);
  const auto bad = ctl({"explain", "--dst", "example.com", "--port", "80"});
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.err.find("is not an IP address"), std::string::npos) << bad.describe();
  const auto foreign =
      ctl({"explain", "--src", "192.0.2.99", "--dst", "203.0.113.10", "--port", "80"});
  EXPECT_FALSE(foreign.ok());
  EXPECT_NE(foreign.err.find("neither an address of this node nor of a policed pod"),
            std::string::npos)
      << foreign.describe();
}

}  // namespace
}  // namespace skouter::e2e
