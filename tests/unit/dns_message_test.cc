// Tests of resolver/dns_message.h: the one walk over a DNS message, checked against
// ldns on captured answers, and the malformed messages it must refuse.
#include "resolver/dns_message.h"

#include <gtest/gtest.h>
#include <ldns/ldns.h>

#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "tests/unit/answer_test_util.h"

namespace skouter::resolver {

inline void PrintTo(DnsMessageFault fault, std::ostream* out) {
  *out << "DnsMessageFault(" << static_cast<int>(fault) << ")";
}

namespace {

using testing::Bytes;
using testing::readAnswer;

struct PacketDeleter {
  void operator()(ldns_pkt* packet) const { ldns_pkt_free(packet); }
};
using Packet = std::unique_ptr<ldns_pkt, PacketDeleter>;

Packet ldnsParse(const Bytes& dns) {
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, dns.data(), dns.size()) != LDNS_STATUS_OK) return nullptr;
  return Packet(raw);
}

// A message written byte by byte: header, then whatever the test appends.
class Wire {
 public:
  Wire(std::uint16_t qd, std::uint16_t an, std::uint16_t ns = 0, std::uint16_t ar = 0) {
    put({0x12, 0x34, 0x81, 0x80});
    put16(qd);
    put16(an);
    put16(ns);
    put16(ar);
  }
  // Labels of `dotted`, then the root; returns where the name starts.
  std::size_t name(const std::string& dotted) {
    const std::size_t at = bytes.size();
    std::size_t start = 0;
    while (start < dotted.size()) {
      const std::size_t dot = std::min(dotted.find('.', start), dotted.size());
      bytes.push_back(static_cast<std::uint8_t>(dot - start));
      bytes.insert(bytes.end(), dotted.begin() + static_cast<std::ptrdiff_t>(start),
                   dotted.begin() + static_cast<std::ptrdiff_t>(dot));
      start = dot + 1;
    }
    bytes.push_back(0);
    return at;
  }
  void pointer(std::size_t to) { put16(static_cast<std::uint16_t>(0xc000 | to)); }
  void question(std::uint16_t type = 1) { put16s({type, 1}); }
  // Type, class IN, TTL 300, then RDATA.
  void record(std::uint16_t type, const Bytes& rdata) {
    put16s({type, 1, 0, 300, static_cast<std::uint16_t>(rdata.size())});
    bytes.insert(bytes.end(), rdata.begin(), rdata.end());
  }
  void put(std::initializer_list<std::uint8_t> values) { bytes.insert(bytes.end(), values); }
  void put16(std::uint16_t value) {
    bytes.push_back(static_cast<std::uint8_t>(value >> 8));
    bytes.push_back(static_cast<std::uint8_t>(value & 0xff));
  }
  void put16s(std::initializer_list<std::uint16_t> values) {
    for (const auto value : values) put16(value);
  }
  Bytes bytes;
};

const Bytes kAddress = {192, 0, 2, 1};

// example.com A, one A record whose owner points at the question.
Wire exampleAnswer() {
  Wire wire(1, 1);
  wire.name("example.com");
  wire.question();
  wire.pointer(12);
  wire.record(1, kAddress);
  return wire;
}

