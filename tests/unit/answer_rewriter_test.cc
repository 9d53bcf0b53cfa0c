// The answer rewriter on the captured answers of tests/unit/data/answers and on a
// crafted answer full of private addresses; every rewritten message is read back
// with ldns. rebuildUdpPacket is checked with the independent checksums of
// answer_test_util.h.
#include "resolver/answer_rewriter.h"

#include <gtest/gtest.h>
#include <ldns/ldns.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "policy/compiled_policy.h"
#include "resolver/answer_handler.h"
#include "tests/unit/answer_test_util.h"

namespace skouter::resolver {
namespace {

using skouter::testing::buildFrame;
using skouter::testing::Bytes;
using skouter::testing::ChecksumField;
using skouter::testing::Frame;
using skouter::testing::FrameSpec;
using skouter::testing::get16;
using skouter::testing::ip;
using skouter::testing::onesComplementSum;
using skouter::testing::put16;
using skouter::testing::readAnswer;
using skouter::testing::udpChecksumVerifies;

constexpr std::uint64_t kSecond = 1'000'000'000ULL;
constexpr std::uint64_t kNow = 3600 * kSecond;

using Strings = std::vector<std::string>;

policy::NameMatcher labMatcher() {
  policy::NameMatcher names;
  names.addExact("example.com", 1);
  names.addExact("httpbin.org", 2);
  names.addExact("github.com", 3);
  names.addRegex(R"(.*\.wikipedia\.org)", 4);
  names.compile();
  return names;
}

policy::NameMatcher allowEverything() {
  policy::NameMatcher names;
  names.addRegex(".*", 1);
  names.compile();
  return names;
}

policy::NameMatcher denyEverything() {
  policy::NameMatcher names;
  names.compile();
  return names;
}

// --- Reading results back with ldns ----------------------------------------------------

struct PacketDeleter {
  void operator()(ldns_pkt* packet) const { ldns_pkt_free(packet); }
};
using Packet = std::unique_ptr<ldns_pkt, PacketDeleter>;

Packet parse(const Bytes& dns) {
  ldns_pkt* raw = nullptr;
  const ldns_status status = ldns_wire2pkt(&raw, dns.data(), dns.size());
  EXPECT_EQ(status, LDNS_STATUS_OK) << ldns_get_errorstr_by_id(status);
  return Packet(status == LDNS_STATUS_OK ? raw : nullptr);
}

std::string text(const ldns_rdf* rdf) {
  char* printed = ldns_rdf2str(rdf);
  std::string result = printed ? printed : "";
  free(printed);
  return result;
}

// "owner TTL TYPE rdata" of every record of a section, in order ("owner TYPE" for a
// question).
Strings records(const ldns_rr_list* list) {
  Strings described;
  for (std::size_t i = 0; i < ldns_rr_list_rr_count(list); ++i) {
    const ldns_rr* record = ldns_rr_list_rr(list, i);
    std::string line = text(ldns_rr_owner(record));
    // ldns gives a question a TTL of its own (3600); a question has none on the wire.
    if (!ldns_rr_is_question(record)) line += " " + std::to_string(ldns_rr_ttl(record));
    char* type = ldns_rr_type2str(ldns_rr_get_type(record));
    line += std::string(" ") + type;
    free(type);
    for (std::size_t f = 0; f < ldns_rr_rd_count(record); ++f) {
      line += " " + text(ldns_rr_rdf(record, f));
    }
    described.push_back(line);
  }
  return described;
}

Strings addresses(const AnswerDecision& decision) {
  Strings described;
  for (const auto& learned : decision.addresses) described.push_back(learned.ip.toString());
  return described;
}

Strings addresses(const std::vector<IpAddress>& ips) {
  Strings described;
  for (const auto& address : ips) described.push_back(address.toString());
  return described;
}

struct Rewrite {
  Bytes original;
  AnswerDecision decision;
  RewrittenAnswer result;
};

Rewrite rewrite(const Bytes& dns, const policy::NameMatcher& names, const RewriteSettings& settings,
                const std::vector<policy::StaticEntry>& static_entries = {}) {
  Rewrite done{.original = dns, .decision = decideAnswer(dns, names, kNow, {}), .result = {}};
  done.result = rewriteAnswer(DnsMessage::read(dns), done.decision, settings, static_entries);
  forgetRemoved(done.decision, done.result);
  return done;
}

Rewrite rewrite(const std::string& file, const policy::NameMatcher& names,
                const RewriteSettings& settings,
                const std::vector<policy::StaticEntry>& static_entries = {}) {
  return rewrite(readAnswer(file), names, settings, static_entries);
}

const std::vector<std::string> kCapturedAnswers = {"alias.wikipedia.org-A.bin",
                                                   "alias.wikipedia.org-AAAA.bin",
                                                   "blocked.test-A.bin",
                                                   "de.wikipedia.org-A.bin",
                                                   "de.wikipedia.org-AAAA.bin",
                                                   "example.com-A.bin",
                                                   "example.com-AAAA.bin",
                                                   "httpbin.org-A-edns.bin",
                                                   "missing.wikipedia.org-A.bin",
                                                   "mixed-case-example.com-A.bin",
                                                   "multi.wikipedia.org-A.bin",
                                                   "short.wikipedia.org-A.bin",
                                                   "wikipedia.org.attacker.test-A.bin"};

// --- --deny-response ---------------------------------------------------------------------

TEST(DenyResponseTest, ParsesItsThreeNamesOnly) {
  for (const DenyResponse response :
       {DenyResponse::kPassthrough, DenyResponse::kNxdomain, DenyResponse::kRefused}) {
    EXPECT_EQ(parseDenyResponse(toString(response)), response) << toString(response);
  }
  EXPECT_STREQ(toString(DenyResponse::kPassthrough), "passthrough");
  EXPECT_STREQ(toString(DenyResponse::kNxdomain), "nxdomain");
  EXPECT_STREQ(toString(DenyResponse::kRefused), "refused");
  for (const char* bad : {"", "NXDOMAIN", "nxdomain ", "drop", "servfail", "refuse"}) {
    EXPECT_EQ(parseDenyResponse(bad), std::nullopt) << bad;
  }
}

TEST(DenyResponseTest, NxdomainReplacesADeniedAnswer) {
  const Rewrite done =
      rewrite("blocked.test-A.bin", labMatcher(), {.deny_response = DenyResponse::kNxdomain});
  ASSERT_EQ(done.decision.verdict, AnswerVerdict::kDenied);
  EXPECT_TRUE(done.result.changed);
  EXPECT_TRUE(done.result.removed_private.empty());
  const Packet original = parse(done.original);
  const Packet answer = parse(done.result.dns);
  ASSERT_TRUE(original && answer);
  EXPECT_EQ(ldns_pkt_id(answer.get()), 0x530a);
  EXPECT_TRUE(ldns_pkt_qr(answer.get()));
  EXPECT_FALSE(ldns_pkt_aa(answer.get()));
  EXPECT_FALSE(ldns_pkt_tc(answer.get()));
  EXPECT_EQ(ldns_pkt_rd(answer.get()), ldns_pkt_rd(original.get()));
  EXPECT_EQ(ldns_pkt_ra(answer.get()), ldns_pkt_ra(original.get()));
  EXPECT_TRUE(ldns_pkt_rd(answer.get()));
  EXPECT_TRUE(ldns_pkt_ra(answer.get()));
  EXPECT_EQ(ldns_pkt_get_opcode(answer.get()), LDNS_PACKET_QUERY);
  EXPECT_EQ(ldns_pkt_get_rcode(answer.get()), LDNS_RCODE_NXDOMAIN);
  EXPECT_EQ(records(ldns_pkt_question(answer.get())), records(ldns_pkt_question(original.get())));
  ASSERT_EQ(ldns_pkt_qdcount(answer.get()), 1u);
  const ldns_rr* question = ldns_rr_list_rr(ldns_pkt_question(answer.get()), 0);
  EXPECT_EQ(text(ldns_rr_owner(question)), "blocked.test.");
  EXPECT_EQ(ldns_rr_get_type(question), LDNS_RR_TYPE_A);
  EXPECT_EQ(ldns_rr_get_class(question), LDNS_RR_CLASS_IN);
  EXPECT_EQ(ldns_pkt_ancount(answer.get()), 0u);
  EXPECT_EQ(ldns_pkt_nscount(answer.get()), 0u);
  EXPECT_EQ(ldns_pkt_arcount(answer.get()), 0u);
  EXPECT_FALSE(ldns_pkt_edns(answer.get()));  // the original had no OPT record
  // Header and question only: all counts on the wire, nothing after the question.
  EXPECT_EQ(get16(done.result.dns, 4), 1u);
  EXPECT_EQ(get16(done.result.dns, 6), 0u);
  EXPECT_EQ(get16(done.result.dns, 8), 0u);
  EXPECT_EQ(get16(done.result.dns, 10), 0u);
  EXPECT_EQ(done.result.dns.size(), 12u + 14 + 4);  // \7blocked\4test\0, type, class
  // The daemon installs nothing, and the response is itself an answer with no address.
  EXPECT_TRUE(done.decision.addresses.empty());
  const AnswerDecision again = decideAnswer(done.result.dns, allowEverything(), kNow, {});
  EXPECT_EQ(again.verdict, AnswerVerdict::kAllowed);
  EXPECT_EQ(again.question, "blocked.test");
  EXPECT_TRUE(again.addresses.empty());
}

TEST(DenyResponseTest, RefusedReplacesADeniedAnswer) {
  const Rewrite done = rewrite("wikipedia.org.attacker.test-A.bin", labMatcher(),
                               {.deny_response = DenyResponse::kRefused});
  ASSERT_EQ(done.decision.verdict, AnswerVerdict::kDenied);
  EXPECT_TRUE(done.result.changed);
  const Packet answer = parse(done.result.dns);
  ASSERT_TRUE(answer);
  EXPECT_EQ(ldns_pkt_id(answer.get()), 0x530b);
  EXPECT_TRUE(ldns_pkt_qr(answer.get()));
  EXPECT_EQ(ldns_pkt_get_rcode(answer.get()), LDNS_RCODE_REFUSED);
  EXPECT_EQ(records(ldns_pkt_question(answer.get())), (Strings{"wikipedia.org.attacker.test. A"}));
  EXPECT_EQ(ldns_pkt_ancount(answer.get()), 0u);
  EXPECT_EQ(ldns_pkt_nscount(answer.get()), 0u);
  EXPECT_EQ(ldns_pkt_arcount(answer.get()), 0u);
  EXPECT_FALSE(ldns_pkt_edns(answer.get()));
}

TEST(DenyResponseTest, OptRecordIsKeptWithItsUdpSize) {
  for (const DenyResponse response : {DenyResponse::kNxdomain, DenyResponse::kRefused}) {
    const Rewrite done =
        rewrite("httpbin.org-A-edns.bin", denyEverything(), {.deny_response = response});
    ASSERT_EQ(done.decision.verdict, AnswerVerdict::kDenied);
    EXPECT_TRUE(done.result.changed);
    const Packet original = parse(done.original);
    const Packet answer = parse(done.result.dns);
    ASSERT_TRUE(original && answer);
    ASSERT_EQ(ldns_pkt_edns_udp_size(original.get()), 1232u);
    EXPECT_EQ(ldns_pkt_id(answer.get()), 0x530d);
    EXPECT_EQ(ldns_pkt_get_rcode(answer.get()),
              response == DenyResponse::kNxdomain ? LDNS_RCODE_NXDOMAIN : LDNS_RCODE_REFUSED);
    EXPECT_EQ(records(ldns_pkt_question(answer.get())), (Strings{"httpbin.org. A"}));
    EXPECT_EQ(ldns_pkt_ancount(answer.get()), 0u);
    EXPECT_EQ(ldns_pkt_nscount(answer.get()), 0u);
    EXPECT_TRUE(ldns_pkt_edns(answer.get()));
    EXPECT_EQ(ldns_pkt_edns_udp_size(answer.get()), 1232u);
    EXPECT_EQ(ldns_pkt_edns_version(answer.get()), 0u);
    EXPECT_EQ(ldns_pkt_edns_extended_rcode(answer.get()), 0u);
    EXPECT_EQ(ldns_pkt_edns_do(answer.get()), ldns_pkt_edns_do(original.get()));
    // On the wire: ARCOUNT 1, and the OPT record (root, type 41, class = UDP size).
    EXPECT_EQ(get16(done.result.dns, 10), 1u);
    const Bytes opt(done.result.dns.end() - 11, done.result.dns.end());
    EXPECT_EQ(opt, (Bytes{0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0}));
  }
}

TEST(DenyResponseTest, OptFlagsAndVersionAreCopiedButNotOptions) {
  // httpbin.org-A-edns.bin with the DO bit set and a 12-byte cookie option added.
  Bytes dns = readAnswer("httpbin.org-A-edns.bin");
  const std::size_t opt_ttl = dns.size() - 6;
  dns[opt_ttl + 2] = 0x80;  // DO
  put16(dns, dns.size() - 2, 12);
  dns.insert(dns.end(), {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8});
  const Rewrite done = rewrite(dns, denyEverything(), {.deny_response = DenyResponse::kNxdomain});
  const Packet answer = parse(done.result.dns);
  ASSERT_TRUE(answer);
  EXPECT_TRUE(ldns_pkt_edns_do(answer.get()));
  EXPECT_EQ(ldns_pkt_edns_udp_size(answer.get()), 1232u);
  const Bytes opt(done.result.dns.end() - 11, done.result.dns.end());
  EXPECT_EQ(opt, (Bytes{0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0}));
}

TEST(DenyResponseTest, QuestionKeepsItsCase) {
  // DNS 0x20: a client checks that the answer echoes ExAmPlE.CoM as it asked.
  const Rewrite done = rewrite("mixed-case-example.com-A.bin", denyEverything(),
                               {.deny_response = DenyResponse::kRefused});
  const std::string wire(done.result.dns.begin(), done.result.dns.end());
  EXPECT_NE(wire.find("\x07"
                      "ExAmPlE"
                      "\x03"
                      "CoM"),
            std::string::npos);
  EXPECT_EQ(Bytes(done.result.dns.begin() + 12, done.result.dns.end()),
            Bytes(done.original.begin() + 12, done.original.begin() + 12 + 13 + 4));
}

TEST(DenyResponseTest, DeniedNxdomainIsRewrittenWithoutItsSoa) {
  const Rewrite done = rewrite("missing.wikipedia.org-A.bin", denyEverything(),
                               {.deny_response = DenyResponse::kNxdomain});
  EXPECT_TRUE(done.result.changed);
  const Packet answer = parse(done.result.dns);
  ASSERT_TRUE(answer);
  EXPECT_EQ(ldns_pkt_get_rcode(answer.get()), LDNS_RCODE_NXDOMAIN);
  EXPECT_EQ(ldns_pkt_nscount(answer.get()), 0u);
}

TEST(DenyResponseTest, AllowedAnswersAreUntouched) {
  const policy::NameMatcher names = labMatcher();
  for (const DenyResponse response :
       {DenyResponse::kPassthrough, DenyResponse::kNxdomain, DenyResponse::kRefused}) {
    for (const std::string& file : kCapturedAnswers) {
      const Rewrite done = rewrite(file, names, {.deny_response = response});
      if (done.decision.verdict != AnswerVerdict::kAllowed) continue;
      EXPECT_FALSE(done.result.changed) << file << " " << toString(response);
      EXPECT_EQ(done.result.dns, done.original) << file << " " << toString(response);
    }
  }
}

TEST(DenyResponseTest, PassthroughLeavesDeniedAnswersAlone) {
  for (const std::string& file : kCapturedAnswers) {
    const Rewrite done = rewrite(file, denyEverything(), {});
    ASSERT_EQ(done.decision.verdict, AnswerVerdict::kDenied) << file;
    EXPECT_FALSE(done.result.changed) << file;
    EXPECT_EQ(done.result.dns, done.original) << file;
  }
}

// --- --max-ttl ------------------------------------------------------------------------------

// Offsets of the TTL fields that differ between two messages of the same size.
std::vector<std::size_t> differingBytes(const Bytes& a, const Bytes& b) {
  std::vector<std::size_t> offsets;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (a[i] != b[i]) offsets.push_back(i);
  }
  return offsets;
}

TEST(MaxTtlTest, EveryTtlOfACnameChainIsCapped) {
  const Rewrite done = rewrite("alias.wikipedia.org-A.bin", labMatcher(), {.max_ttl_s = 5});
  ASSERT_EQ(done.decision.verdict, AnswerVerdict::kAllowed);
  EXPECT_TRUE(done.result.changed);
  const Packet answer = parse(done.result.dns);
  ASSERT_TRUE(answer);
  EXPECT_EQ(
      records(ldns_pkt_answer(answer.get())),
      (Strings{"alias.wikipedia.org. 5 CNAME edge.cdn.test.",
               "edge.cdn.test. 5 CNAME origin.cdn.test.", "origin.cdn.test. 5 A 203.0.113.40"}));
  // Capped in place: same size, only the low bytes of the three TTLs (300 -> 5) differ.
  ASSERT_EQ(done.result.dns.size(), done.original.size());
  EXPECT_EQ(differingBytes(done.result.dns, done.original).size(), 6u);
  // The decision still reports the TTL the resolver sent.
  ASSERT_EQ(done.decision.addresses.size(), 1u);
  EXPECT_EQ(done.decision.addresses[0].ttl_s, 300u);
  // The capped answer is read as the same answer.
  const AnswerDecision again = decideAnswer(done.result.dns, labMatcher(), kNow, {});
  EXPECT_EQ(addresses(again), (Strings{"203.0.113.40"}));
  EXPECT_EQ(again.addresses[0].ttl_s, 5u);
}

// Found by the answer fuzzer: a compression pointer that leads into a TTL field. An
// in-place cap would change the name the pointer spells, so the answer is left as it
// came (no real server writes such a pointer) and still reads as the same records.
TEST(MaxTtlTest, TtlUnderACompressionPointerDoesNotChangeAName) {
  const Bytes original =
      readAnswer("../../../fuzz/corpus/answer/regress-rewriter-ttl-under-pointer.bin");
  AnswerDecision decision = decideAnswer(original, allowEverything(), kNow, {});
  const auto result = rewriteAnswer(DnsMessage::read(original), decision, {.max_ttl_s = 3600}, {});
  const AnswerDecision before = decideAnswer(original, allowEverything(), kNow, {});
  const AnswerDecision after = decideAnswer(result.dns, allowEverything(), kNow, {});
  EXPECT_EQ(after.verdict, before.verdict);
  EXPECT_EQ(after.question, before.question);
  EXPECT_EQ(addresses(after), addresses(before));
  for (const auto& learned : after.addresses) EXPECT_LE(learned.ttl_s, 3600u);
}

TEST(MaxTtlTest, OptRecordKeepsItsTtlField) {
  // Give the OPT record DO and a version in its TTL field: none of it is a TTL.
  Bytes dns = readAnswer("httpbin.org-A-edns.bin");
  const std::size_t opt_ttl = dns.size() - 6;
  dns[opt_ttl + 1] = 0;     // version 0
  dns[opt_ttl + 2] = 0x80;  // DO
  const Rewrite done = rewrite(dns, labMatcher(), {.max_ttl_s = 5});
  EXPECT_TRUE(done.result.changed);
  ASSERT_EQ(done.result.dns.size(), dns.size());
  EXPECT_EQ(Bytes(done.result.dns.end() - 11, done.result.dns.end()),
            Bytes(dns.end() - 11, dns.end()));
  const Packet answer = parse(done.result.dns);
  ASSERT_TRUE(answer);
  EXPECT_EQ(records(ldns_pkt_answer(answer.get())), (Strings{"httpbin.org. 5 A 203.0.113.11"}));
  EXPECT_TRUE(ldns_pkt_edns_do(answer.get()));
  EXPECT_EQ(ldns_pkt_edns_udp_size(answer.get()), 1232u);

  // As captured (flags all zero) too.
  const Rewrite captured = rewrite("httpbin.org-A-edns.bin", labMatcher(), {.max_ttl_s = 5});
  EXPECT_EQ(Bytes(captured.result.dns.end() - 11, captured.result.dns.end()),
            Bytes(captured.original.end() - 11, captured.original.end()));
}

TEST(MaxTtlTest, AuthorityAndAdditionalSectionsAreCapped) {
  const Rewrite nxdomain = rewrite("missing.wikipedia.org-A.bin", labMatcher(), {.max_ttl_s = 5});
  EXPECT_TRUE(nxdomain.result.changed);
  const Packet soa = parse(nxdomain.result.dns);
  ASSERT_TRUE(soa);
  ASSERT_EQ(ldns_pkt_nscount(soa.get()), 1u);
  EXPECT_EQ(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_authority(soa.get()), 0)), 5u);
  EXPECT_EQ(ldns_pkt_get_rcode(soa.get()), LDNS_RCODE_NXDOMAIN);

  const Rewrite additional =
      rewrite("crafted-additional-section.bin", labMatcher(), {.max_ttl_s = 5});
  EXPECT_TRUE(additional.result.changed);
  const Packet all = parse(additional.result.dns);
  ASSERT_TRUE(all);
  for (const ldns_rr_list* section : {ldns_pkt_answer(all.get()), ldns_pkt_additional(all.get())}) {
    ASSERT_GT(ldns_rr_list_rr_count(section), 0u);
    for (std::size_t i = 0; i < ldns_rr_list_rr_count(section); ++i) {
      EXPECT_EQ(ldns_rr_ttl(ldns_rr_list_rr(section, i)), 5u);
    }
  }
}

