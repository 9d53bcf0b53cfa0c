// Policy language end to end: what a rule written by an operator lets through.
#include <gtest/gtest.h>

#include "firewall_test_fixture.h"

namespace skouter::e2e {
namespace {

using PolicyTest = FirewallTest;

TEST_F(PolicyTest, WildcardAllowsNamesBelowTheDomainButNotTheDomainItself) {
  PolicyDirectory policies(PolicyDirectory::Contents::kEmpty);
  policies.write("wildcard.yaml", R"(apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata:
  name: wildcard
spec:
  nodeSelector: {}
  rules:
    - domains: ['*.example.com']
)");
  daemon_ = std::make_unique<Skouterd>(*lab_, policies.path());
  daemon_->start();
  for (const std::string name : {"www.example.com", "a.b.example.com"}) {
    const auto result = node(httpGet("http://" + name + "/"));
    EXPECT_TRUE(result.ok()) << name << ": " << result.describe();
    EXPECT_EQ(result.out, "hello from " + name + "\n");
  }
  EXPECT_EQ(node(httpGet("http://example.com/")).exit_code, kCurlTimedOut);
  EXPECT_EQ(node(httpGet("http://github.com/")).exit_code, kCurlTimedOut);
  EXPECT_EQ(learnedAddresses("a.b.example.com"), std::set<std::string>{"203.0.113.15"});
}

}  // namespace
}  // namespace skouter::e2e