TEST(DnsMessageTest, AgreesWithLdnsOnEveryCapturedAnswer) {
  for (const char* file :
       {"alias.wikipedia.org-A.bin", "alias.wikipedia.org-AAAA.bin", "blocked.test-A.bin",
        "de.wikipedia.org-A.bin", "example.com-AAAA.bin", "httpbin.org-A-edns.bin",
        "missing.wikipedia.org-A.bin", "multi.wikipedia.org-A.bin"}) {
    const Bytes dns = readAnswer(file);
    const auto message = DnsMessage::read(dns);
    ASSERT_TRUE(message.valid()) << file;
    const Packet packet = ldnsParse(dns);
    ASSERT_TRUE(packet) << file;
    EXPECT_EQ(message.id(), ldns_pkt_id(packet.get()));
    ASSERT_TRUE(message.question().has_value());
    const ldns_rr* question = ldns_rr_list_rr(ldns_pkt_question(packet.get()), 0);
    const auto name = message.name(message.question()->name);
    const ldns_rdf* owner = ldns_rr_owner(question);
    EXPECT_EQ(Bytes(name.wire().begin(), name.wire().end()),
              Bytes(ldns_rdf_data(owner), ldns_rdf_data(owner) + ldns_rdf_size(owner)));
    EXPECT_EQ(message.question()->type, ldns_rr_get_type(question));

    // ldns lifts the OPT record out of the additional section.
    std::vector<const ldns_rr*> expected;
    for (const ldns_rr_list* section :
         {ldns_pkt_answer(packet.get()), ldns_pkt_authority(packet.get()),
          ldns_pkt_additional(packet.get())}) {
      for (std::size_t i = 0; i < ldns_rr_list_rr_count(section); ++i) {
        expected.push_back(ldns_rr_list_rr(section, i));
      }
    }
    std::vector<DnsRecord> records;
    for (const auto& record : message.records()) {
      if (record.type != kDnsTypeOpt) records.push_back(record);
    }
    ASSERT_EQ(records.size(), expected.size()) << file;
    for (std::size_t i = 0; i < records.size(); ++i) {
      EXPECT_EQ(records[i].type, ldns_rr_get_type(expected[i])) << file << " #" << i;
      EXPECT_EQ(records[i].klass, ldns_rr_get_class(expected[i])) << file << " #" << i;
      EXPECT_EQ(read32(dns, records[i].ttl_offset), ldns_rr_ttl(expected[i])) << file << " #" << i;
      const auto owner_name = message.name(records[i].owner);
      const ldns_rdf* ldns_owner = ldns_rr_owner(expected[i]);
      EXPECT_EQ(
          Bytes(owner_name.wire().begin(), owner_name.wire().end()),
          Bytes(ldns_rdf_data(ldns_owner), ldns_rdf_data(ldns_owner) + ldns_rdf_size(ldns_owner)));
    }
  }
}

TEST(DnsMessageTest, ReadsSectionsAndOffsets) {
  Wire wire(1, 1, 0, 1);
  wire.name("example.com");
  wire.question(28);
  wire.pointer(12);
  wire.record(1, kAddress);
  wire.bytes.push_back(0);
  wire.record(41, {});
  const auto message = DnsMessage::read(wire.bytes);
  ASSERT_TRUE(message.valid());
  EXPECT_EQ(message.question()->type, 28);
  EXPECT_FALSE(message.question()->compressed);
  EXPECT_EQ(message.question()->wire.size(), 13u + 4u);
  ASSERT_EQ(message.records().size(), 2u);
  const DnsRecord& a = message.records()[0];
  EXPECT_EQ(a.section, DnsSection::kAnswer);
  EXPECT_EQ(a.owner, 29u);
  EXPECT_EQ(a.ttl_offset, 35u);
  EXPECT_EQ(a.rdata_offset, 41u);
  EXPECT_EQ(a.rdata_length, 4u);
  EXPECT_EQ(message.records()[1].section, DnsSection::kAdditional);
  EXPECT_EQ(message.records()[1].type, kDnsTypeOpt);
}

TEST(DnsMessageTest, FindsTheNamesInsideRdata) {
  Wire wire(1, 2);
  wire.name("www.example.com");
  wire.question();
  wire.pointer(12);
  wire.record(5, {0xc0, 16});  // CNAME example.com, pointing into the question
  wire.pointer(16);
  wire.record(15, {0, 10, 0xc0, 12});  // MX 10 www.example.com
  const auto message = DnsMessage::read(wire.bytes);
  ASSERT_TRUE(message.valid());
  ASSERT_EQ(message.rdataNamesOf(message.records()[0]).size(), 1u);
  EXPECT_EQ(message.rdataNamesOf(message.records()[0])[0], message.records()[0].rdata_offset);
  ASSERT_EQ(message.rdataNamesOf(message.records()[1]).size(), 1u);
  EXPECT_EQ(message.rdataNamesOf(message.records()[1])[0], message.records()[1].rdata_offset + 2);
  EXPECT_TRUE(
      message.sameName(message.records()[1].owner, message.rdataNamesOf(message.records()[0])[0]));
}

TEST(DnsMessageTest, SameNameIgnoresAsciiCaseOnly) {
  Wire wire(2, 0);
  wire.name("Example.COM");
  wire.question();
  const std::size_t lower = wire.name("example.com");
  wire.question();
  const auto message = DnsMessage::read(wire.bytes);
  ASSERT_TRUE(message.valid());
  EXPECT_TRUE(message.sameName(12, lower));
  EXPECT_FALSE(message.sameName(12, 13));  // "Example" is not "com"
}

// --- What is refused ------------------------------------------------------------------

DnsMessageFault faultOf(const Bytes& dns) { return DnsMessage::read(dns).fault(); }