TEST(MaxTtlTest, TtlWithTheHighBitSetIsWrittenAsZero) {
  // 0x80000000 and 0xffffffff mean 0 (RFC 2181); 0x7fffffff is capped.
  const Rewrite done = rewrite("crafted-ttl-msb.bin", labMatcher(), {.max_ttl_s = 5});
  EXPECT_TRUE(done.result.changed);
  const Packet answer = parse(done.result.dns);
  ASSERT_TRUE(answer);
  EXPECT_EQ(records(ldns_pkt_answer(answer.get())),
            (Strings{"example.com. 0 A 203.0.113.10", "example.com. 0 A 203.0.113.11",
                     "example.com. 5 A 203.0.113.12"}));
}

TEST(MaxTtlTest, TtlsAtOrBelowTheCapLeaveTheAnswerByteIdentical) {
  // short.wikipedia.org has TTL 2; the others 300.
  const Rewrite short_ttl = rewrite("short.wikipedia.org-A.bin", labMatcher(), {.max_ttl_s = 5});
  EXPECT_FALSE(short_ttl.result.changed);
  EXPECT_EQ(short_ttl.result.dns, short_ttl.original);
  for (const std::string& file : kCapturedAnswers) {
    const Rewrite done = rewrite(file, labMatcher(), {.max_ttl_s = 86400});
    EXPECT_FALSE(done.result.changed) << file;
    EXPECT_EQ(done.result.dns, done.original) << file;
  }
}

