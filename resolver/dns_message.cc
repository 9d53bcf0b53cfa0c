#include "resolver/dns_message.h"

#include <ldns/ldns.h>

#include <algorithm>
#include <stdexcept>

namespace skouter::resolver {
namespace {

// Labels and pointers one name may take: a name of one-letter labels reaches 255
// bytes at 127 of them, so a longer walk is a name no server writes.
constexpr int kMaxNameSteps = 128;
constexpr std::size_t kMaxNameLength = 255;  // uncompressed, root label included
constexpr std::size_t kMaxMessage = 0xffff;
constexpr std::size_t kRecordFixedFields = 10;  // type, class, TTL, RDLENGTH

struct NameRead {
  std::size_t end = 0;     // past the name in place
  std::size_t length = 0;  // uncompressed, root label included
  bool compressed = false;
};

// The name at `at`, its bytes in place before `end`: the one name reader of the
// resolver. Pointers must lead strictly backwards (so every walk ends) and not to
// offset 0, which ldns refuses; label types other than a length or a pointer are
// refused, and so are names over 255 bytes uncompressed.
std::optional<NameRead> readName(std::span<const std::uint8_t> dns, std::size_t at,
                                 std::size_t end) {
  NameRead read;
  std::size_t position = at;
  for (int steps = 0; steps < kMaxNameSteps; ++steps) {
    if (position >= end) return std::nullopt;
    const std::uint8_t length = dns[position];
    if (isCompressionPointer(length)) {
      if (position + 1 >= end) return std::nullopt;
      const std::size_t target = pointerTarget(dns, position);
      if (target >= position || target == 0) return std::nullopt;
      if (!read.compressed) read.end = position + 2;
      read.compressed = true;
      position = target;
      continue;
    }
    if ((length & 0xc0) != 0) return std::nullopt;
    read.length += 1 + length;
    position += 1 + length;
    if (length == 0) {
      if (!read.compressed) read.end = position;
      if (position > end || read.length > kMaxNameLength) return std::nullopt;
      return read;
    }
  }
  return std::nullopt;
}

// The record types whose data must hold their names (NS, CNAME, PTR, DNAME, MX, SRV:
// one; SOA: two). Every real server writes them; data that stops before them is no
// answer (RFC 3597 section 4 lists these as the types whose names may be compressed).
std::size_t requiredNames(std::uint16_t type) {
  switch (type) {
    case 2:
    case 5:
    case 12:
    case 39:
    case 15:
    case 33:
      return 1;
    case 6:
      return 2;
    default:
      return 0;
  }
}

enum class RdataRead { kExact, kShort, kUnreadable };

// Reads the RDATA at [at, end) field by field as ldns's descriptor of `type` lays it
// out (the fields ldns_wire2rdf reads, and how long each is), so the data ends where
// ldns would and names inside it are found wherever the type holds them. kShort: the
// fields end before RDLENGTH does.
RdataRead readRdata(std::span<const std::uint8_t> dns, std::uint16_t type, std::size_t at,
                    std::size_t end, std::vector<std::size_t>& names) {
  const ldns_rr_descriptor* descriptor = ldns_rr_descript(type);
  const std::size_t fields = ldns_rr_descriptor_maximum(descriptor);
  const std::size_t names_before = names.size();
  // ldns counts fields in a byte: past 255 of them it starts over from the first.
  for (std::uint8_t field = 0; at < end && field < fields; ++field) {
    std::size_t length = 0;
    switch (ldns_rr_descriptor_field_type(descriptor, field)) {
      case LDNS_RDF_TYPE_DNAME: {
        const auto name = readName(dns, at, end);
        if (!name) return RdataRead::kUnreadable;
        names.push_back(at);
        at = name->end;
        continue;
      }
      case LDNS_RDF_TYPE_CLASS:
      case LDNS_RDF_TYPE_ALG:
      case LDNS_RDF_TYPE_CERTIFICATE_USAGE:
      case LDNS_RDF_TYPE_SELECTOR:
      case LDNS_RDF_TYPE_MATCHING_TYPE:
      case LDNS_RDF_TYPE_INT8:
        length = 1;
        break;
      case LDNS_RDF_TYPE_TYPE:
      case LDNS_RDF_TYPE_INT16:
      case LDNS_RDF_TYPE_CERT_ALG:
        length = 2;
        break;
      case LDNS_RDF_TYPE_TIME:
      case LDNS_RDF_TYPE_INT32:
      case LDNS_RDF_TYPE_A:
      case LDNS_RDF_TYPE_PERIOD:
        length = 4;
        break;
      case LDNS_RDF_TYPE_TSIGTIME:
      case LDNS_RDF_TYPE_EUI48:
        length = 6;
        break;
      case LDNS_RDF_TYPE_ILNP64:
      case LDNS_RDF_TYPE_EUI64:
        length = 8;
        break;
      case LDNS_RDF_TYPE_AAAA:
        length = 16;
        break;
      case LDNS_RDF_TYPE_STR:
      case LDNS_RDF_TYPE_NSEC3_SALT:
      case LDNS_RDF_TYPE_TAG:
      case LDNS_RDF_TYPE_B32_EXT:
      case LDNS_RDF_TYPE_NSEC3_NEXT_OWNER:
        length = std::size_t{dns[at]} + 1;  // a length byte, then as many bytes
        break;
      case LDNS_RDF_TYPE_INT16_DATA:
        if (at + 2 > end) return RdataRead::kUnreadable;
        length = std::size_t{read16(dns, at)} + 2;
        break;
      case LDNS_RDF_TYPE_HIP:
        // HIT length, algorithm, public key length, HIT, public key (RFC 8005).
        if (at + 4 > end) return RdataRead::kUnreadable;
        length = std::size_t{dns[at]} + read16(dns, at + 2) + 4;
        break;
      case LDNS_RDF_TYPE_APL:
      case LDNS_RDF_TYPE_B64:
      case LDNS_RDF_TYPE_HEX:
      case LDNS_RDF_TYPE_NSEC:
      case LDNS_RDF_TYPE_UNKNOWN:
      case LDNS_RDF_TYPE_SERVICE:
      case LDNS_RDF_TYPE_LOC:
      case LDNS_RDF_TYPE_WKS:
      case LDNS_RDF_TYPE_NSAP:
      case LDNS_RDF_TYPE_ATMA:
      case LDNS_RDF_TYPE_IPSECKEY:
      case LDNS_RDF_TYPE_LONG_STR:
      case LDNS_RDF_TYPE_AMTRELAY:
      case LDNS_RDF_TYPE_SVCPARAMS:
      case LDNS_RDF_TYPE_NONE:
        length = end - at;  // the rest of the data
        break;
      default:
        break;  // a field ldns reads as nothing
    }
    if (at + length > end) return RdataRead::kUnreadable;
    at += length;
  }
  if (names.size() - names_before < requiredNames(type)) return RdataRead::kUnreadable;
  return at == end ? RdataRead::kExact : RdataRead::kShort;
}

}  // namespace

std::uint16_t read16(std::span<const std::uint8_t> bytes, std::size_t at) {
  return static_cast<std::uint16_t>((bytes[at] << 8) | bytes[at + 1]);
}

std::uint32_t read32(std::span<const std::uint8_t> bytes, std::size_t at) {
  return (std::uint32_t{read16(bytes, at)} << 16) | read16(bytes, at + 2);
}

void write16(std::span<std::uint8_t> bytes, std::size_t at, std::uint16_t value) {
  bytes[at] = static_cast<std::uint8_t>(value >> 8);
  bytes[at + 1] = static_cast<std::uint8_t>(value & 0xff);
}

void write32(std::span<std::uint8_t> bytes, std::size_t at, std::uint32_t value) {
  write16(bytes, at, static_cast<std::uint16_t>(value >> 16));
  write16(bytes, at + 2, static_cast<std::uint16_t>(value & 0xffff));
}

std::size_t pointerTarget(std::span<const std::uint8_t> dns, std::size_t at) {
  return (static_cast<std::size_t>(dns[at] & 0x3f) << 8) | dns[at + 1];
}

DnsMessage DnsMessage::read(std::span<const std::uint8_t> bytes) {
  DnsMessage message(bytes);
  message.fault_ = message.walk();
  if (!message.valid()) {
    message.records_.clear();
    message.rdata_names_.clear();
  }
  return message;
}

DnsMessageFault DnsMessage::walk() {
  constexpr auto kUnreadable = DnsMessageFault::kUnreadable;
  const auto dns = bytes_;
  if (dns.size() < kDnsHeaderSize) return kUnreadable;
  std::size_t at = kDnsHeaderSize;
  for (std::uint16_t i = 0; i < questionCount(); ++i) {
    const auto name = readName(dns, at, dns.size());
    if (!name || name->end + 4 > dns.size()) return kUnreadable;
    if (i == 0) {
      question_ = Question{.name = at,
                           .type = read16(dns, name->end),
                           .klass = read16(dns, name->end + 2),
                           .compressed = name->compressed,
                           .wire = dns.subspan(at, name->end + 4 - at)};
    }
    at = name->end + 4;
  }
  const std::pair<DnsSection, std::uint16_t> sections[] = {
      {DnsSection::kAnswer, read16(dns, 6)},
      {DnsSection::kAuthority, read16(dns, 8)},
      {DnsSection::kAdditional, read16(dns, 10)},
  };
  const std::size_t total =
      std::size_t{sections[0].second} + sections[1].second + sections[2].second;
  // A record takes at least 11 bytes: counts beyond what the bytes can hold fail below,
  // and must not size the allocation.
  records_.reserve(std::min(total, (dns.size() - at) / (kRecordFixedFields + 1)));
  bool tsig_not_last = false;
  bool rdata_short = false;
  for (const auto& [section, count] : sections) {
    for (std::uint16_t i = 0; i < count; ++i) {
      DnsRecord record{.section = section, .owner = at};
      const auto owner = readName(dns, at, dns.size());
      if (!owner || owner->end + kRecordFixedFields > dns.size()) return kUnreadable;
      at = owner->end;
      record.type = read16(dns, at);
      record.klass = read16(dns, at + 2);
      record.ttl_offset = at + 4;
      record.rdata_offset = at + kRecordFixedFields;
      record.rdata_length = read16(dns, at + 8);
      if (record.end() > dns.size()) return kUnreadable;
      record.first_rdata_name = static_cast<std::uint32_t>(rdata_names_.size());
      switch (readRdata(dns, record.type, record.rdata_offset, record.end(), rdata_names_)) {
        case RdataRead::kUnreadable:
          return kUnreadable;
        case RdataRead::kShort:
          rdata_short = true;
          break;
        case RdataRead::kExact:
          break;
      }
      record.rdata_names =
          static_cast<std::uint32_t>(rdata_names_.size() - record.first_rdata_name);
      if (record.type == kDnsTypeTsig && records_.size() + 1 < total) tsig_not_last = true;
      records_.push_back(record);
      at = record.end();
    }
  }
  // Unreadable before these, as ldns reads the whole message before its records are
  // checked against their RDLENGTH.
  if (tsig_not_last) return DnsMessageFault::kTsigNotLast;
  if (rdata_short) return DnsMessageFault::kRdataNotAtRdlength;
  return DnsMessageFault::kNone;
}

std::optional<IpAddress> DnsMessage::addressOf(const DnsRecord& record) const {
  if (record.klass != kDnsClassIn) return std::nullopt;
  const auto rdata = bytes_.subspan(record.rdata_offset, record.rdata_length);
  if (record.type == kDnsTypeA && rdata.size() == 4) return IpAddress::fromV4(rdata.data());
  if (record.type == kDnsTypeAaaa && rdata.size() == 16) return IpAddress::fromV6(rdata.data());
  return std::nullopt;
}

WireName DnsMessage::name(std::size_t at) const {
  WireName name;
  for (int steps = 0; steps < kMaxNameSteps && at < bytes_.size(); ++steps) {
    const std::uint8_t length = bytes_[at];
    if (isCompressionPointer(length)) {
      at = pointerTarget(bytes_, at);
      continue;
    }
    if (name.size + 1 + length > name.bytes.size()) break;
    std::copy_n(bytes_.begin() + static_cast<std::ptrdiff_t>(at), 1 + length,
                name.bytes.begin() + static_cast<std::ptrdiff_t>(name.size));
    name.size += 1 + length;
    if (length == 0) break;
    at += 1 + length;
  }
  return name;
}

bool DnsMessage::sameName(std::size_t a, std::size_t b) const {
  const auto lower = [](std::uint8_t byte) {
    return static_cast<std::uint8_t>(byte >= 'A' && byte <= 'Z' ? byte - 'A' + 'a' : byte);
  };
  for (int steps = 0; steps < 2 * kMaxNameSteps; ++steps) {
    if (a >= bytes_.size() || b >= bytes_.size()) return false;
    if (isCompressionPointer(bytes_[a])) {
      a = pointerTarget(bytes_, a);
      continue;
    }
    if (isCompressionPointer(bytes_[b])) {
      b = pointerTarget(bytes_, b);
      continue;
    }
    const std::uint8_t length = bytes_[a];
    if (length != bytes_[b] || a + 1 + length > bytes_.size() || b + 1 + length > bytes_.size()) {
      return false;
    }
    if (length == 0) return true;
    for (std::size_t i = 1; i <= length; ++i) {
      if (lower(bytes_[a + i]) != lower(bytes_[b + i])) return false;
    }
    a += 1 + length;
    b += 1 + length;
  }
  return false;
}

DnsMessage::Edited DnsMessage::without(std::span<const std::size_t> dropped) const {
  if (!valid() || questionCount() != 1 || !question_) {
    throw std::invalid_argument("only a valid message with one question is edited");
  }
  constexpr std::size_t kUnmoved = ~std::size_t{0};
  constexpr std::size_t kMaxPointerTarget = 0x3fff;
  const auto dns = bytes_;
  Edited edited;
  auto& out = edited.bytes;
  out.reserve(dns.size());
  // Where each byte copied as it was went, and which of them start the rest of a name
  // (a label or a pointer copied in place): only those can be pointed at again.
  std::vector<std::size_t> moved(dns.size(), kUnmoved);
  std::vector<bool> starts_name(dns.size(), false);

  const auto copy = [&](std::size_t from, std::size_t length) {
    for (std::size_t i = 0; i < length; ++i) moved[from + i] = out.size() + i;
    out.insert(out.end(), dns.begin() + static_cast<std::ptrdiff_t>(from),
               dns.begin() + static_cast<std::ptrdiff_t>(from + length));
  };
  // Copies the name at `at`; returns where it ended in place.
  const auto copyName = [&](std::size_t at) {
    std::size_t end = 0;
    bool in_place = true;
    for (int steps = 0; steps < kMaxNameSteps; ++steps) {
      const std::uint8_t length = dns[at];
      if (isCompressionPointer(length)) {
        if (in_place) end = at + 2;
        const std::size_t target = pointerTarget(dns, at);
        if (starts_name[target] && moved[target] <= kMaxPointerTarget) {
          if (in_place) {
            starts_name[at] = true;
            moved[at] = out.size();
            moved[at + 1] = out.size() + 1;
          }
          out.push_back(static_cast<std::uint8_t>(0xc0 | (moved[target] >> 8)));
          out.push_back(static_cast<std::uint8_t>(moved[target] & 0xff));
          return end;
        }
        // Its target went with a dropped record (or never started a name): the rest
        // of the name is written out here.
        in_place = false;
        at = target;
        continue;
      }
      if (in_place) {
        starts_name[at] = true;
        copy(at, 1 + std::size_t{length});
      } else {
        out.insert(out.end(), dns.begin() + static_cast<std::ptrdiff_t>(at),
                   dns.begin() + static_cast<std::ptrdiff_t>(at + 1 + length));
      }
      at += 1 + length;
      if (length == 0) return in_place ? at : end;
    }
    return end;
  };

  copy(0, kDnsHeaderSize);
  const std::size_t question_name_end = copyName(question_->name);
  copy(question_name_end, 4);

  std::uint16_t kept[3] = {0, 0, 0};
  auto next_dropped = dropped.begin();
  for (std::size_t i = 0; i < records_.size(); ++i) {
    if (next_dropped != dropped.end() && *next_dropped == i) {
      ++next_dropped;
      continue;
    }
    const DnsRecord& record = records_[i];
    ++kept[static_cast<std::size_t>(record.section)];
    copyName(record.owner);
    copy(record.ttl_offset - 4, 8);  // type, class, TTL
    edited.ttls.push_back({moved[record.ttl_offset], record.type});
    const std::size_t rdlength_at = out.size();
    out.push_back(0);
    out.push_back(0);
    std::size_t from = record.rdata_offset;
    for (const std::size_t name : rdataNamesOf(record)) {
      copy(from, name - from);
      from = copyName(name);
    }
    copy(from, record.end() - from);
    const std::size_t rdlength = out.size() - rdlength_at - 2;
    if (rdlength > 0xffff) throw std::length_error("edited RDATA exceeds 65535 bytes");
    write16(out, rdlength_at, static_cast<std::uint16_t>(rdlength));
  }
  if (out.size() > kMaxMessage) throw std::length_error("edited message exceeds 65535 bytes");
  write16(out, 6, kept[0]);
  write16(out, 8, kept[1]);
  write16(out, 10, kept[2]);
  return edited;
}

}  // namespace skouter::resolver
