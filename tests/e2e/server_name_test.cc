// Shared addresses told apart (THREATS.md, "Shared addresses"): a CDN address learned
// for one allowed name serves every other site on it. With spec.tls.verifySNI, a new
// TLS or QUIC flow to such an address passes only if its ClientHello names an allowed
// server that resolved to that address. The lab's world serves shop.cdn.test and
// evil.cdn.test on one address, 203.0.113.70 (and 2001:db8:100::70): HTTPS
// (lab/http_server.py, one certificate for both names) on 8443, QUIC (a stand-in server
// that logs the server names of the Initials it receives) on 443/UDP. Only
// shop.cdn.test is allowed.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "firewall_test_fixture.h"
#include "kubernetes_fixture.h"

namespace skouter::e2e {
namespace {

constexpr const char* kSharedV4 = "203.0.113.70";
constexpr const char* kSharedV6 = "2001:db8:100::70";

std::string serverNamePolicy(const std::string& mode, const std::string& match) {
  return R"(apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata:
  name: cdn
spec:
  nodeSelector: {}
  mode: )" +
         mode + R"(
  tls:
    verifySNI: true
    ports: [443, 8443]
    serverNames: )" +
         match + R"(
  rules:
    - domains: [shop.cdn.test, api.cdn.test]
)";
}

// curl over TLS to NAME on the shared address (NAME resolved by the lab's resolver, or
// pinned to ADDRESS with --resolve, as a client with its own idea of the address does).
std::string tlsGet(const std::string& name, const std::string& resolve_to = "",
                   const std::string& family = "-4") {
  std::string command = "curl -sS -k " + family + " --max-time 3 -o /dev/null -w '%{http_code}' ";
  if (!resolve_to.empty()) {
    const bool v6 = resolve_to.find(':') != std::string::npos;
    command += "--resolve " + name + ":8443:" + (v6 ? "[" + resolve_to + "]" : resolve_to) + " ";
  }
  return command + "https://" + name + ":8443/";
}

// The world's side: HTTPS on 8443 (every address, both families) and the QUIC stand-in
// on 203.0.113.70:443/UDP, which logs the server names it receives.
class SharedAddressServers {
 public:
  explicit SharedAddressServers(const Lab& lab) : lab_(lab) {
    const std::string dir = "/run/skouter-lab/" + lab.name();
    // One certificate for both names, as a CDN's edge has.
    const auto certificate =
        lab.run("world",
                "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=shop.cdn.test "
                "-addext subjectAltName=DNS:shop.cdn.test,DNS:evil.cdn.test -keyout " +
                    dir + "/cdn.key -out " + dir + "/cdn.pem 2>&1");
    if (!certificate.ok()) throw std::runtime_error("openssl req: " + certificate.describe());
    tls_server_ = lab.startBackground(
        "world", "exec python3 " + sourcePath("tests/e2e/lab/http_server.py") +
                     " --port 8443 --tls-cert " + dir + "/cdn.pem --tls-key " + dir + "/cdn.key");
    quic_log_ = dir + "/quic.log";
    quic_server_ =
        lab.startBackground("world", std::string("exec ") + SKOUTER_E2E_QUIC_ECHO + " --listen " +
                                         kSharedV4 + " --port 443 --log " + quic_log_);
    if (!eventually([&] {
          return lab
              .run("world",
                   "ss -Hltn 'sport = :8443' | grep -q . && ss -Hlun 'sport = "
                   ":443' | grep -q .")
              .ok();
        })) {
      throw std::runtime_error("the world's TLS and QUIC servers did not start");
    }
  }

  // The server names the QUIC server received, one line per Initial.
  std::string quicLog() const { return lab_.run("world", "cat " + quic_log_ + " 2>/dev/null").out; }

 private:
  const Lab& lab_;
  std::unique_ptr<BackgroundProcess> tls_server_;
  std::unique_ptr<BackgroundProcess> quic_server_;
  std::string quic_log_;
};

// Flows judged by server name with this protocol, verdict and reason, from status.
std::uint64_t judged(const Skouterd& daemon, const std::string& protocol,
                     const std::string& verdict, const std::string& reason) {
  std::uint64_t flows = 0;
  const auto status = daemon.status();
  for (const auto& entry : status["server_names"]["judged"]) {
    if (entry["protocol"] == protocol && entry["verdict"] == verdict && entry["reason"] == reason) {
      flows += entry["flows"].get<std::uint64_t>();
    }
  }
  return flows;
}