TEST(MaxTtlTest, DeniedAnswersPassedThroughAreCappedToo) {
  const Rewrite done = rewrite("blocked.test-A.bin", labMatcher(), {.max_ttl_s = 5});
  ASSERT_EQ(done.decision.verdict, AnswerVerdict::kDenied);
  EXPECT_TRUE(done.result.changed);
  const Packet answer = parse(done.result.dns);
  ASSERT_TRUE(answer);
  EXPECT_EQ(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(answer.get()), 0)), 5u);
}

TEST(MaxTtlTest, DenyResponseHasNoRecordsToCap) {
  const Rewrite done = rewrite("blocked.test-A.bin", labMatcher(),
                               {.deny_response = DenyResponse::kNxdomain, .max_ttl_s = 5});
  const Packet answer = parse(done.result.dns);
  ASSERT_TRUE(answer);
  EXPECT_EQ(ldns_pkt_get_rcode(answer.get()), LDNS_RCODE_NXDOMAIN);
  EXPECT_EQ(ldns_pkt_ancount(answer.get()), 0u);
}

// --- Private answers ----------------------------------------------------------------------

TEST(PrivateAddressTest, RangesAreThoseOfTheFlag) {
  for (const char* address : {"10.0.0.1",
                              "10.255.255.255",
                              "172.16.0.1",
                              "172.31.255.255",
                              "192.168.1.1",
                              "127.0.0.1",
                              "127.255.255.254",
                              "169.254.169.254",
                              "100.64.0.1",
                              "100.127.255.255",
                              "0.0.0.0",
                              "0.1.2.3",
                              "::1",
                              "::",
                              "fe80::1",
                              "febf:ffff::1",
                              "fc00::1",
                              "fd00::1",
                              "fdff:ffff::1",
                              "::ffff:10.0.0.1",
                              "::ffff:127.0.0.1",
                              "::ffff:192.168.0.1",
                              "::ffff:100.64.0.1",
                              "::ffff:0.0.0.0",
                              "::ffff:169.254.1.1"}) {
    EXPECT_TRUE(isPrivateAnswerAddress(ip(address))) << address;
  }
  // The lab's documentation ranges, public addresses and the neighbours of each range.
  for (const char* address : {"198.51.100.53",    "203.0.113.5",
                              "192.0.2.1",        "198.18.0.1",
                              "198.19.255.255",   "2001:db8::1",
                              "2001:db8:100::10", "8.8.8.8",
                              "9.255.255.255",    "11.0.0.0",
                              "172.15.255.255",   "172.32.0.0",
                              "192.167.255.255",  "192.169.0.0",
                              "128.0.0.1",        "126.255.255.255",
                              "169.253.255.255",  "169.255.0.0",
                              "100.63.255.255",   "100.128.0.0",
                              "1.0.0.0",          "::2",
                              "fec0::1",          "fe7f::1",
                              "fb00::1",          "fe00::1",
                              "::ffff:8.8.8.8",   "::ffff:203.0.113.5",
                              "::10.0.0.1",       "64:ff9b::a00:1",
                              "2606:4700::1111"}) {
    EXPECT_FALSE(isPrivateAnswerAddress(ip(address))) << address;
  }
}

