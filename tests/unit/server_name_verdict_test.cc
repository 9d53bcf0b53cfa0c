// What a server name makes of a new TLS or QUIC flow to a learned address: the pure
// decision behind the datapath's hold (daemon/server_name_verdict.h).
#include "daemon/server_name_verdict.h"

#include <gtest/gtest.h>

namespace skouter::daemon {
namespace {

class ServerNameVerdictTest : public ::testing::Test {
 protected:
  ServerNameVerdictTest() {
    names_.addExact("shop.cdn.test", 1);
    names_.addExact("api.cdn.test", 1);
    names_.addWildcard("partner.test", 2);
  }

  ServerNameJudgement judge(
      std::optional<std::string> server_name,
      policy::ServerNameMatch match = policy::ServerNameMatch::kLearnedForAddress,
      bool audit = false) {
    HelloReading reading;
    reading.server_name = std::move(server_name);
    return judgeServerName(reading, {.ports = policy::defaultServerNamePorts(), .match = match},
                           names_, learned_, audit);
  }

  policy::NameMatcher names_;
  std::vector<std::string> learned_{"shop.cdn.test"};
};

TEST_F(ServerNameVerdictTest, TheNameTheAddressWasLearnedForPasses) {
  const auto judgement = judge("shop.cdn.test");
  EXPECT_EQ(judgement.verdict, FlowVerdict::kAllowed);
  EXPECT_EQ(judgement.reason, ServerNameReason::kAllowed);
}

TEST_F(ServerNameVerdictTest, AnotherSiteOnTheAddressIsDeniedAndTheLearnedNamesAreTold) {
  const auto judgement = judge("evil.cdn.test");
  EXPECT_EQ(judgement.verdict, FlowVerdict::kDenied);
  EXPECT_EQ(judgement.reason, ServerNameReason::kNotAllowed);
  EXPECT_NE(judgement.explanation.find("evil.cdn.test"), std::string::npos);
  EXPECT_NE(judgement.explanation.find("learned for shop.cdn.test"), std::string::npos);
}

TEST_F(ServerNameVerdictTest, AnAllowedNameThatResolvedElsewhereNeedsAllowedByPolicy) {
  EXPECT_EQ(judge("api.cdn.test").reason, ServerNameReason::kNotLearnedForAddress);
  EXPECT_EQ(judge("api.cdn.test").verdict, FlowVerdict::kDenied);
  EXPECT_EQ(judge("api.cdn.test", policy::ServerNameMatch::kAllowedByPolicy).verdict,
            FlowVerdict::kAllowed);
  EXPECT_EQ(judge("x.partner.test", policy::ServerNameMatch::kAllowedByPolicy).verdict,
            FlowVerdict::kAllowed);
  EXPECT_EQ(judge("evil.cdn.test", policy::ServerNameMatch::kAllowedByPolicy).verdict,
            FlowVerdict::kDenied);
}

TEST_F(ServerNameVerdictTest, NoServerNameIsDenied) {
  const auto judgement = judge(std::nullopt);
  EXPECT_EQ(judgement.verdict, FlowVerdict::kDenied);
  EXPECT_EQ(judgement.reason, ServerNameReason::kNoServerName);
}

TEST_F(ServerNameVerdictTest, WhatIsNoClientHelloIsDeniedForWhatItIs) {
  for (const auto& [kind, reason] :
       {std::pair{HelloReading::Kind::kNotTls, ServerNameReason::kNotTls},
        std::pair{HelloReading::Kind::kNotQuicInitial, ServerNameReason::kNotQuicInitial},
        std::pair{HelloReading::Kind::kUnreadable, ServerNameReason::kUnreadable}}) {
    HelloReading reading;
    reading.kind = kind;
    reading.server_name = "shop.cdn.test";  // never trusted from what cannot be read
    const auto judgement = judgeServerName(reading, {.ports = policy::defaultServerNamePorts()},
                                           names_, learned_, false);
    EXPECT_EQ(judgement.verdict, FlowVerdict::kDenied) << toString(reason);
    EXPECT_EQ(judgement.reason, reason);
  }
}

TEST_F(ServerNameVerdictTest, TheOuterNameOfAnEncryptedClientHelloIsWhatIsChecked) {
  HelloReading reading;
  reading.server_name = "public.cdn.test";
  reading.encrypted_client_hello = true;
  const auto judgement = judgeServerName(reading, {.ports = policy::defaultServerNamePorts()},
                                         names_, learned_, false);
  EXPECT_EQ(judgement.verdict, FlowVerdict::kDenied);
  EXPECT_NE(judgement.explanation.find("outer name"), std::string::npos);
}

TEST_F(ServerNameVerdictTest, AuditModeAuditsWhatItWouldDeny) {
  EXPECT_EQ(judge("evil.cdn.test", policy::ServerNameMatch::kLearnedForAddress, true).verdict,
            FlowVerdict::kAudited);
  EXPECT_EQ(judge("shop.cdn.test", policy::ServerNameMatch::kLearnedForAddress, true).verdict,
            FlowVerdict::kAllowed);
}

}  // namespace
}  // namespace skouter::daemon