TEST(DnsMessageTest, RefusesATruncatedHeader) {
  const Bytes dns = exampleAnswer().bytes;
  for (std::size_t length = 0; length < kDnsHeaderSize; ++length) {
    const auto message = DnsMessage::read(std::span(dns).first(length));
    EXPECT_FALSE(message.hasHeader());
    EXPECT_EQ(message.fault(), DnsMessageFault::kUnreadable) << length;
  }
}

TEST(DnsMessageTest, RefusesEveryCutOfAnAnswer) {
  const Bytes dns = exampleAnswer().bytes;
  for (std::size_t length = 0; length < dns.size(); ++length) {
    EXPECT_EQ(faultOf(Bytes(dns.begin(), dns.begin() + static_cast<long>(length))),
              DnsMessageFault::kUnreadable)
        << length;
  }
  EXPECT_EQ(faultOf(dns), DnsMessageFault::kNone);
}

TEST(DnsMessageTest, RefusesCountsHigherThanTheRecords) {
  for (const std::size_t count_at : {4, 6, 8, 10}) {
    Bytes dns = exampleAnswer().bytes;
    testing::put16(dns, count_at, static_cast<std::uint16_t>(testing::get16(dns, count_at) + 1));
    EXPECT_EQ(faultOf(dns), DnsMessageFault::kUnreadable) << count_at;
  }
}

TEST(DnsMessageTest, RefusesAPointerLoop) {
  Wire wire(1, 1);
  wire.name("example.com");
  wire.question();
  const std::size_t at = wire.bytes.size();
  wire.pointer(at);  // an owner name pointing at itself
  wire.record(1, kAddress);
  EXPECT_EQ(faultOf(wire.bytes), DnsMessageFault::kUnreadable);
}

TEST(DnsMessageTest, RefusesAForwardPointer) {
  Wire wire(1, 1);
  wire.name("example.com");
  wire.question();
  wire.pointer(wire.bytes.size() + 2);  // at the record's type field, ahead of it
  wire.record(1, kAddress);
  EXPECT_EQ(faultOf(wire.bytes), DnsMessageFault::kUnreadable);
}

TEST(DnsMessageTest, RefusesAForwardPointerInsideRdata) {
  Wire wire(1, 2);
  wire.name("example.com");
  wire.question();
  wire.pointer(12);
  const std::size_t second_owner = wire.bytes.size() + 10 + 2;
  wire.record(5, {0xc0, static_cast<std::uint8_t>(second_owner)});
  wire.name("cdn.test");
  wire.record(1, kAddress);
  EXPECT_EQ(faultOf(wire.bytes), DnsMessageFault::kUnreadable);
}

TEST(DnsMessageTest, RefusesAPointerToTheStart) {
  Wire wire = exampleAnswer();
  wire.bytes[wire.bytes.size() - 15] = 0;  // the owner's pointer now leads to offset 0
  EXPECT_EQ(faultOf(wire.bytes), DnsMessageFault::kUnreadable);
}

TEST(DnsMessageTest, RefusesLabelTypesOtherThanLengthAndPointer) {
  for (const std::uint8_t label : {0x40, 0x80}) {
    Wire wire(1, 0);
    wire.put({label, 'a', 0});
    wire.question();
    EXPECT_EQ(faultOf(wire.bytes), DnsMessageFault::kUnreadable) << int{label};
  }
}

TEST(DnsMessageTest, RefusesANameLongerThan255Bytes) {
  std::string name;
  for (int i = 0; i < 4; ++i) name += std::string(62, 'a') + ".";
  name += "b";  // 4 * 63 + 2 + the root: 255 bytes
  Wire fits(1, 0);
  fits.name(name);
  fits.question();
  EXPECT_EQ(faultOf(fits.bytes), DnsMessageFault::kNone);
  Wire over(1, 0);
  over.name(name + "c");
  over.question();
  EXPECT_EQ(faultOf(over.bytes), DnsMessageFault::kUnreadable);
}

TEST(DnsMessageTest, RefusesRdataShorterThanItsFields) {
  Wire wire(1, 1);
  wire.name("example.com");
  wire.question();
  wire.pointer(12);
  wire.record(1, {192, 0, 2});  // an A record of three bytes
  EXPECT_EQ(faultOf(wire.bytes), DnsMessageFault::kUnreadable);
}

TEST(DnsMessageTest, RefusesARecordThatOverrunsItsRdlength) {
  Wire wire(1, 1);
  wire.name("example.com");
  wire.question();
  wire.pointer(12);
  wire.record(1, {192, 0, 2, 1, 7});  // five bytes: the address and one more
  EXPECT_EQ(faultOf(wire.bytes), DnsMessageFault::kRdataNotAtRdlength);

  // A CNAME whose two-byte target sits in nine bytes of RDATA.
  Wire cname(1, 1);
  cname.name("example.com");
  cname.question();
  cname.pointer(12);
  cname.record(5, {0xc0, 12, 1, 2, 3, 4, 5, 6, 7});
  EXPECT_EQ(faultOf(cname.bytes), DnsMessageFault::kRdataNotAtRdlength);
}

