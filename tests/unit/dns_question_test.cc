// The question of a DNS message in skouter's canonical form: what the datapath kept of
// a query (the bytes after its header) must read as the question the answer repeats,
// and no other.
#include "resolver/dns_question.h"

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "policy/compiled_policy.h"
#include "resolver/answer_handler.h"
#include "tests/unit/answer_test_util.h"

namespace skouter::resolver {

void PrintTo(const DnsQuestion& question, std::ostream* out) {
  *out << "{" << question.name << " type " << question.type << " class " << question.klass << "}";
}

namespace {

using skouter::testing::Bytes;
using skouter::testing::readAnswer;

constexpr std::uint16_t kTypeA = 1;
constexpr std::uint16_t kTypeAaaa = 28;
constexpr std::uint16_t kClassIn = 1;

// A name in wire form from its labels, ended by the root label.
Bytes wire(const std::vector<std::string>& labels) {
  Bytes out;
  for (const std::string& label : labels) {
    out.push_back(static_cast<std::uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
  }
  out.push_back(0);
  return out;
}

Bytes afterHeader(const Bytes& message) { return Bytes(message.begin() + 12, message.end()); }

Bytes withTypeAndClass(Bytes name, std::uint16_t type, std::uint16_t klass) {
  name.insert(name.end(),
              {static_cast<std::uint8_t>(type >> 8), static_cast<std::uint8_t>(type),
               static_cast<std::uint8_t>(klass >> 8), static_cast<std::uint8_t>(klass)});
  return name;
}

TEST(CanonicalNameTest, ReadsLabelsAndReportsTheBytesTaken) {
  const Bytes name = wire({"www", "example", "com"});
  std::size_t consumed = 0;
  EXPECT_EQ(canonicalName(name, &consumed), "www.example.com");
  EXPECT_EQ(consumed, name.size());
}

TEST(CanonicalNameTest, StopsAtTheRootLabelWhateverFollows) {
  Bytes bytes = wire({"example", "com"});
  const std::size_t name_length = bytes.size();
  bytes.insert(bytes.end(), {0x00, 0x01, 0x00, 0x01, 0xc0, 0x0c});
  std::size_t consumed = 0;
  EXPECT_EQ(canonicalName(bytes, &consumed), "example.com");
  EXPECT_EQ(consumed, name_length);
  EXPECT_EQ(canonicalName(bytes), "example.com");  // `consumed` is optional
}

TEST(CanonicalNameTest, TheRootIsTheEmptyName) {
  std::size_t consumed = 0;
  EXPECT_EQ(canonicalName(Bytes{0}, &consumed), "");
  EXPECT_EQ(consumed, 1u);
}

TEST(CanonicalNameTest, LowersAsciiCaseOnly) {
  EXPECT_EQ(canonicalName(wire({"WwW", "ExAmPlE", "COM"})), "www.example.com");
  // Bytes outside ASCII (here UTF-8 for "Ä") keep their case: DNS compares ASCII case
  // insensitively and nothing else. They show escaped (below).
  EXPECT_EQ(canonicalName(wire({"\xc3\x84X", "de"})), "\\195\\132x.de");
  EXPECT_EQ(canonicalName(wire({"a-z_09@[`{"})), "a-z_09@[`{");
}

// A name is bytes; what shows of it is text. A byte that is not printable ASCII is
// written \DDD as dig writes it, so every name is valid UTF-8 wherever it goes (JSON,
// logs, metric labels) and two names never show alike.
TEST(CanonicalNameTest, BytesThatAreNotPrintableAsciiShowAsDecimalEscapes) {
  EXPECT_EQ(canonicalName(wire({"\xff", "x", "test"})), "\\255.x.test");
  EXPECT_EQ(canonicalName(wire({std::string("a\0b", 3), "test"})), "a\\000b.test");
  EXPECT_EQ(canonicalName(wire({"a b\x7f", "test"})), "a\\032b\\127.test");
  // What is escaped stays apart from what is written the same way on purpose.
  EXPECT_NE(canonicalName(wire({"\xff"})), canonicalName(wire({"\\255"})));
  EXPECT_EQ(canonicalName(wire({"\\255"})), "\\\\255");
}

TEST(PrintableNameTest, EscapesOnlyWhatIsNotPrintable) {
  EXPECT_EQ(printableName("www.example.com"), "www.example.com");
  EXPECT_EQ(printableName("\\255.x.test"), "\\255.x.test");  // already shown as text
  EXPECT_EQ(printableName("\xff.x.test"), "\\255.x.test");
  EXPECT_EQ(printableName(std::string("\0", 1)), "\\000");
}

TEST(CanonicalNameTest, ADotInsideALabelIsEscapedSoItNeverPassesForTwoLabels) {
  const auto one_label = canonicalName(wire({"example.com"}));
  EXPECT_EQ(one_label, "example\\.com");
  EXPECT_NE(one_label, canonicalName(wire({"example", "com"})));
  EXPECT_EQ(canonicalName(wire({"a\\b", "example"})), "a\\\\b.example");
  // Escaping makes the form unambiguous: these two differ on the wire and here.
  EXPECT_NE(canonicalName(wire({"a\\", "b"})), canonicalName(wire({"a\\.b"})));
}

TEST(CanonicalNameTest, TakesLabelsUpToSixtyThreeBytes) {
  const std::string longest(63, 'x');
  EXPECT_EQ(canonicalName(wire({longest, "com"})), longest + ".com");

  Bytes too_long = wire({std::string(63, 'x'), "com"});
  too_long[0] = 64;  // a 64-byte label: not a length at all (0x40 is a label type)
  too_long.insert(too_long.begin() + 1, 'x');
  EXPECT_EQ(canonicalName(too_long), std::nullopt);
}

TEST(CanonicalNameTest, RefusesCompressionPointers) {
  // A question is never compressed; a pointer here could not be followed anyway.
  EXPECT_EQ(canonicalName(Bytes{0xc0, 0x0c}), std::nullopt);
  Bytes after_label = {3, 'w', 'w', 'w', 0xc0, 0x0c};
  EXPECT_EQ(canonicalName(after_label), std::nullopt);
}

TEST(CanonicalNameTest, RefusesNamesThatRunPastTheBytes) {
  EXPECT_EQ(canonicalName(Bytes{}), std::nullopt);
  // A label longer than what is left.
  EXPECT_EQ(canonicalName(Bytes{7, 'e', 'x', 'a'}), std::nullopt);
  // Labels but no root label.
  Bytes unterminated = wire({"example", "com"});
  unterminated.pop_back();
  EXPECT_EQ(canonicalName(unterminated), std::nullopt);
  std::size_t consumed = 42;
  EXPECT_EQ(canonicalName(unterminated, &consumed), std::nullopt);
  EXPECT_EQ(consumed, 42u) << "left alone when there is no name";
}

TEST(ParseQuestionSectionTest, ReadsTheQuestionOfACapturedAnswer) {
  EXPECT_EQ(parseQuestionSection(afterHeader(readAnswer("example.com-A.bin"))),
            (DnsQuestion{"example.com", kTypeA, kClassIn}));
  EXPECT_EQ(parseQuestionSection(afterHeader(readAnswer("example.com-AAAA.bin"))),
            (DnsQuestion{"example.com", kTypeAaaa, kClassIn}));
  EXPECT_EQ(parseQuestionSection(afterHeader(readAnswer("multi.wikipedia.org-A.bin"))),
            (DnsQuestion{"multi.wikipedia.org", kTypeA, kClassIn}));
}

TEST(ParseQuestionSectionTest, NameIsInCanonicalForm) {
  EXPECT_EQ(parseQuestionSection(afterHeader(readAnswer("mixed-case-example.com-A.bin"))),
            (DnsQuestion{"example.com", kTypeA, kClassIn}));
  EXPECT_EQ(parseQuestionSection(afterHeader(readAnswer("crafted-dotted-label.bin"))),
            (DnsQuestion{"example\\.com", kTypeA, kClassIn}));
}

TEST(ParseQuestionSectionTest, IgnoresWhatFollowsTheFirstQuestion) {
  // What the datapath keeps of an EDNS query: the question, then the OPT record.
  Bytes kept = withTypeAndClass(wire({"httpbin", "org"}), kTypeA, kClassIn);
  kept.insert(kept.end(), {0, 0x00, 0x29, 0x04, 0xd0, 0, 0, 0, 0, 0, 0});
  EXPECT_EQ(parseQuestionSection(kept), (DnsQuestion{"httpbin.org", kTypeA, kClassIn}));
  // Or a question cut short by the datapath's limit after its type and class.
  kept.resize(kept.size() - 5);
  EXPECT_EQ(parseQuestionSection(kept), (DnsQuestion{"httpbin.org", kTypeA, kClassIn}));
}

TEST(ParseQuestionSectionTest, KeepsTypeAndClassAsSent) {
  EXPECT_EQ(parseQuestionSection(withTypeAndClass(wire({"example", "com"}), 0xff01, 3)),
            (DnsQuestion{"example.com", 0xff01, 3}));
  EXPECT_NE(parseQuestionSection(withTypeAndClass(wire({"example", "com"}), kTypeA, kClassIn)),
            parseQuestionSection(withTypeAndClass(wire({"example", "com"}), kTypeAaaa, kClassIn)));
}

TEST(ParseQuestionSectionTest, RefusesAQuestionWithoutAllOfItsTypeAndClass) {
  const Bytes whole = withTypeAndClass(wire({"example", "com"}), kTypeA, kClassIn);
  for (std::size_t cut = 0; cut < whole.size(); ++cut) {
    EXPECT_EQ(parseQuestionSection(Bytes(whole.begin(), whole.begin() + cut)), std::nullopt)
        << "first " << cut << " of " << whole.size() << " bytes";
  }
  EXPECT_NE(parseQuestionSection(whole), std::nullopt);
}

TEST(ParseQuestionSectionTest, RefusesAnUnreadableName) {
  EXPECT_EQ(parseQuestionSection(Bytes{0xc0, 0x0c, 0, 1, 0, 1}), std::nullopt);
  EXPECT_EQ(parseQuestionSection(Bytes{}), std::nullopt);
}

// The daemon drops an answer whose question differs from its query's, comparing the
// name decideAnswer reads with the name read here: for a genuine answer they agree.
TEST(ParseQuestionSectionTest, AgreesWithTheAnswerHandlerOnEveryCapturedAnswer) {
  policy::NameMatcher nothing_allowed;
  nothing_allowed.compile();
  for (const char* file :
       {"alias.wikipedia.org-A.bin", "alias.wikipedia.org-AAAA.bin", "blocked.test-A.bin",
        "crafted-chain-mixed-case.bin", "crafted-dotted-label.bin", "de.wikipedia.org-A.bin",
        "de.wikipedia.org-AAAA.bin", "example.com-A.bin", "example.com-AAAA.bin",
        "httpbin.org-A-edns.bin", "missing.wikipedia.org-A.bin", "mixed-case-example.com-A.bin",
        "multi.wikipedia.org-A.bin", "short.wikipedia.org-A.bin",
        "wikipedia.org.attacker.test-A.bin"}) {
    const Bytes answer = readAnswer(file);
    const AnswerDecision decision = decideAnswer(answer, nothing_allowed, 0, {});
    ASSERT_NE(decision.verdict, AnswerVerdict::kMalformed) << file << ": " << decision.error;
    const auto question = parseQuestionSection(afterHeader(answer));
    ASSERT_TRUE(question.has_value()) << file;
    EXPECT_EQ(question->name, decision.question) << file;
    EXPECT_EQ(question->type, decision.question_type) << file;
  }
}

// The question as sent, case and class included: what an answer must repeat.
TEST(QuestionBytesTest, TakesTheNameTypeAndClassAsSentAndNothingAfter) {
  Bytes section = wire({"eXaMpLe", "com"});
  section.insert(section.end(), {0, 1, 0, 1, 0, 0, 41});  // A IN, then an OPT record
  const auto question = questionBytes(section);
  ASSERT_TRUE(question.has_value());
  EXPECT_EQ(Bytes(question->begin(), question->end()),
            Bytes(section.begin(), section.begin() + section.size() - 3));
  EXPECT_FALSE(questionBytes(wire({"example", "com"})).has_value()) << "no type and class";
  EXPECT_FALSE(questionBytes(Bytes{0xc0, 0x0c, 0, 1, 0, 1}).has_value()) << "compressed";
}

}  // namespace
}  // namespace skouter::resolver