class ServerNameTest : public FirewallTest {
 protected:
  void SetUp() override {
    FirewallTest::SetUp();
    if (IsSkipped()) return;
    servers_ = std::make_unique<SharedAddressServers>(*lab_);
  }

  void startWith(const std::string& mode = "enforce",
                 const std::string& match = "learnedForAddress") {
    policies_.write("cdn.yaml", serverNamePolicy(mode, match));
    startDaemon();
  }

  CommandResult quicHello(const std::string& server_name, const std::string& extra = "") {
    return node(std::string(SKOUTER_E2E_QUIC_HELLO) + " --connect " + kSharedV4 +
                    " --port 443 --server-name " + server_name + " --wait-ms 1500 " + extra,
                std::chrono::seconds(10));
  }

  std::uint64_t judged(const std::string& protocol, const std::string& verdict,
                       const std::string& reason) {
    return e2e::judged(*daemon_, protocol, verdict, reason);
  }

  std::unique_ptr<SharedAddressServers> servers_;
};

TEST_F(ServerNameTest, TheAllowedNamePassesAndAnotherSiteOnItsAddressIsDropped) {
  startWith();
  // The allowed name, looked up by curl itself: its address is learned, its
  // ClientHello names it.
  const auto allowed = node(tlsGet("shop.cdn.test"));
  EXPECT_TRUE(allowed.ok() && allowed.out == "200") << allowed.describe();
  // The held ClientHello is released once, never sent again by the node's TCP: a
  // hold that TCP saw as a failed send made it ignore the server's answer to the
  // released copy (a challenge ACK), send the hello again after its retransmission
  // timeout, 200 ms later, and the server report the duplicate (a D-SACK).
  const auto duplicates = lab_->readNstat("node", "TcpExtTCPDSACKRecv");
  for (int i = 0; i < 3; ++i) {
    const auto again = node(tlsGet("shop.cdn.test"));
    EXPECT_TRUE(again.ok() && again.out == "200") << again.describe();
  }
  EXPECT_EQ(lab_->readNstat("node", "TcpExtTCPDSACKRecv"), duplicates);
  ASSERT_EQ(learnedAddresses("shop.cdn.test").count(kSharedV4), 1u);

  // The attack: the same address, learned and open on 8443, asked for another site.
  const auto other = node(tlsGet("evil.cdn.test", kSharedV4));
  EXPECT_EQ(other.exit_code, kCurlTimedOut) << other.describe();
  EXPECT_GE(judged("tls", "allowed", "allowed"), 1u);
  EXPECT_GE(judged("tls", "denied", "name_not_allowed"), 1u);

  // The connection after the denial is dropped in the datapath, the allowed name still
  // opens new ones.
  EXPECT_GT(counter("datapath", "server_name_denied"), 0u);
  const auto again = node(tlsGet("shop.cdn.test"));
  EXPECT_TRUE(again.ok() && again.out == "200") << again.describe();

  // The audit table names the denied destination and the names it was learned for.
  const auto audit = daemon_->ctlJson("audit");
  bool recorded = false;
  for (const auto& record : audit["records"]) {
    if (record["destination"] == kSharedV4 && record["port"] == 8443) {
      recorded = true;
      EXPECT_EQ(record["verdict"], "denied") << record.dump();
      EXPECT_NE(record.dump().find("shop.cdn.test"), std::string::npos) << record.dump();
    }
  }
  EXPECT_TRUE(recorded) << audit.dump();
}

TEST_F(ServerNameTest, AClientHelloSplitOverSegmentsIsReadWhole) {
  startWith();
  ASSERT_TRUE(node("getent ahostsv4 shop.cdn.test").ok());
  const std::string client =
      "python3 " + sourcePath("tests/e2e/lab/split_hello_client.py") + " " + kSharedV4 + " 8443 ";
  const auto allowed = node(client + "shop.cdn.test --pieces 3");
  EXPECT_TRUE(allowed.ok() && allowed.out == "200\n") << allowed.describe();
  const auto other = node(client + "evil.cdn.test --pieces 3");
  EXPECT_EQ(other.exit_code, 1) << other.describe();  // timed out
  EXPECT_GE(judged("tls", "allowed", "allowed"), 1u);
  EXPECT_GE(judged("tls", "denied", "name_not_allowed"), 1u);
  // Each piece was held, and the allowed ones released.
  EXPECT_GE(counter("datapath", "server_name_held"), 6u);
}

