#include "bpf/maps/released_query_table.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "bpf/maps/bpf_address.h"

namespace skouter::maps {

skouter_dns_query_key udpQueryKey(const IpAddress& client, std::uint16_t client_port,
                                  std::uint16_t dns_id) {
  const skouter_addr address = toBpfAddr(client);
  skouter_dns_query_key key{};
  key.family = address.family;
  key.protocol = IPPROTO_UDP;
  key.client_port = client_port;
  key.dns_id = dns_id;
  std::memcpy(key.client, address.addr, sizeof(key.client));
  return key;
}

bool ReleasedQueryTable::release(const skouter_dns_query_key& key,
                                 std::span<const std::uint8_t> question, std::uint64_t now_ns) {
  skouter_released_query value{};
  value.released_ns = now_ns;
  const std::size_t length = std::min(question.size(), sizeof(value.question));
  value.question_len = static_cast<std::uint16_t>(length);
  std::copy_n(question.begin(), length, value.question);
  return map_.update(key, value) == 0;
}

}  // namespace skouter::maps
