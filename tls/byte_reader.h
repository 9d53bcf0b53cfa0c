// Bounds-checked reading of big-endian wire formats (TLS, QUIC) for the parsers in
// this directory. Every read either succeeds whole or leaves the reader where it was
// and returns false: the parsers turn a false into a status, never an exception.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace skouter::tls {

class ByteReader {
 public:
  explicit ByteReader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}

  std::size_t position() const { return position_; }
  std::size_t remaining() const { return bytes_.size() - position_; }
  bool empty() const { return remaining() == 0; }

  bool u8(std::uint8_t& value) {
    std::uint64_t wide = 0;
    return bigEndian(1, wide) && (value = static_cast<std::uint8_t>(wide), true);
  }
  bool u16(std::uint16_t& value) {
    std::uint64_t wide = 0;
    return bigEndian(2, wide) && (value = static_cast<std::uint16_t>(wide), true);
  }
  bool u24(std::uint32_t& value) {
    std::uint64_t wide = 0;
    return bigEndian(3, wide) && (value = static_cast<std::uint32_t>(wide), true);
  }
  bool u32(std::uint32_t& value) {
    std::uint64_t wide = 0;
    return bigEndian(4, wide) && (value = static_cast<std::uint32_t>(wide), true);
  }

  // The next `count` bytes.
  bool bytes(std::size_t count, std::span<const std::uint8_t>& out) {
    if (count > remaining()) return false;
    out = bytes_.subspan(position_, count);
    position_ += count;
    return true;
  }
  bool skip(std::size_t count) {
    std::span<const std::uint8_t> ignored;
    return bytes(count, ignored);
  }

  // A vector with a length prefix of `prefix_length` (1, 2 or 3) bytes, as TLS writes
  // opaque<..> and lists.
  bool prefixed(std::size_t prefix_length, std::span<const std::uint8_t>& out) {
    const std::size_t start = position_;
    std::uint64_t length = 0;
    if (bigEndian(prefix_length, length) && bytes(length, out)) return true;
    position_ = start;
    return false;
  }

  // A QUIC variable-length integer (RFC 9000 section 16): the two high bits of the
  // first byte give its length, 1, 2, 4 or 8 bytes.
  bool varint(std::uint64_t& value) {
    if (empty()) return false;
    const std::size_t length = std::size_t{1} << (bytes_[position_] >> 6);
    if (!bigEndian(length, value)) return false;
    value &= (length == 8 ? 0x3fffffffffffffffULL : (std::uint64_t{1} << (length * 8 - 2)) - 1);
    return true;
  }

 private:
  bool bigEndian(std::size_t count, std::uint64_t& value) {
    if (count > remaining()) return false;
    value = 0;
    for (std::size_t i = 0; i < count; ++i) value = (value << 8) | bytes_[position_ + i];
    position_ += count;
    return true;
  }

  std::span<const std::uint8_t> bytes_;
  std::size_t position_ = 0;
};

}  // namespace skouter::tls