// A hand-built wire-format DNS message.
class Message {
 public:
  Message(std::uint16_t id, std::uint16_t flags) { put16s({id, flags, 0, 0, 0, 0}); }

  // The offset of the name, for compression pointers.
  std::size_t name(const std::string& dotted) {
    const std::size_t at = bytes_.size();
    std::size_t start = 0;
    while (start < dotted.size()) {
      const std::size_t dot = dotted.find('.', start);
      const std::size_t end = dot == std::string::npos ? dotted.size() : dot;
      bytes_.push_back(static_cast<std::uint8_t>(end - start));
      bytes_.insert(bytes_.end(), dotted.begin() + static_cast<std::ptrdiff_t>(start),
                    dotted.begin() + static_cast<std::ptrdiff_t>(end));
      start = end + 1;
    }
    bytes_.push_back(0);
    return at;
  }
  void pointer(std::size_t to) { put16s({static_cast<std::uint16_t>(0xc000 | to)}); }

  void question(const std::string& owner, std::uint16_t type) {
    name(owner);
    put16s({type, 1});
    count(4);
  }
  // A record whose owner was already written (name or pointer) by the caller.
  void record(std::uint16_t type, std::uint32_t ttl, const Bytes& rdata, std::size_t section = 6,
              std::uint16_t rr_class = 1) {
    put16s({type, rr_class, static_cast<std::uint16_t>(ttl >> 16),
            static_cast<std::uint16_t>(ttl & 0xffff), static_cast<std::uint16_t>(rdata.size())});
    bytes_.insert(bytes_.end(), rdata.begin(), rdata.end());
    count(section);
  }
  void address(const std::string& text, std::uint32_t ttl = 300) {
    const IpAddress parsed = ip(text);
    record(parsed.family == IpFamily::kV4 ? 1 : 28, ttl,
           Bytes(parsed.bytes.begin(), parsed.bytes.begin() + static_cast<long>(parsed.size())));
  }
  // The rdata position of the next record, for a pointer into it.
  std::size_t size() const { return bytes_.size(); }
  Bytes& bytes() { return bytes_; }