TEST(DnsMessageTest, RefusesANameThatRunsPastItsRdlength) {
  Wire wire(1, 1);
  wire.name("example.com");
  wire.question();
  wire.pointer(12);
  wire.record(5, {3, 'c', 'd', 'n'});  // the root label is outside the RDATA
  wire.bytes.push_back(0);
  EXPECT_EQ(faultOf(wire.bytes), DnsMessageFault::kUnreadable);
}

TEST(DnsMessageTest, RefusesNameTypesWithoutTheirNames) {
  for (const std::uint16_t type : {2, 5, 12, 39, 15, 33, 6}) {
    Wire wire(1, 1);
    wire.name("example.com");
    wire.question();
    wire.pointer(12);
    wire.record(type, {});
    EXPECT_EQ(faultOf(wire.bytes), DnsMessageFault::kUnreadable) << type;
  }
}

TEST(DnsMessageTest, RefusesATsigRecordBeforeTheLast) {
  Wire wire(1, 1, 0, 1);
  wire.name("example.com");
  wire.question();
  wire.pointer(12);
  wire.record(kDnsTypeTsig, {});
  wire.pointer(12);
  wire.record(1, kAddress);
  EXPECT_EQ(faultOf(wire.bytes), DnsMessageFault::kTsigNotLast);
}

TEST(DnsMessageTest, KeepsTheQuestionOfAMessageWithAFaultyRecord) {
  Wire wire(1, 1);
  wire.name("example.com");
  wire.question();
  wire.pointer(12);
  wire.record(1, {192, 0, 2, 1, 7});
  const auto message = DnsMessage::read(wire.bytes);
  EXPECT_FALSE(message.valid());
  ASSERT_TRUE(message.question().has_value());
  EXPECT_EQ(message.question()->wire.size(), 17u);
  EXPECT_TRUE(message.records().empty());
}

TEST(DnsMessageTest, IgnoresBytesAfterTheLastRecord) {
  Bytes dns = exampleAnswer().bytes;
  dns.insert(dns.end(), {1, 2, 3});
  EXPECT_EQ(faultOf(dns), DnsMessageFault::kNone);
}

// --- Editing ------------------------------------------------------------------------

TEST(DnsMessageTest, WithoutNothingIsTheSameMessage) {
  const Bytes dns = readAnswer("alias.wikipedia.org-A.bin");
  const auto message = DnsMessage::read(dns);
  ASSERT_TRUE(message.valid());
  EXPECT_EQ(message.without({}).bytes, dns);
}

TEST(DnsMessageTest, WithoutARecordOthersPointIntoKeepsTheirNames) {
  Wire wire(1, 3);
  wire.name("www.example.com");
  wire.question();
  const std::size_t target = wire.name("target.cdn.test");  // the first record's owner
  wire.record(1, kAddress);
  wire.pointer(target);
  wire.record(1, {198, 51, 100, 1});
  wire.pointer(target + 7);  // cdn.test
  wire.record(5, {0xc0, static_cast<std::uint8_t>(target)});
  const auto message = DnsMessage::read(wire.bytes);
  ASSERT_TRUE(message.valid());
  const std::size_t dropped[] = {0};
  const auto edited = message.without(dropped);
  const Packet packet = ldnsParse(edited.bytes);
  ASSERT_TRUE(packet);
  ASSERT_EQ(ldns_pkt_ancount(packet.get()), 2u);
  char* text = ldns_rr_list2str(ldns_pkt_answer(packet.get()));
  EXPECT_EQ(std::string(text),
            "target.cdn.test.\t300\tIN\tA\t198.51.100.1\n"
            "cdn.test.\t300\tIN\tCNAME\ttarget.cdn.test.\n");
  std::free(text);
  const auto reread = DnsMessage::read(edited.bytes);
  ASSERT_TRUE(reread.valid());
  ASSERT_EQ(edited.ttls.size(), 2u);
  EXPECT_EQ(edited.ttls[0].offset, reread.records()[0].ttl_offset);
  EXPECT_EQ(edited.ttls[1].offset, reread.records()[1].ttl_offset);
  EXPECT_EQ(edited.ttls[1].type, 5);
}

}  // namespace
}  // namespace skouter::resolver
