// SipHash-2-4 (Aumasson and Bernstein, 2012) under a key drawn once per process: the
// hash for in-memory tables whose keys a workload or its accomplice chooses (names
// under an allowed wildcard). An unkeyed hash lets them compute, offline, many keys
// that land in one probe chain and turn every lookup into a walk of it; without the
// key they cannot.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace skouter {

class KeyedHash {
 public:
  KeyedHash(std::uint64_t k0, std::uint64_t k1) : k0_(k0), k1_(k1) {}
  // One key for the whole process, from getrandom(2).
  static const KeyedHash& processKey();

  std::uint64_t operator()(std::span<const std::uint8_t> bytes) const;
  std::uint64_t operator()(std::string_view text) const {
    return (*this)(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  }

 private:
  std::uint64_t k0_;
  std::uint64_t k1_;
};

}  // namespace skouter
