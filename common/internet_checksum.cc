#include "common/internet_checksum.h"

namespace skouter {

std::uint32_t sumWords(std::span<const std::uint8_t> bytes, std::uint32_t sum) {
  for (std::size_t i = 0; i + 1 < bytes.size(); i += 2) sum += (bytes[i] << 8) | bytes[i + 1];
  if (bytes.size() % 2) sum += bytes.back() << 8;
  return sum;
}

std::uint16_t foldSum(std::uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

std::uint32_t pseudoHeaderSum(const IpAddress& source, const IpAddress& destination,
                              std::uint8_t protocol, std::size_t length) {
  std::uint32_t sum = sumWords({source.bytes.data(), source.size()});
  sum = sumWords({destination.bytes.data(), destination.size()}, sum);
  // IPv6 counts a 32-bit length; its upper half is zero for any packet here.
  return sum + protocol + static_cast<std::uint32_t>(length);
}

}  // namespace skouter
