// The Internet checksum (RFC 1071) and the TCP/UDP pseudo-header sums, for packets
// the daemon completes or rebuilds before re-injecting them.
#pragma once

#include <cstdint>
#include <span>

#include "common/ip_address.h"

namespace skouter {

// The running one's-complement sum of `bytes` as 16-bit big-endian words, added to
// `sum` (not folded, not complemented).
std::uint32_t sumWords(std::span<const std::uint8_t> bytes, std::uint32_t sum = 0);

// `sum` folded to 16 bits.
std::uint16_t foldSum(std::uint32_t sum);

// The pseudo-header sum of a TCP or UDP segment of `length` bytes.
std::uint32_t pseudoHeaderSum(const IpAddress& source, const IpAddress& destination,
                              std::uint8_t protocol, std::size_t length);

}  // namespace skouter
