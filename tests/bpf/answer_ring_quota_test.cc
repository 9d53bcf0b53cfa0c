// AnswerRingQuota against the real maps: what the daemon counts as read, which entries
// it removes, and what a restarted daemon carries on from, with records the programs
// put into the ring.
#include "bpf/maps/answer_ring_quota.h"

#include <gtest/gtest.h>

#include <cstring>

#include "tests/bpf/datapath_fixture.h"
#include "tests/bpf/packet_builder.h"

namespace skouter::bpftest {
namespace {

constexpr std::uint32_t kPod = 100;
constexpr std::uint32_t kOtherPod = 200;
constexpr std::uint16_t kClientPort = 40053;

// A record as the ring hands it to the daemon: the header, then `frame_len` bytes.
Bytes record(std::uint32_t identity, std::size_t frame_len) {
  skouter_answer_header header{};
  header.identity = identity;
  header.frame_len = static_cast<std::uint32_t>(frame_len);
  Bytes bytes(sizeof(header) + frame_len, 0);
  std::memcpy(bytes.data(), &header, sizeof(header));
  return bytes;
}

Bytes record(const PuntedAnswer& answer) {
  Bytes bytes = record(answer.header.identity, 0);
  std::memcpy(bytes.data(), &answer.header, sizeof(answer.header));
  bytes.insert(bytes.end(), answer.frame.begin(), answer.frame.end());
  return bytes;
}

class AnswerRingQuotaTest : public DatapathFixture {
 protected:
  maps::AnswerRingQuota quota() {
    return maps::AnswerRingQuota(datapath().answerBytesPunted(), datapath().answerBytesConsumed());
  }
  void setPunted(std::uint32_t identity, std::uint64_t bytes) {
    ASSERT_EQ(datapath().answerBytesPunted().update(identity, {.bytes = bytes}), 0);
  }
  std::vector<std::uint32_t> puntedIdentities() { return datapath().answerBytesPunted().keys(); }
  std::vector<std::uint32_t> consumedIdentities() {
    return datapath().answerBytesConsumed().keys();
  }
  // The host's answer to a recorded query, run through uplink_ingress: held.
  void holdHostAnswer(std::uint16_t dns_id) {
    const TestNetwork& n = ipv4Network();
    putQuery(queryKey(n.host, kClientPort, dns_id), datapathNowNs());
    ASSERT_EQ(runUplinkIngress(
                  PacketBuilder(n.resolver, n.host)
                      .udp(kDnsPort, kClientPort, dnsAnswer(dns_id, "example.com", n.learned))
                      .build()),
              Verdict::kDrop);
  }
};

// A turn of the ring is counted at once, one write per workload, whatever its size.
TEST_F(AnswerRingQuotaTest, ATurnOfRecordsCountsEachWorkloadOnce) {
  auto ring_quota = quota();
  const Bytes small = record(kPod, 64);
  const Bytes large = record(kOtherPod, 300);
  ring_quota.consumed({small, large, small, large, large});
  const auto footprint = [](const Bytes& read) { return (read.size() + 8 + 7) / 8 * 8; };
  EXPECT_EQ(datapath().answerBytesConsumed().lookup(kPod).value().bytes, 2 * footprint(small));
  EXPECT_EQ(datapath().answerBytesConsumed().lookup(kOtherPod).value().bytes, 3 * footprint(large));
  EXPECT_EQ(ring_quota.consumedEntries(), 2u);
}

TEST_F(AnswerRingQuotaTest, ARecordReadCountsTheBytesItTookInTheRing) {
  auto ring_quota = quota();
  const Bytes read = record(kPod, 101);
  ring_quota.consumed({read});
  ring_quota.consumed({read});
  const auto consumed = datapath().answerBytesConsumed().lookup(kPod);
  ASSERT_TRUE(consumed.has_value());
  // The ring's 8-byte record header, and the record rounded up to 8 bytes.
  const std::uint64_t footprint = (read.size() + 8 + 7) / 8 * 8;
  EXPECT_EQ(consumed->bytes, 2 * footprint);
  setPunted(kPod, 3 * footprint);
  EXPECT_EQ(ring_quota.heldBytes(kPod), footprint);
  EXPECT_EQ(ring_quota.heldBytes(kOtherPod), 0u);
}

TEST_F(AnswerRingQuotaTest, WhatTheProgramsCountIsWhatTheDaemonCountsAsRead) {
  installPolicy(ipv4Network());
  holdHostAnswer(1);
  holdHostAnswer(2);
  auto ring_quota = quota();
  EXPECT_GT(ring_quota.heldBytes(SKOUTER_HOST_IDENTITY), 0u);
  for (const PuntedAnswer& answer : drainAnswers()) ring_quota.consumed({record(answer)});
  EXPECT_EQ(ring_quota.heldBytes(SKOUTER_HOST_IDENTITY), 0u);
  EXPECT_EQ(datapath().answerBytesPunted().lookup(SKOUTER_HOST_IDENTITY)->bytes,
            datapath().answerBytesConsumed().lookup(SKOUTER_HOST_IDENTITY)->bytes);
}

// Only identities with nothing left in the ring lose their entries: a workload gone
// leaves nothing behind, and one whose answers wait keeps what counts against it.
TEST_F(AnswerRingQuotaTest, EntriesGoOnceTheRingHoldsNothingOfTheirIdentity) {
  auto ring_quota = quota();
  const Bytes read = record(kPod, 64);
  const std::uint64_t footprint = (read.size() + 8 + 7) / 8 * 8;
  setPunted(kPod, footprint);
  setPunted(kOtherPod, 2 * footprint);
  ring_quota.consumed({read});
  ring_quota.consumed({record(kOtherPod, 64)});
  EXPECT_EQ(ring_quota.forgetDrained(), 1u);
  EXPECT_EQ(puntedIdentities(), std::vector<std::uint32_t>{kOtherPod});
  EXPECT_EQ(consumedIdentities(), std::vector<std::uint32_t>{kOtherPod});
  EXPECT_EQ(ring_quota.heldBytes(kOtherPod), footprint);
  EXPECT_EQ(ring_quota.puntedEntries(), 1u);
  EXPECT_EQ(ring_quota.consumedEntries(), 1u);

  ring_quota.consumed({record(kOtherPod, 64)});
  EXPECT_EQ(ring_quota.forgetDrained(), 1u);
  EXPECT_TRUE(puntedIdentities().empty());
  EXPECT_TRUE(consumedIdentities().empty());
  EXPECT_EQ(ring_quota.puntedEntries(), 0u);
  EXPECT_EQ(ring_quota.consumedEntries(), 0u);
}

// A record the programs counted into an entry removed meanwhile, or that a killed
// daemon read twice: what was read of it is forgotten with nothing to weigh it against.
TEST_F(AnswerRingQuotaTest, ReadsOfAnIdentityTheProgramsNoLongerCountAreForgotten) {
  auto ring_quota = quota();
  ring_quota.consumed({record(kPod, 64)});
  EXPECT_EQ(ring_quota.forgetDrained(), 1u);
  EXPECT_TRUE(consumedIdentities().empty());
  // Counting starts afresh: the identity's next record counts in full.
  setPunted(kPod, 1000);
  EXPECT_EQ(ring_quota.heldBytes(kPod), 1000u);
}

// The ring and both maps are pinned: answers held while no daemon ran count against
// their identity until the next daemon reads them, and then no longer.
TEST_F(AnswerRingQuotaTest, ARestartedDaemonCarriesOnFromWhatThePreviousOneCounted) {
  installPolicy(ipv4Network());
  holdHostAnswer(1);
  {
    auto ring_quota = quota();
    const auto held = drainAnswers();
    ASSERT_EQ(held.size(), 1u);
    ring_quota.consumed({record(held[0])});
  }
  holdHostAnswer(2);
  const std::uint64_t held_before = quota().heldBytes(SKOUTER_HOST_IDENTITY);
  EXPECT_GT(held_before, 0u);

  closeDatapath();
  openDatapath();
  auto ring_quota = quota();
  EXPECT_EQ(ring_quota.heldBytes(SKOUTER_HOST_IDENTITY), held_before);
  const auto left = drainAnswers();
  ASSERT_EQ(left.size(), 1u);
  ring_quota.consumed({record(left[0])});
  EXPECT_EQ(ring_quota.heldBytes(SKOUTER_HOST_IDENTITY), 0u);
  EXPECT_EQ(ring_quota.forgetDrained(), 1u);
  EXPECT_TRUE(puntedIdentities().empty());
  EXPECT_TRUE(consumedIdentities().empty());
}

}  // namespace
}  // namespace skouter::bpftest