 private:
  void put16s(std::initializer_list<std::uint16_t> values) {
    for (const std::uint16_t value : values) {
      bytes_.push_back(static_cast<std::uint8_t>(value >> 8));
      bytes_.push_back(static_cast<std::uint8_t>(value & 0xff));
    }
  }
  void count(std::size_t at) {
    put16(bytes_, at, static_cast<std::uint16_t>(get16(bytes_, at) + 1));
  }

  Bytes bytes_;
};

// rebind.wikipedia.org A, answered through target.cdn.test with six private addresses
// and one documentation address. target.cdn.test is spelled out only in the owner of
// the first record, 10.0.0.1, which is removed: every later mention points into it.
// An OPT record (UDP size 1232, DO, a cookie option) ends the message.
Bytes rebindingAnswer() {
  Message m(0x7001, 0x8180);
  m.question("rebind.wikipedia.org", 1);
  const std::size_t target = m.name("target.cdn.test");
  m.address("10.0.0.1");
  for (const char* address :
       {"192.168.1.1", "127.0.0.1", "fe80::1", "fd00::1", "::ffff:10.0.0.1", "203.0.113.5"}) {
    m.pointer(target);
    m.address(address, 60);
  }
  m.pointer(12);  // the question's name
  Bytes rdata = {0xc0, static_cast<std::uint8_t>(target)};
  m.record(5, 300, rdata);
  m.bytes().push_back(0);  // root
  m.record(41, 0x00008000, {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8}, 10, 1232);
  return m.bytes();
}

// --verify-answers: what the resolver did not confirm leaves the message and the
// decision; the rest, and the other sections, stay.
TEST(UnconfirmedAnswerTest, UnconfirmedAddressesAreRemovedFromAnswerAndDecision) {
  const Bytes dns = rebindingAnswer();
  AnswerDecision decision = decideAnswer(dns, labMatcher(), kNow, {});
  ASSERT_EQ(decision.verdict, AnswerVerdict::kAllowed) << decision.error;
  const std::vector<IpAddress> unconfirmed{*IpAddress::parse("203.0.113.5"),
                                           *IpAddress::parse("fe80::1")};
  const auto result = rewriteAnswer(DnsMessage::read(dns), decision, {}, {}, unconfirmed);
  EXPECT_TRUE(result.changed);
  EXPECT_TRUE(result.removed_private.empty());
  EXPECT_EQ(addresses(result.removed), (Strings{"fe80::1", "203.0.113.5"}));  // in record order
  // The rewriter leaves the decision alone: the caller takes out what it removed.
  EXPECT_EQ(decision.addresses.size(), 7u);
  forgetRemoved(decision, result);
  EXPECT_EQ(addresses(decision),
            (Strings{"10.0.0.1", "192.168.1.1", "127.0.0.1", "fd00::1", "::ffff:10.0.0.1"}));
  EXPECT_EQ(addresses(decideAnswer(result.dns, labMatcher(), kNow, {})), addresses(decision));
}

TEST(UnconfirmedAnswerTest, ADeniedAnswerIsNotTouchedByUnconfirmedAddresses) {
  const Bytes dns = rebindingAnswer();
  AnswerDecision decision = decideAnswer(dns, denyEverything(), kNow, {});
  ASSERT_EQ(decision.verdict, AnswerVerdict::kDenied);
  const auto result =
      rewriteAnswer(DnsMessage::read(dns), decision, {}, {}, {*IpAddress::parse("203.0.113.5")});
  EXPECT_FALSE(result.changed);
}

TEST(PrivateAnswerTest, PrivateAddressesAreRemovedFromAnswerAndDecision) {
  const Bytes dns = rebindingAnswer();
  const Rewrite done = rewrite(dns, labMatcher(), {.block_private_answers = true});
  ASSERT_EQ(done.decision.verdict, AnswerVerdict::kAllowed) << done.decision.error;
  ASSERT_EQ(addresses(decideAnswer(dns, labMatcher(), kNow, {})).size(), 7u);

  EXPECT_TRUE(done.result.changed);
  EXPECT_EQ(
      addresses(done.result.removed_private),
      (Strings{"10.0.0.1", "192.168.1.1", "127.0.0.1", "fe80::1", "fd00::1", "::ffff:10.0.0.1"}));
  EXPECT_EQ(addresses(done.decision), (Strings{"203.0.113.5"}));
  EXPECT_EQ(done.decision.addresses[0].ttl_s, 60u);

  const Packet answer = parse(done.result.dns);
  ASSERT_TRUE(answer);
  EXPECT_EQ(ldns_pkt_id(answer.get()), 0x7001);
  EXPECT_TRUE(ldns_pkt_qr(answer.get()));
  EXPECT_TRUE(ldns_pkt_rd(answer.get()));
  EXPECT_TRUE(ldns_pkt_ra(answer.get()));
  EXPECT_EQ(ldns_pkt_get_rcode(answer.get()), LDNS_RCODE_NOERROR);
  EXPECT_EQ(records(ldns_pkt_question(answer.get())), (Strings{"rebind.wikipedia.org. A"}));
  EXPECT_EQ(records(ldns_pkt_answer(answer.get())),
            (Strings{"target.cdn.test. 60 A 203.0.113.5",
                     "rebind.wikipedia.org. 300 CNAME target.cdn.test."}));
  EXPECT_EQ(get16(done.result.dns, 6), 2u);   // ANCOUNT on the wire
  EXPECT_EQ(get16(done.result.dns, 10), 1u);  // ARCOUNT: the OPT record
  EXPECT_TRUE(ldns_pkt_edns(answer.get()));
  EXPECT_EQ(ldns_pkt_edns_udp_size(answer.get()), 1232u);
  EXPECT_TRUE(ldns_pkt_edns_do(answer.get()));
  ASSERT_NE(ldns_pkt_edns_data(answer.get()), nullptr);
  const ldns_rdf* options = ldns_pkt_edns_data(answer.get());
  EXPECT_EQ(Bytes(ldns_rdf_data(options), ldns_rdf_data(options) + ldns_rdf_size(options)),
            (Bytes{0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8}));

  // Read again, the rewritten answer vouches for the public address only.
  const AnswerDecision again = decideAnswer(done.result.dns, labMatcher(), kNow, {});
  EXPECT_EQ(again.verdict, AnswerVerdict::kAllowed);
  EXPECT_EQ(addresses(again), (Strings{"203.0.113.5"}));
}

