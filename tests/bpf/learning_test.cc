// Learning while the daemon is away (bpf/lib/learn.h): an answer that passes because
// the heartbeat is stale has its addresses installed by the program that sees it, when
// the workload's policy allows the name asked by an exact name or a `*.` suffix.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bpf/maps/bpf_address.h"
#include "bpf/maps/learnable_name_table.h"
#include "tests/bpf/datapath_fixture.h"
#include "tests/bpf/packet_builder.h"

namespace skouter::bpftest {
namespace {

constexpr std::uint16_t kHostPort = 40000;
constexpr std::uint16_t kDnsId = 0x1e4a;
constexpr std::uint64_t kSeed = 0x5eed0fca11ab1e5ull;
constexpr std::uint32_t kRuleId = 7;
constexpr std::uint32_t kPortSet = 3;
constexpr std::uint32_t kTtl = 60;
constexpr std::uint32_t kBudget = 1000;
constexpr std::uint32_t kPod = 42;
// Where a message's question name starts: after the 12-byte header.
constexpr std::uint16_t kQuestionName = 12;
// LEARN_MAX_RECORDS: the records of an answer read.
constexpr int kMaxRecords = 16;
// Response, recursion desired and available; with an error, truncated, another opcode.
constexpr std::uint16_t kNoError = 0x8180;
constexpr std::uint16_t kNxDomain = 0x8183;
constexpr std::uint16_t kTruncated = 0x8380;
constexpr std::uint16_t kNotifyOpcode = 0xa180;
constexpr std::uint16_t kTypeCname = 5;

void put16(Bytes& out, std::uint16_t value) {
  out.push_back(static_cast<std::uint8_t>(value >> 8));
  out.push_back(static_cast<std::uint8_t>(value));
}

void put32(Bytes& out, std::uint32_t value) {
  put16(out, static_cast<std::uint16_t>(value >> 16));
  put16(out, static_cast<std::uint16_t>(value));
}

void store16(Bytes& out, std::size_t offset, std::uint16_t value) {
  out.at(offset) = static_cast<std::uint8_t>(value >> 8);
  out.at(offset + 1) = static_cast<std::uint8_t>(value);
}

// `dotted` as labels, ending in the root.
Bytes wireName(const std::string& dotted) {
  Bytes out;
  std::size_t start = 0;
  while (start < dotted.size()) {
    const std::size_t dot = std::min(dotted.find('.', start), dotted.size());
    out.push_back(static_cast<std::uint8_t>(dot - start));
    out.insert(out.end(), dotted.begin() + static_cast<std::ptrdiff_t>(start),
               dotted.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  out.push_back(0);
  return out;
}

Bytes pointerTo(std::uint16_t offset) {
  return {static_cast<std::uint8_t>(0xc0 | offset >> 8), static_cast<std::uint8_t>(offset)};
}

Bytes operator+(Bytes left, const Bytes& right) {
  left.insert(left.end(), right.begin(), right.end());
  return left;
}

std::uint16_t addressType(IpFamily family) { return family == IpFamily::kV4 ? 1 : 28; }

// As the daemon keys learned_names (bpf/maps/allowed_ip_table.cc).
std::uint32_t fnv1a(const std::string& text) {
  std::uint32_t hash = 2166136261u;
  for (const unsigned char c : text) {
    hash ^= c;
    hash *= 16777619u;
  }
  return hash;
}

// A response with one question, its answer records added one by one.
class Response {
 public:
  Response(const std::string& name, std::uint16_t type, std::uint16_t flags = kNoError) {
    put16(bytes_, kDnsId);
    put16(bytes_, flags);
    put16(bytes_, 1);  // question
    put16(bytes_, 0);  // answers, counted as they are added
    put16(bytes_, 0);
    put16(bytes_, 0);
    bytes_ = bytes_ + wireName(name);
    put16(bytes_, type);
    put16(bytes_, 1);  // class IN
  }

  // Returns the offset of the record's data in the message.
  std::uint16_t record(const Bytes& owner, std::uint16_t type, std::uint32_t ttl,
                       const Bytes& data) {
    bytes_ = bytes_ + owner;
    put16(bytes_, type);
    put16(bytes_, 1);  // class IN
    put32(bytes_, ttl);
    put16(bytes_, static_cast<std::uint16_t>(data.size()));
    const auto at = static_cast<std::uint16_t>(bytes_.size());
    bytes_ = bytes_ + data;
    store16(bytes_, 6, ++answers_);
    return at;
  }
  std::uint16_t address(const Bytes& owner, const IpAddress& ip, std::uint32_t ttl = kTtl) {
    return record(owner, addressType(ip.family), ttl,
                  Bytes(ip.bytes.begin(), ip.bytes.begin() + static_cast<long>(ip.size())));
  }
  std::uint16_t cname(const Bytes& owner, const Bytes& target) {
    return record(owner, kTypeCname, kTtl, target);
  }
  // An A or AAAA record of the question's name.
  std::uint16_t answer(const IpAddress& ip, std::uint32_t ttl = kTtl) {
    return address(pointerTo(kQuestionName), ip, ttl);
  }

  std::uint16_t size() const { return static_cast<std::uint16_t>(bytes_.size()); }
  Bytes& bytes() { return bytes_; }
  const Bytes& bytes() const { return bytes_; }

 private:
  Bytes bytes_;
  std::uint16_t answers_ = 0;
};

class LearningTest : public DatapathFixture,
                     public ::testing::WithParamInterface<const TestNetwork*> {
 protected:
  void SetUp() override {
    DatapathFixture::SetUp();
    trustResolver(n().resolver, kDnsPort);
    setLearning(kSeed, kBudget);
    beatStale();
  }

  const TestNetwork& n() const { return *GetParam(); }
  std::uint16_t type() const { return addressType(n().host.family); }
  // Addresses of the family, none of them the network's others.
  IpAddress nth(int i) const {
    IpAddress ip = n().denied;
    ip.bytes[ip.size() - 1] = static_cast<std::uint8_t>(100 + i);
    return ip;
  }
  IpAddress pod() const {
    return *IpAddress::parse(n().host.family == IpFamily::kV4 ? "192.0.2.70" : "2001:db8::70");
  }

  void setLearning(std::uint64_t seed, std::uint32_t budget, std::uint32_t min_ttl_s = 0,
                   std::uint32_t max_ttl_s = 0xffffffff, std::uint32_t grace_s = 0) {
    const skouter_learning_settings settings{.seed = seed,
                                             .min_ttl_s = min_ttl_s,
                                             .max_ttl_s = max_ttl_s,
                                             .grace_s = grace_s,
                                             .budget = budget};
    ASSERT_EQ(datapath().learning().update(0, settings), 0);
  }

  void learnable(const std::string& name, skouter_learnable_kind kind,
                 std::uint32_t rule_id = kRuleId, std::uint32_t port_set = kPortSet,
                 std::uint32_t identity = SKOUTER_HOST_IDENTITY) {
    const skouter_learnable_name_key key{.identity = identity,
                                         .kind = static_cast<std::uint32_t>(kind),
                                         .hash = maps::learnableNameHash(kSeed, name)};
    ASSERT_EQ(datapath().learnableNames().update(
                  key, skouter_learnable_name_value{.rule_id = rule_id, .port_set = port_set}),
              0);
  }

  // The query for `name` as the egress programs record it.
  void recordQuery(const std::string& name, std::uint32_t identity = SKOUTER_HOST_IDENTITY,
                   const IpAddress* client = nullptr, std::uint16_t query_type = 0) {
    Bytes query = dnsQuery(kDnsId, name, n().host.family);
    if (query_type != 0) store16(query, query.size() - 4, query_type);
    putQuery(queryKey(client ? *client : n().host, kHostPort, kDnsId), datapathNowNs(),
             afterDnsHeader(query), identity);
  }

  // The answer `message`, from the resolver to the host's query.
  Verdict answer(const Bytes& message) {
    return runUplinkIngress(
        PacketBuilder(n().resolver, n().host).udp(kDnsPort, kHostPort, message).build());
  }

  // Records the query for `name`, answers it with `response`, and checks that it
  // passed, with `outcome` counted beside the failsafe.
  void answerAway(const std::string& name, const Response& response, const std::string& outcome) {
    recordQuery(name);
    const HookCounters before = counters();
    EXPECT_EQ(answer(response.bytes()), Verdict::kPass);
    EXPECT_EQ(countersMoved(before, counters()),
              (HookCounters{{"uplink_ingress", {{"dns_answer_failsafe", 1}, {outcome, 1}}}}))
        << name;
    EXPECT_EQ(queryDescriptions(), Descriptions{});
    EXPECT_EQ(drainAnswers().size(), 0u);
  }

  std::map<IpAddress, skouter_allowed_ip_value> allowed(
      std::uint32_t identity = SKOUTER_HOST_IDENTITY) {
    std::map<IpAddress, skouter_allowed_ip_value> result;
    datapath().allowedIps().forEach(
        [&](const skouter_allowed_ip_key& key, const skouter_allowed_ip_value& value) {
          if (key.identity == identity) result[maps::fromBpfAddr(key.ip)] = value;
        });
    return result;
  }
  std::vector<IpAddress> allowedAddresses(std::uint32_t identity = SKOUTER_HOST_IDENTITY) {
    std::vector<IpAddress> result;
    for (const auto& [ip, value] : allowed(identity)) result.push_back(ip);
    return result;
  }

  // "address name identity N", sorted; each keyed by the FNV-1a of its name.
  Descriptions learnedNames() {
    Descriptions result;
    datapath().learnedNames().forEach(
        [&](const skouter_learned_name_key& key, const skouter_learned_name_value& value) {
          const std::string name(value.name, strnlen(value.name, sizeof(value.name)));
          EXPECT_EQ(key.name_hash, fnv1a(name)) << name;
          result.push_back(maps::fromBpfAddr(key.ip.ip).toString() + " " + name + " identity " +
                           std::to_string(key.ip.identity));
        });
    std::sort(result.begin(), result.end());
    return result;
  }
  std::string learnedName(const IpAddress& ip, const std::string& name,
                          std::uint32_t identity = SKOUTER_HOST_IDENTITY) {
    return ip.toString() + " " + name + " identity " + std::to_string(identity);
  }

  std::uint32_t budgetUsed(std::uint32_t identity = SKOUTER_HOST_IDENTITY) {
    return datapath().learningBudgetUsed().lookup(identity).value_or(0);
  }

  void expectNothingLearned() {
    EXPECT_EQ(allowed().size(), 0u);
    EXPECT_EQ(learnedNames(), Descriptions{});
    EXPECT_EQ(budgetUsed(), 0u);
  }
};

// The expiry the daemon gives an address learned at a time in [before, after].
void expectExpiry(std::uint64_t expiry_ns, std::uint64_t before, std::uint64_t after,
                  std::uint32_t ttl_s) {
  EXPECT_GE(expiry_ns, before + ttl_s * kNanosPerSecond);
  EXPECT_LE(expiry_ns, after + ttl_s * kNanosPerSecond);
}

TEST_P(LearningTest, AnExactNameLearnsItsAddressesWithItsRuleAndTtl) {
  learnable("api.example.com", SKOUTER_LEARNABLE_EXACT);
  Response response("api.example.com", type());
  response.answer(nth(0));
  response.answer(nth(1), 300);

  const std::uint64_t before = datapathNowNs();
  answerAway("api.example.com", response, "dns_answer_learned");
  const std::uint64_t after = datapathNowNs();

  const auto learned = allowed();
  ASSERT_EQ(allowedAddresses(), (std::vector<IpAddress>{nth(0), nth(1)}));
  for (const auto& [ip, value] : learned) {
    EXPECT_EQ(value.rule_id, kRuleId);
    EXPECT_EQ(value.port_set, kPortSet);
  }
  expectExpiry(learned.at(nth(0)).expiry_ns, before, after, kTtl);
  expectExpiry(learned.at(nth(1)).expiry_ns, before, after, 300);
  EXPECT_EQ(learnedNames(), (Descriptions{learnedName(nth(0), "api.example.com"),
                                          learnedName(nth(1), "api.example.com")}));
  EXPECT_EQ(budgetUsed(), 2u);
}

// Names compare without case (and resolvers may answer in another case than asked);
// the name is learned in lower case, as the daemon keeps names.
TEST_P(LearningTest, ANameIsLearnedInLowerCaseWhateverTheCaseAsked) {
  learnable("api.example.com", SKOUTER_LEARNABLE_EXACT);
  recordQuery("API.Example.com");
  Response response("api.EXAMPLE.com", type());
  response.answer(nth(0));
  EXPECT_EQ(answer(response.bytes()), Verdict::kPass);
  EXPECT_EQ(
      counters(),
      (HookCounters{{"uplink_ingress", {{"dns_answer_failsafe", 1}, {"dns_answer_learned", 1}}}}));
  EXPECT_EQ(learnedNames(), Descriptions{learnedName(nth(0), "api.example.com")});
}

TEST_P(LearningTest, TheTtlIsClampedAndGraceRoundsTheExpiryToSeconds) {
  setLearning(kSeed, kBudget, /*min_ttl_s=*/30, /*max_ttl_s=*/300, /*grace_s=*/5);
  learnable("api.example.com", SKOUTER_LEARNABLE_EXACT);
  Response response("api.example.com", type());
  response.answer(nth(0), 10);          // raised to 30
  response.answer(nth(1), 100000);      // lowered to 300
  response.answer(nth(2), 0x80000005);  // the top bit set: 0, raised to 30

  const std::uint64_t before = datapathNowNs();
  answerAway("api.example.com", response, "dns_answer_learned");
  const std::uint64_t after = datapathNowNs();

  const auto learned = allowed();
  ASSERT_EQ(learned.size(), 3u);
  const auto whole_seconds = [](std::uint64_t ns) {
    return ns / kNanosPerSecond * kNanosPerSecond;
  };
  for (const auto& [ip, ttl_s] :
       std::map<IpAddress, std::uint32_t>{{nth(0), 30 + 5}, {nth(1), 300 + 5}, {nth(2), 30 + 5}}) {
    const std::uint64_t expiry = learned.at(ip).expiry_ns;
    EXPECT_EQ(expiry % kNanosPerSecond, 0u) << ip.toString();
    EXPECT_GE(expiry, whole_seconds(before + ttl_s * kNanosPerSecond)) << ip.toString();
    EXPECT_LE(expiry, whole_seconds(after + ttl_s * kNanosPerSecond)) << ip.toString();
  }
}

TEST_P(LearningTest, ASuffixLearnsTheNamesBelowItButNotItself) {
  learnable("cdn.example.net", SKOUTER_LEARNABLE_BELOW);
  Response edge("edge1.cdn.example.net", type());
  edge.answer(nth(0));
  answerAway("edge1.cdn.example.net", edge, "dns_answer_learned");
  Response deeper("a.b.cdn.example.net", type());
  deeper.answer(nth(1));
  answerAway("a.b.cdn.example.net", deeper, "dns_answer_learned");
  Response itself("cdn.example.net", type());
  itself.answer(nth(2));
  answerAway("cdn.example.net", itself, "dns_answer_not_learned");

  EXPECT_EQ(allowedAddresses(), (std::vector<IpAddress>{nth(0), nth(1)}));
  EXPECT_EQ(learnedNames(), (Descriptions{learnedName(nth(0), "edge1.cdn.example.net"),
                                          learnedName(nth(1), "a.b.cdn.example.net")}));
}

// As the daemon's policy: the exact name first, then the longest suffix.
TEST_P(LearningTest, TheExactNameAndThenTheLongestSuffixGiveTheRule) {
  learnable("example.net", SKOUTER_LEARNABLE_BELOW, 1, 0);
  learnable("cdn.example.net", SKOUTER_LEARNABLE_BELOW, 2, 4);
  learnable("x.cdn.example.net", SKOUTER_LEARNABLE_EXACT, 3, 5);
  const std::map<std::string, std::pair<std::uint32_t, std::uint32_t>> rule_of = {
      {"www.example.net", {1, 0}}, {"y.cdn.example.net", {2, 4}}, {"x.cdn.example.net", {3, 5}}};
  int i = 0;
  std::map<IpAddress, std::pair<std::uint32_t, std::uint32_t>> expected;
  for (const auto& [name, rule] : rule_of) {
    Response response(name, type());
    response.answer(nth(i));
    answerAway(name, response, "dns_answer_learned");
    expected[nth(i++)] = rule;
  }
  const auto learned = allowed();
  ASSERT_EQ(learned.size(), expected.size());
  for (const auto& [ip, rule] : expected) {
    EXPECT_EQ(learned.at(ip).rule_id, rule.first) << ip.toString();
    EXPECT_EQ(learned.at(ip).port_set, rule.second) << ip.toString();
  }
}

// Denied names, names only a regex allows (neither is in learnable_names), and names
// another workload may learn stay closed until the daemon is back.
TEST_P(LearningTest, ANameThePolicyDoesNotListPassesUnlearned) {
  learnable("example.com", SKOUTER_LEARNABLE_EXACT);
  learnable("api.example.com", SKOUTER_LEARNABLE_EXACT, kRuleId, kPortSet, kPod);
  for (const std::string name : {"denied.example.org", "api.example.com"}) {
    Response response(name, type());
    response.answer(nth(0));
    answerAway(name, response, "dns_answer_not_learned");
  }
  expectNothingLearned();
}

TEST_P(LearningTest, ACnameChainInstallsTheAddressesOfItsNames) {
  learnable("www.example.com", SKOUTER_LEARNABLE_EXACT);
  Response response("www.example.com", type());
  // www.example.com -> edge.cdn.example.net -> e1.cdn.example.net (its labels after the
  // first a pointer into the previous target).
  const std::uint16_t edge =
      response.cname(pointerTo(kQuestionName), wireName("edge.cdn.example.net"));
  const std::uint16_t e1 =
      response.cname(pointerTo(edge), Bytes{2, 'e', '1'} + pointerTo(edge + 5));
  response.address(pointerTo(e1), nth(0));
  response.answer(nth(1));  // the question's name is in the chain too
  // cdn.example.net: in the message, not in the chain.
  response.address(pointerTo(edge + 5), nth(2));
  // The question's name written out: not taken (only pointers are compared).
  response.address(wireName("www.example.com"), nth(3));

  answerAway("www.example.com", response, "dns_answer_learned");
  EXPECT_EQ(allowedAddresses(), (std::vector<IpAddress>{nth(0), nth(1)}));
  EXPECT_EQ(learnedNames(), (Descriptions{learnedName(nth(0), "www.example.com"),
                                          learnedName(nth(1), "www.example.com")}));
}

// A CNAME whose data is a pointer alone: the name it points to joins the chain.
TEST_P(LearningTest, ACnameThatIsAPointerChainsTheNameItPointsTo) {
  learnable("alias.example.com", SKOUTER_LEARNABLE_EXACT);
  Response response("alias.example.com", type());
  const std::uint16_t example_com = kQuestionName + 6;  // after the label "alias"
  response.cname(pointerTo(kQuestionName), pointerTo(example_com));
  response.address(pointerTo(example_com), nth(0));
  answerAway("alias.example.com", response, "dns_answer_learned");
  EXPECT_EQ(allowedAddresses(), std::vector<IpAddress>{nth(0)});
}

TEST_P(LearningTest, AnAnswerLearnsFromItsFirstRecordsOnly) {
  learnable("many.example.com", SKOUTER_LEARNABLE_EXACT);
  Response response("many.example.com", type());
  std::vector<IpAddress> first;
  for (int i = 0; i < kMaxRecords + 4; ++i) {
    response.answer(nth(i));
    if (i < kMaxRecords) first.push_back(nth(i));
  }
  answerAway("many.example.com", response, "dns_answer_learned");
  std::sort(first.begin(), first.end());
  EXPECT_EQ(allowedAddresses(), first);
  EXPECT_EQ(budgetUsed(), static_cast<std::uint32_t>(kMaxRecords));
}

// Anything the walk does not expect installs nothing of the answer, not even the
// addresses read before it.
TEST_P(LearningTest, AnIncompleteMalformedOrUnexpectedAnswerInstallsNothing) {
  const std::string name = "api.example.com";
  learnable(name, SKOUTER_LEARNABLE_EXACT);
  learnable("other.example.com", SKOUTER_LEARNABLE_EXACT);
  learnable("bad!label.example.com", SKOUTER_LEARNABLE_EXACT);
  const auto two_answers = [&](std::uint16_t flags = kNoError) {
    Response response(name, type(), flags);
    response.answer(nth(0));
    response.answer(nth(1));
    return response;
  };
  struct Case {
    std::string description;
    std::function<Response()> response;
    std::string asked = "api.example.com";
    std::uint16_t asked_type = 0;  // the family's
  };
  const std::vector<Case> cases = {
      {"cut in the last record's data",
       [&] {
         Response response = two_answers();
         response.bytes().resize(response.size() - 2);
         return response;
       }},
      {"cut in the last record's type and class",
       [&] {
         Response response = two_answers();
         response.bytes().resize(response.size() - nth(1).size() - 10 + 3);
         return response;
       }},
      {"more records counted than there are",
       [&] {
         Response response = two_answers();
         store16(response.bytes(), 6, 3);
         return response;
       }},
      {"truncated (TC)", [&] { return two_answers(kTruncated); }},
      {"NXDOMAIN", [&] { return two_answers(kNxDomain); }},
      {"another opcode", [&] { return two_answers(kNotifyOpcode); }},
      {"a pointer forward",
       [&] {
         Response response = two_answers();
         response.address(pointerTo(response.size() + 4), nth(2));
         return response;
       }},
      {"a pointer to itself",
       [&] {
         Response response = two_answers();
         response.address(pointerTo(response.size()), nth(2));
         return response;
       }},
      {"a label of the reserved kinds",
       [&] {
         Response response = two_answers();
         response.address(Bytes{0x40, kQuestionName}, nth(2));
         return response;
       }},
      {"a CNAME pointing forward",
       [&] {
         Response response(name, type());
         response.cname(pointerTo(kQuestionName), pointerTo(response.size() + 20));
         response.answer(nth(0));
         return response;
       }},
      {"the last record's data past the end",
       [&] {
         Response response = two_answers();
         store16(response.bytes(), response.size() - nth(1).size() - 2, 200);
         return response;
       }},
      {"an owner name past the end",
       [&] {
         Response response = two_answers();
         response.bytes() = response.bytes() + Bytes{5, 'a', 'b'};
         store16(response.bytes(), 6, 3);
         return response;
       }},
      {"a question other than the query's",
       [&] {
         Response response("other.example.com", type());
         response.answer(nth(0));
         return response;
       }},
      {"a type other than the query's",
       [&] {
         Response response(name, type());
         response.answer(nth(0));
         return response;
       },
       name, /*asked_type=*/type() == 1 ? std::uint16_t{28} : std::uint16_t{1}},
      {"two questions",
       [&] {
         Response response = two_answers();
         store16(response.bytes(), 4, 2);
         return response;
       }},
      {"a byte no host name has",
       [&] {
         Response response("bad!label.example.com", type());
         response.answer(nth(0));
         return response;
       },
       "bad!label.example.com"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.description);
    recordQuery(c.asked, SKOUTER_HOST_IDENTITY, nullptr, c.asked_type);
    const HookCounters before = counters();
    EXPECT_EQ(answer(c.response().bytes()), Verdict::kPass);
    EXPECT_EQ(countersMoved(before, counters()),
              (HookCounters{{"uplink_ingress",
                             {{"dns_answer_failsafe", 1}, {"dns_answer_not_learned", 1}}}}));
    expectNothingLearned();
  }
  // Where the cases start from is learned: it is each case's difference that is not.
  answerAway(name, two_answers(), "dns_answer_learned");
  EXPECT_EQ(allowedAddresses(), (std::vector<IpAddress>{nth(0), nth(1)}));
}

// The message ends where the UDP length says, as the client's socket reads it, even
// when the IP datagram carries more.
TEST_P(LearningTest, AnAnswerIsReadNoFurtherThanItsUdpLength) {
  learnable("api.example.com", SKOUTER_LEARNABLE_EXACT);
  recordQuery("api.example.com");
  Response response("api.example.com", type());
  response.answer(nth(0));
  Packet packet =
      PacketBuilder(n().resolver, n().host).udp(kDnsPort, kHostPort, response.bytes()).build();
  const std::size_t udp_length = packet.l4_offset + 4;
  store16(packet.frame, udp_length,
          static_cast<std::uint16_t>(8 + response.size() - 1));  // the address's last byte out
  EXPECT_EQ(runUplinkIngress(packet), Verdict::kPass);
  EXPECT_EQ(counters(),
            (HookCounters{
                {"uplink_ingress", {{"dns_answer_failsafe", 1}, {"dns_answer_not_learned", 1}}}}));
  expectNothingLearned();
}

TEST_P(LearningTest, AnIdentityLearnsNoMoreThanItsBudget) {
  setLearning(kSeed, /*budget=*/2);
  learnable("api.example.com", SKOUTER_LEARNABLE_EXACT);
  learnable("next.example.com", SKOUTER_LEARNABLE_EXACT);
  Response three("api.example.com", type());
  for (int i = 0; i < 3; ++i) three.answer(nth(i));
  answerAway("api.example.com", three, "learning_budget_exhausted");
  EXPECT_EQ(allowedAddresses(), (std::vector<IpAddress>{nth(0), nth(1)}));
  EXPECT_EQ(budgetUsed(), 2u);

  Response next("next.example.com", type());
  next.answer(nth(5));
  answerAway("next.example.com", next, "learning_budget_exhausted");
  EXPECT_EQ(allowedAddresses(), (std::vector<IpAddress>{nth(0), nth(1)}));

  // What it learned already only gets the later expiry: that costs nothing.
  Response again("api.example.com", type());
  again.answer(nth(0), 3600);
  const std::uint64_t before = datapathNowNs();
  answerAway("api.example.com", again, "dns_answer_learned");
  expectExpiry(allowed().at(nth(0)).expiry_ns, before, datapathNowNs(), 3600);
  EXPECT_EQ(budgetUsed(), 2u);
}

TEST_P(LearningTest, AnAnswerIsStillHeldForTheDaemonWhenItIsAlive) {
  beatNow();
  learnable("api.example.com", SKOUTER_LEARNABLE_EXACT);
  recordQuery("api.example.com");
  Response response("api.example.com", type());
  response.answer(nth(0));
  EXPECT_EQ(answer(response.bytes()), Verdict::kDrop);
  EXPECT_EQ(counters(), (HookCounters{{"uplink_ingress", {{"dns_answer_punted", 1}}}}));
  EXPECT_EQ(drainAnswers().size(), 1u);
  expectNothingLearned();
}

TEST_P(LearningTest, NothingIsLearnedWithoutASeedOrABudget) {
  learnable("api.example.com", SKOUTER_LEARNABLE_EXACT);
  Response response("api.example.com", type());
  response.answer(nth(0));
  setLearning(0, kBudget);
  answerAway("api.example.com", response, "dns_answer_not_learned");
  setLearning(kSeed, 0);
  answerAway("api.example.com", response, "dns_answer_not_learned");
  expectNothingLearned();
}

// The daemon's entries keep their rule and ports, and are never shortened.
TEST_P(LearningTest, AnAllowedAddressKeepsItsRuleAndItsLaterExpiry) {
  const std::uint64_t now = datapathNowNs();
  allowIp(nth(0), now + 3600 * kNanosPerSecond, 9);
  allowIp(nth(1), now + kNanosPerSecond, 9);
  allowIp(nth(2), 0, 9);  // never expires
  learnable("api.example.com", SKOUTER_LEARNABLE_EXACT);
  Response response("api.example.com", type());
  for (int i = 0; i < 3; ++i) response.answer(nth(i));

  const std::uint64_t before = datapathNowNs();
  answerAway("api.example.com", response, "dns_answer_learned");
  const std::uint64_t after = datapathNowNs();

  const auto learned = allowed();
  ASSERT_EQ(learned.size(), 3u);
  for (const auto& [ip, value] : learned) {
    EXPECT_EQ(value.rule_id, 0u) << ip.toString();
    EXPECT_EQ(value.port_set, 9u) << ip.toString();
  }
  EXPECT_EQ(learned.at(nth(0)).expiry_ns, now + 3600 * kNanosPerSecond);
  expectExpiry(learned.at(nth(1)).expiry_ns, before, after, kTtl);
  EXPECT_EQ(learned.at(nth(2)).expiry_ns, 0u);
  // The name is new to each: it is learned, and costs the budget.
  EXPECT_EQ(learnedNames().size(), 3u);
  EXPECT_EQ(budgetUsed(), 3u);
}

TEST_P(LearningTest, APodLearnsUnderItsOwnIdentity) {
  addIdentity(pod(), kPod);
  learnable("api.example.com", SKOUTER_LEARNABLE_EXACT, kRuleId, kPortSet, kPod);
  const IpAddress client = pod();
  recordQuery("api.example.com", kPod, &client);
  Response response("api.example.com", type());
  response.answer(nth(0));
  EXPECT_EQ(
      runPodEgress(
          PacketBuilder(n().resolver, pod()).udp(kDnsPort, kHostPort, response.bytes()).build()),
      Verdict::kPass);
  EXPECT_EQ(
      counters(),
      (HookCounters{{"pod_egress", {{"dns_answer_failsafe", 1}, {"dns_answer_learned", 1}}}}));
  EXPECT_EQ(allowedAddresses(kPod), std::vector<IpAddress>{nth(0)});
  EXPECT_EQ(allowedAddresses(), std::vector<IpAddress>{});
  EXPECT_EQ(learnedNames(), Descriptions{learnedName(nth(0), "api.example.com", kPod)});
  EXPECT_EQ(budgetUsed(kPod), 1u);
}

INSTANTIATE_TEST_SUITE_P(Families, LearningTest, ::testing::Values(&ipv4Network(), &ipv6Network()),
                         [](const auto& info) { return info.param->name; });

}  // namespace
}  // namespace skouter::bpftest