TEST_F(ServerNameTest, OverIpv6TheSameHolds) {
  startWith();
  const auto allowed = node(tlsGet("shop.cdn.test", "", "-6"));
  EXPECT_TRUE(allowed.ok() && allowed.out == "200") << allowed.describe();
  const auto other = node(tlsGet("evil.cdn.test", kSharedV6, "-6"));
  EXPECT_EQ(other.exit_code, kCurlTimedOut) << other.describe();
}

TEST_F(ServerNameTest, AnAllowedNameThatResolvedElsewhereOrNoNameAtAllIsDropped) {
  startWith();
  ASSERT_TRUE(node(tlsGet("shop.cdn.test")).ok());
  // api.cdn.test is allowed, but resolves to 203.0.113.71, not to the shared address.
  const auto elsewhere = node(tlsGet("api.cdn.test", kSharedV4));
  EXPECT_EQ(elsewhere.exit_code, kCurlTimedOut) << elsewhere.describe();
  EXPECT_GE(judged("tls", "denied", "not_learned_for_address"), 1u);
  // An IP literal sends no server name.
  const auto literal =
      node(std::string("curl -sS -k --max-time 3 https://") + kSharedV4 + ":8443/");
  EXPECT_EQ(literal.exit_code, kCurlTimedOut) << literal.describe();
  EXPECT_GE(judged("tls", "denied", "no_server_name"), 1u);
  // Plain HTTP on the checked port is no TLS at all.
  const auto plain = node("curl -sS --max-time 3 http://shop.cdn.test:8443/");
  EXPECT_EQ(plain.exit_code, kCurlTimedOut) << plain.describe();
  EXPECT_GE(judged("tls", "denied", "not_tls"), 1u);
}

TEST_F(ServerNameTest, WithAllowedByPolicyAnyAllowedNameMayUseTheAddress) {
  startWith("enforce", "allowedByPolicy");
  ASSERT_TRUE(node(tlsGet("shop.cdn.test")).ok());
  const auto other_allowed = node(tlsGet("api.cdn.test", kSharedV4));
  EXPECT_TRUE(other_allowed.ok() && other_allowed.out == "200") << other_allowed.describe();
  const auto other = node(tlsGet("evil.cdn.test", kSharedV4));
  EXPECT_EQ(other.exit_code, kCurlTimedOut) << other.describe();
}

TEST_F(ServerNameTest, InAuditModeTheOtherSitePassesAndIsRecorded) {
  startWith("audit");
  ASSERT_TRUE(node(tlsGet("shop.cdn.test")).ok());
  const auto other = node(tlsGet("evil.cdn.test", kSharedV4));
  EXPECT_TRUE(other.ok() && other.out == "200") << other.describe();
  EXPECT_GE(judged("tls", "audited", "name_not_allowed"), 1u);
}

TEST_F(ServerNameTest, QuicInitialsAreCheckedTheSameWay) {
  startWith();
  ASSERT_TRUE(node("getent ahostsv4 shop.cdn.test").ok());  // the address is learned
  ASSERT_EQ(learnedAddresses("shop.cdn.test").count(kSharedV4), 1u);

  const auto allowed = quicHello("shop.cdn.test");
  EXPECT_TRUE(allowed.ok()) << allowed.describe();
  const auto other = quicHello("evil.cdn.test");
  EXPECT_EQ(other.exit_code, 1) << other.describe();  // no reply
  // A ClientHello spread over two Initial datagrams is read whole.
  const auto split = quicHello("shop.cdn.test", "--split");
  EXPECT_TRUE(split.ok()) << split.describe();

  const std::string received = servers_->quicLog();
  EXPECT_NE(received.find("sni=shop.cdn.test"), std::string::npos) << received;
  EXPECT_EQ(received.find("sni=evil.cdn.test"), std::string::npos) << received;
  EXPECT_GE(judged("quic", "allowed", "allowed"), 2u);
  EXPECT_GE(judged("quic", "denied", "name_not_allowed"), 1u);
}