TEST(PrivateAnswerTest, StaticEntryExemptsTheAddressesItAllows) {
  const std::vector<policy::StaticEntry> statics = {
      {.prefix = *IpPrefix::parse("10.0.0.0/8"), .rule = 7, .ports = {}},
      {.prefix = *IpPrefix::parse("fd00::1/128"), .rule = 8, .ports = {}}};
  const Rewrite done =
      rewrite(rebindingAnswer(), labMatcher(), {.block_private_answers = true}, statics);
  EXPECT_TRUE(done.result.changed);
  // ::ffff:10.0.0.1 reaches 10.0.0.1, which 10.0.0.0/8 allows.
  EXPECT_EQ(addresses(done.result.removed_private),
            (Strings{"192.168.1.1", "127.0.0.1", "fe80::1"}));
  EXPECT_EQ(addresses(done.decision),
            (Strings{"10.0.0.1", "fd00::1", "::ffff:10.0.0.1", "203.0.113.5"}));
  const AnswerDecision again = decideAnswer(done.result.dns, labMatcher(), kNow, {});
  EXPECT_EQ(addresses(again), addresses(done.decision));
}

TEST(PrivateAnswerTest, EveryAddressExemptLeavesTheAnswerByteIdentical) {
  const std::vector<policy::StaticEntry> statics = {
      {.prefix = *IpPrefix::parse("0.0.0.0/0"), .rule = 1, .ports = {}},
      {.prefix = *IpPrefix::parse("::/0"), .rule = 2, .ports = {}}};
  const Bytes dns = rebindingAnswer();
  const Rewrite done = rewrite(dns, labMatcher(), {.block_private_answers = true}, statics);
  EXPECT_FALSE(done.result.changed);
  EXPECT_EQ(done.result.dns, dns);
  EXPECT_TRUE(done.result.removed_private.empty());
  EXPECT_EQ(done.decision.addresses.size(), 7u);
}

TEST(PrivateAnswerTest, CombinesWithMaxTtl) {
  const Rewrite done =
      rewrite(rebindingAnswer(), labMatcher(), {.max_ttl_s = 30, .block_private_answers = true});
  const Packet answer = parse(done.result.dns);
  ASSERT_TRUE(answer);
  EXPECT_EQ(records(ldns_pkt_answer(answer.get())),
            (Strings{"target.cdn.test. 30 A 203.0.113.5",
                     "rebind.wikipedia.org. 30 CNAME target.cdn.test."}));
  EXPECT_TRUE(ldns_pkt_edns_do(answer.get()));  // OPT flags are no TTL
  EXPECT_EQ(addresses(done.decision), (Strings{"203.0.113.5"}));
}

TEST(PrivateAnswerTest, DeniedAnswersAreNotFiltered) {
  const Bytes dns = rebindingAnswer();
  const Rewrite done = rewrite(dns, denyEverything(), {.block_private_answers = true});
  ASSERT_EQ(done.decision.verdict, AnswerVerdict::kDenied);
  EXPECT_FALSE(done.result.changed);
  EXPECT_EQ(done.result.dns, dns);
  EXPECT_TRUE(done.result.removed_private.empty());
}

TEST(PrivateAnswerTest, PublicAnswersAreByteIdentical) {
  for (const std::string& file : kCapturedAnswers) {
    const Rewrite done = rewrite(file, allowEverything(), {.block_private_answers = true});
    EXPECT_FALSE(done.result.changed) << file;
    EXPECT_EQ(done.result.dns, done.original) << file;
    EXPECT_TRUE(done.result.removed_private.empty()) << file;
  }
}

TEST(PrivateAnswerTest, AllAddressesPrivateLeavesAnEmptyAnswer) {
  Message m(0x7002, 0x8180);
  m.question("example.com", 1);
  m.pointer(12);
  m.address("192.168.0.10");
  m.pointer(12);
  m.address("192.168.0.10");  // the same address twice is listed once
  const Rewrite done = rewrite(m.bytes(), labMatcher(), {.block_private_answers = true});
  EXPECT_TRUE(done.result.changed);
  EXPECT_EQ(addresses(done.result.removed_private), (Strings{"192.168.0.10"}));
  EXPECT_TRUE(done.decision.addresses.empty());
  const Packet answer = parse(done.result.dns);
  ASSERT_TRUE(answer);
  EXPECT_EQ(ldns_pkt_get_rcode(answer.get()), LDNS_RCODE_NOERROR);
  EXPECT_EQ(ldns_pkt_ancount(answer.get()), 0u);
  EXPECT_EQ(records(ldns_pkt_question(answer.get())), (Strings{"example.com. A"}));
}

// --- Nothing to do ------------------------------------------------------------------------

