#include "common/keyed_hash.h"

#include <sys/random.h>

#include <bit>
#include <stdexcept>

namespace skouter {
namespace {

struct State {
  std::uint64_t v0, v1, v2, v3;

  void round() {
    v0 += v1;
    v1 = std::rotl(v1, 13);
    v1 ^= v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = std::rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = std::rotl(v1, 17);
    v1 ^= v2;
    v2 = std::rotl(v2, 32);
  }

  void absorb(std::uint64_t word) {
    v3 ^= word;
    round();
    round();
    v0 ^= word;
  }
};

std::uint64_t littleEndian(const std::uint8_t* bytes, std::size_t count) {
  std::uint64_t word = 0;
  for (std::size_t i = 0; i < count; ++i) word |= static_cast<std::uint64_t>(bytes[i]) << (8 * i);
  return word;
}

}  // namespace

const KeyedHash& KeyedHash::processKey() {
  static const KeyedHash key = [] {
    std::uint64_t words[2];
    if (getrandom(words, sizeof(words), 0) != sizeof(words)) {
      throw std::runtime_error("getrandom failed: no key for the tables' hash");
    }
    return KeyedHash(words[0], words[1]);
  }();
  return key;
}

std::uint64_t KeyedHash::operator()(std::span<const std::uint8_t> bytes) const {
  State s{k0_ ^ 0x736f6d6570736575ull, k1_ ^ 0x646f72616e646f6dull, k0_ ^ 0x6c7967656e657261ull,
          k1_ ^ 0x7465646279746573ull};
  const std::size_t whole = bytes.size() / 8 * 8;
  for (std::size_t at = 0; at < whole; at += 8) s.absorb(littleEndian(&bytes[at], 8));
  s.absorb(littleEndian(bytes.data() + whole, bytes.size() - whole) |
           (static_cast<std::uint64_t>(bytes.size() & 0xff) << 56));
  s.v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

}  // namespace skouter