TEST_F(ServerNameTest, ExplainAndMonitorShowTheServerNameVerdict) {
  startWith();
  ASSERT_TRUE(node(tlsGet("shop.cdn.test")).ok());
  const auto denied = ctl(
      {"explain", "--dst", kSharedV4, "--port", "8443", "--sni", "evil.cdn.test", "-o", "json"});
  ASSERT_TRUE(denied.ok()) << denied.describe();
  const auto explanation = nlohmann::json::parse(denied.out);
  EXPECT_EQ(explanation["verdict"], "denied") << denied.out;
  EXPECT_TRUE(explanation["server_name_checked"].get<bool>()) << denied.out;
  EXPECT_NE(explanation["reason"].get<std::string>().find("shop.cdn.test"), std::string::npos)
      << denied.out;
  const auto allowed =
      ctl({"explain", "--dst", kSharedV4, "--port", "8443", "--sni", "shop.cdn.test"});
  EXPECT_TRUE(allowed.ok() && allowed.out.starts_with("allowed")) << allowed.describe();

  // monitor: the event names the server name and the names the address was learned for.
  auto monitor =
      lab_->startBackground("node", skouterctlPath() + " --socket " + daemon_->socketPath() +
                                        " monitor --type server_name");
  ASSERT_TRUE(eventually([&] { return daemon_->status()["events"]["subscribers"] == 1; }))
      << monitor->output();
  node(tlsGet("evil.cdn.test", kSharedV4));
  EXPECT_TRUE(eventually([&] {
    const auto shown = monitor->output();
    return shown.find("SNI DENIED") != std::string::npos &&
           shown.find("evil.cdn.test") != std::string::npos &&
           shown.find("learned for shop.cdn.test") != std::string::npos;
  })) << monitor->output();
}

// A pod's held ClientHello goes on its way by being received again on the pod's
// interface (the XDP live-frame path), through forwarding and the node's NAT.
class PodServerNameTest : public KubernetesTest {
 protected:
  void SetUp() override {
    KubernetesTest::SetUp();
    if (IsSkipped()) return;
    servers_ = std::make_unique<SharedAddressServers>(*lab_);
    api_->write("web-egress.yaml",
                "apiVersion: egress.skouter/v1alpha1\nkind: Egress\nmetadata:\n  name: web\n"
                "  namespace: shop\nspec:\n  podSelector: {matchLabels: {app: web}}\n"
                "  tls: {verifySNI: true, ports: [443, 8443]}\n  rules:\n"
                "    - domains: [shop.cdn.test]\n");
    ASSERT_TRUE(eventually(
        [&] { return daemon_->status()["server_names"]["rules_checked"].get<int>() >= 1; },
        std::chrono::seconds(10)))
        << daemon_->log();
  }

  std::unique_ptr<SharedAddressServers> servers_;
};

TEST_F(PodServerNameTest, APodReachesTheAllowedSiteAndNotAnotherOnItsAddress) {
  const auto allowed = pod("a", tlsGet("shop.cdn.test"));
  EXPECT_TRUE(allowed.ok() && allowed.out == "200") << allowed.describe() << daemon_->log();
  const auto allowed6 = pod("a", tlsGet("shop.cdn.test", "", "-6"));
  EXPECT_TRUE(allowed6.ok() && allowed6.out == "200") << allowed6.describe();
  const auto other = pod("a", tlsGet("evil.cdn.test", kSharedV4));
  EXPECT_EQ(other.exit_code, kCurlTimedOut) << other.describe();
  EXPECT_GE(judged(*daemon_, "tls", "allowed", "allowed"), 2u);
  EXPECT_GE(judged(*daemon_, "tls", "denied", "name_not_allowed"), 1u);

  const auto quic = pod("a", std::string(SKOUTER_E2E_QUIC_HELLO) + " --connect " + kSharedV4 +
                                 " --port 443 --server-name shop.cdn.test --wait-ms 1500");
  EXPECT_TRUE(quic.ok()) << quic.describe();
  const auto quic_other = pod("a", std::string(SKOUTER_E2E_QUIC_HELLO) + " --connect " + kSharedV4 +
                                       " --port 443 --server-name evil.cdn.test --wait-ms 1500");
  EXPECT_EQ(quic_other.exit_code, 1) << quic_other.describe();
  // The pod that no Egress selects is not held at all.
  const auto unpoliced = pod("b", tlsGet("evil.cdn.test", kSharedV4));
  EXPECT_TRUE(unpoliced.ok() && unpoliced.out == "200") << unpoliced.describe();
}

}  // namespace
}  // namespace skouter::e2e