TEST(RewriteTest, MalformedAnswersAreNeverRewritten) {
  const RewriteSettings everything{
      .deny_response = DenyResponse::kNxdomain, .max_ttl_s = 1, .block_private_answers = true};
  const Bytes example = readAnswer("example.com-A.bin");
  std::vector<Bytes> messages = {
      readAnswer("crafted-qr0-with-answer.bin"),
      readAnswer("crafted-two-questions.bin"),
      readAnswer("crafted-no-question.bin"),
      readAnswer("crafted-truncated.bin"),
      readAnswer("crafted-compression-self-loop.bin"),
      readAnswer("crafted-compression-loop.bin"),
      {},
      Bytes(example.begin(), example.begin() + 11),
      Bytes(example.begin(), example.begin() + 12),
      Bytes(64, 0xff),
  };
  for (std::size_t length = 0; length < example.size(); ++length) {
    messages.emplace_back(example.begin(), example.begin() + static_cast<long>(length));
  }
  for (const policy::NameMatcher& names : {allowEverything(), denyEverything()}) {
    for (const Bytes& dns : messages) {
      const Rewrite done = rewrite(dns, names, everything);
      ASSERT_EQ(done.decision.verdict, AnswerVerdict::kMalformed) << dns.size();
      EXPECT_FALSE(done.result.changed) << dns.size();
      EXPECT_EQ(done.result.dns, dns) << dns.size();
    }
  }
  // The verdict decides, not the bytes: a readable answer judged malformed stays too.
  for (const char* file : {"example.com-A.bin", "blocked.test-A.bin"}) {
    AnswerDecision malformed;
    const Bytes dns = readAnswer(file);
    const RewrittenAnswer result = rewriteAnswer(DnsMessage::read(dns), malformed, everything, {});
    EXPECT_FALSE(result.changed) << file;
    EXPECT_EQ(result.dns, dns) << file;
  }
}

TEST(RewriteTest, DefaultSettingsChangeNothing) {
  for (const policy::NameMatcher& names : {allowEverything(), denyEverything()}) {
    for (const std::string& file : kCapturedAnswers) {
      const Rewrite done = rewrite(file, names, {});
      EXPECT_FALSE(done.result.changed) << file;
      EXPECT_EQ(done.result.dns, done.original) << file;
      EXPECT_TRUE(done.result.removed_private.empty()) << file;
    }
  }
}

// --- rebuildUdpPacket ---------------------------------------------------------------------

HeldPacket held(const Frame& frame) {
  std::string error;
  auto packet = extractHeldPacket(frame.bytes, frame.l3_offset, frame.l4_offset, error);
  EXPECT_TRUE(packet.has_value()) << error;
  return packet.value_or(HeldPacket{});
}

bool ipv4HeaderVerifies(const Bytes& packet) {
  const std::size_t header_length = static_cast<std::size_t>(packet[0] & 0x0f) * 4;
  return onesComplementSum(
             Bytes(packet.begin(), packet.begin() + static_cast<long>(header_length))) == 0xffff;
}

Bytes payloadOf(const Bytes& packet, std::size_t dns_offset) {
  return Bytes(packet.begin() + static_cast<long>(dns_offset), packet.end());
}

// A shorter, an odd-length, a longer and an empty DNS message.
std::vector<Bytes> newMessages(const Bytes& original) {
  Bytes odd = readAnswer("blocked.test-A.bin");
  odd.push_back(0x5a);
  if (odd.size() % 2 == 0) odd.push_back(0xa5);
  Bytes longer = original;
  longer.insert(longer.end(), 700, 0xee);
  return {readAnswer("example.com-A.bin").size() < original.size()
              ? readAnswer("example.com-A.bin")
              : Bytes(original.begin(), original.begin() + 12),
          odd, longer, Bytes{}};
}

TEST(RebuildUdpPacketTest, Ipv4WithOptions) {
  FrameSpec spec{.source = ip("198.51.100.53"),
                 .client = ip("198.51.100.2"),
                 .dns = readAnswer("httpbin.org-A-edns.bin"),
                 .source_port = 53,
                 .client_port = 40123};
  spec.ipv4_option_words = 2;
  spec.padding = 6;
  const HeldPacket packet = held(buildFrame(spec));
  ASSERT_EQ(packet.udp_offset, 28u);
  for (const Bytes& dns : newMessages(spec.dns)) {
    const Bytes rebuilt = rebuildUdpPacket(packet, dns);
    ASSERT_EQ(rebuilt.size(), 28u + 8 + dns.size());
    EXPECT_EQ(rebuilt[0], 0x47);  // IPv4, IHL 7
    EXPECT_EQ(get16(rebuilt, 2), rebuilt.size());
    EXPECT_TRUE(ipv4HeaderVerifies(rebuilt)) << dns.size();
    // Everything but total length and header checksum is the held header's.
    for (std::size_t i = 0; i < 28; ++i) {
      if (i == 2 || i == 3 || i == 10 || i == 11) continue;
      EXPECT_EQ(rebuilt[i], packet.ip_packet[i]) << "IP header byte " << i;
    }
    EXPECT_EQ(get16(rebuilt, 28), 53u);
    EXPECT_EQ(get16(rebuilt, 30), 40123u);
    EXPECT_EQ(get16(rebuilt, 32), 8u + dns.size());
    EXPECT_TRUE(udpChecksumVerifies(rebuilt, 28)) << dns.size();
    EXPECT_NE(get16(rebuilt, 34), 0u);
    EXPECT_EQ(payloadOf(rebuilt, 36), dns);
  }
}

TEST(RebuildUdpPacketTest, Ipv4WithoutChecksumGetsOne) {
  FrameSpec spec{.source = ip("198.51.100.53"),
                 .client = ip("198.51.100.2"),
                 .dns = readAnswer("example.com-A.bin"),
                 .checksum = ChecksumField::kZero};
  const HeldPacket packet = held(buildFrame(spec));
  const Bytes dns = readAnswer("blocked.test-A.bin");
  const Bytes rebuilt = rebuildUdpPacket(packet, dns);
  EXPECT_NE(get16(rebuilt, 26), 0u);
  EXPECT_TRUE(udpChecksumVerifies(rebuilt, 20));
  EXPECT_TRUE(ipv4HeaderVerifies(rebuilt));
}

TEST(RebuildUdpPacketTest, SameMessageGivesTheSamePacket) {
  FrameSpec spec{.source = ip("198.51.100.53"),
                 .client = ip("198.51.100.2"),
                 .dns = readAnswer("example.com-A.bin")};
  spec.ipv4_option_words = 1;
  const HeldPacket packet = held(buildFrame(spec));
  EXPECT_EQ(rebuildUdpPacket(packet, packet.dns()), packet.ip_packet);
}

// An IPv6 packet with a hop-by-hop options header (8 bytes: next header UDP, PadN)
// between the fixed header and UDP.
Frame ipv6FrameWithExtensionHeader(const Bytes& dns) {
  Frame frame = buildFrame({.source = ip("2001:db8:1::53"),
                            .client = ip("2001:db8:1::2"),
                            .dns = dns,
                            .client_port = 50000});
  const std::size_t fixed = frame.l3_offset;
  frame.bytes[fixed + 6] = 0;  // next header: hop-by-hop options
  put16(frame.bytes, fixed + 4, static_cast<std::uint16_t>(get16(frame.bytes, fixed + 4) + 8));
  const Bytes hop_by_hop = {17, 0, 1, 4, 0, 0, 0, 0};
  frame.bytes.insert(frame.bytes.begin() + static_cast<long>(fixed + 40), hop_by_hop.begin(),
                     hop_by_hop.end());
  frame.l4_offset += 8;
  frame.ip_length += 8;
  return frame;
}

TEST(RebuildUdpPacketTest, Ipv6WithExtensionHeader) {
  const Bytes original = readAnswer("example.com-AAAA.bin");
  const HeldPacket packet = held(ipv6FrameWithExtensionHeader(original));
  ASSERT_EQ(packet.udp_offset, 48u);
  ASSERT_TRUE(udpChecksumVerifies(packet.ip_packet, 48));  // the UDP checksum survived
  for (const Bytes& dns : newMessages(original)) {
    const Bytes rebuilt = rebuildUdpPacket(packet, dns);
    ASSERT_EQ(rebuilt.size(), 48u + 8 + dns.size());
    EXPECT_EQ(get16(rebuilt, 4), rebuilt.size() - 40);  // payload length
    for (std::size_t i = 0; i < 48; ++i) {
      if (i == 4 || i == 5) continue;
      EXPECT_EQ(rebuilt[i], packet.ip_packet[i]) << "IPv6 header byte " << i;
    }
    EXPECT_EQ(get16(rebuilt, 48), 53u);
    EXPECT_EQ(get16(rebuilt, 50), 50000u);
    EXPECT_EQ(get16(rebuilt, 52), 8u + dns.size());
    EXPECT_TRUE(udpChecksumVerifies(rebuilt, 48)) << dns.size();
    EXPECT_EQ(payloadOf(rebuilt, 56), dns);
  }
}

TEST(RebuildUdpPacketTest, Ipv6WithoutExtensionHeaders) {
  const Bytes original = readAnswer("example.com-AAAA.bin");
  const HeldPacket packet = held(buildFrame({.source = ip("2001:db8:1::53"),
                                             .client = ip("2001:db8:1::2"),
                                             .dns = original,
                                             .checksum = ChecksumField::kPartial}));
  for (const Bytes& dns : newMessages(original)) {
    const Bytes rebuilt = rebuildUdpPacket(packet, dns);
    ASSERT_EQ(rebuilt.size(), 48u + dns.size());
    EXPECT_EQ(get16(rebuilt, 4), 8u + dns.size());
    EXPECT_EQ(get16(rebuilt, 44), 8u + dns.size());
    EXPECT_TRUE(udpChecksumVerifies(rebuilt, 40)) << dns.size();
    EXPECT_EQ(payloadOf(rebuilt, 48), dns);
  }
}

TEST(RebuildUdpPacketTest, BytesAfterTheUdpDatagramAreDropped) {
  // A UDP length shorter than the IP payload leaves trailing bytes in the packet.
  Frame frame = buildFrame({.source = ip("198.51.100.53"),
                            .client = ip("198.51.100.2"),
                            .dns = readAnswer("example.com-A.bin"),
                            .checksum = ChecksumField::kZero});
  put16(frame.bytes, frame.l4_offset + 4,
        static_cast<std::uint16_t>(get16(frame.bytes, frame.l4_offset + 4) - 5));
  const HeldPacket packet = held(frame);
  const Bytes dns = readAnswer("blocked.test-A.bin");
  const Bytes rebuilt = rebuildUdpPacket(packet, dns);
  EXPECT_EQ(rebuilt.size(), 28u + dns.size());
  EXPECT_EQ(get16(rebuilt, 2), rebuilt.size());
  EXPECT_TRUE(ipv4HeaderVerifies(rebuilt));
  EXPECT_TRUE(udpChecksumVerifies(rebuilt, 20));
  EXPECT_EQ(payloadOf(rebuilt, 28), dns);
}

TEST(RebuildUdpPacketTest, MessageTooLargeForAnIpPacketIsRefused) {
  const HeldPacket v4 = held(buildFrame({.source = ip("198.51.100.53"),
                                         .client = ip("198.51.100.2"),
                                         .dns = readAnswer("example.com-A.bin")}));
  EXPECT_EQ(rebuildUdpPacket(v4, Bytes(65535 - 28, 0)).size(), 65535u);
  EXPECT_THROW(rebuildUdpPacket(v4, Bytes(65535 - 27, 0)), std::length_error);
}

// The whole path on the frames captured in the lab: a denied github.com answered with
// NXDOMAIN, the packet rebuilt around it.
TEST(RebuildUdpPacketTest, CapturedFramesCarryTheDenyResponse) {
  for (const auto& [file, l4_offset] : {std::pair{"frame-v4-github.com-A.bin", 34u},
                                        std::pair{"frame-v6-github.com-AAAA.bin", 54u}}) {
    const Bytes frame = readAnswer(file);
    std::string error;
    auto packet = extractHeldPacket(frame, 14, l4_offset, error);
    ASSERT_TRUE(packet.has_value()) << error;
    ASSERT_EQ(completeUdpChecksum(*packet), UdpChecksum::kCompleted);
    AnswerDecision decision = decideAnswer(packet->dns(), denyEverything(), kNow, {});
    ASSERT_EQ(decision.verdict, AnswerVerdict::kDenied);
    const RewrittenAnswer answer = rewriteAnswer(DnsMessage::read(packet->dns()), decision,
                                                 {.deny_response = DenyResponse::kNxdomain}, {});
    ASSERT_TRUE(answer.changed);
    const Bytes rebuilt = rebuildUdpPacket(*packet, answer.dns);
    const std::size_t udp = l4_offset - 14;
    EXPECT_EQ(rebuilt.size(), udp + 8 + answer.dns.size()) << file;
    EXPECT_TRUE(udpChecksumVerifies(rebuilt, udp)) << file;
    if (udp == 20) {
      EXPECT_TRUE(ipv4HeaderVerifies(rebuilt));
      EXPECT_EQ(get16(rebuilt, 2), rebuilt.size());
    } else {
      EXPECT_EQ(get16(rebuilt, 4), rebuilt.size() - 40);
    }
    // The datapath would read it back as the same client's answer.
    std::string reread_error;
    const auto reread =
        extractHeldPacket(rebuilt, 0, static_cast<std::uint32_t>(udp), reread_error);
    ASSERT_TRUE(reread.has_value()) << reread_error;
    EXPECT_EQ(reread->client, packet->client);
    EXPECT_EQ(Bytes(reread->dns().begin(), reread->dns().end()), answer.dns);
    const Packet parsed = parse(answer.dns);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(ldns_pkt_get_rcode(parsed.get()), LDNS_RCODE_NXDOMAIN);
    EXPECT_EQ(text(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(parsed.get()), 0))),
              "github.com.");
  }
}

}  // namespace
}  // namespace skouter::resolver
