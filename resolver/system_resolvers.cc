#include "resolver/system_resolvers.h"

#include <ares.h>
#include <arpa/inet.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

namespace skouter::resolver {

std::vector<ResolverAddress> nameserversOf(const std::string& resolv_conf) {
  if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
    throw std::runtime_error("c-ares initialisation failed");
  }
  ares_options options{};
  std::string path = resolv_conf;
  options.resolvconf_path = path.data();
  ares_channel channel = nullptr;
  if (const int rc = ares_init_options(&channel, &options, ARES_OPT_RESOLVCONF);
      rc != ARES_SUCCESS) {
    ares_library_cleanup();
    throw std::runtime_error("cannot read " + resolv_conf + ": " + ares_strerror(rc));
  }
  ares_addr_port_node* servers = nullptr;
  std::vector<ResolverAddress> result;
  if (ares_get_servers_ports(channel, &servers) == ARES_SUCCESS) {
    for (auto* node = servers; node; node = node->next) {
      ResolverAddress address;
      address.port = static_cast<std::uint16_t>(node->udp_port ? node->udp_port : 53);
      if (node->family == AF_INET) {
        address.ip = IpAddress::fromV4(reinterpret_cast<const std::uint8_t*>(&node->addr.addr4));
      } else if (node->family == AF_INET6) {
        address.ip = IpAddress::fromV6(reinterpret_cast<const std::uint8_t*>(&node->addr.addr6));
      } else {
        continue;
      }
      result.push_back(address);
    }
  }
  ares_free_data(servers);
  ares_destroy(channel);
  ares_library_cleanup();
  return result;
}

std::vector<ResolverAddress> systemNameservers(std::string& note, const std::string& resolv_conf,
                                               const std::string& stub_upstream) {
  const auto onLoopback = [](const ResolverAddress& address) {
    return IpPrefix::parse("127.0.0.0/8")->contains(address.ip) ||
           IpPrefix::parse("::1/128")->contains(address.ip);
  };
  auto servers = nameserversOf(resolv_conf);
  if (servers.empty() || !std::all_of(servers.begin(), servers.end(), onLoopback)) {
    return servers;
  }
  if (std::filesystem::exists(stub_upstream)) {
    auto upstream = nameserversOf(stub_upstream);
    if (!upstream.empty() && std::none_of(upstream.begin(), upstream.end(), onLoopback)) {
      note = resolv_conf + " names a local stub resolver; trusting its upstream servers from " +
             stub_upstream;
      return upstream;
    }
  }
  throw std::runtime_error(
      resolv_conf +
      " names only loopback resolvers, whose answers never cross the uplink; give the "
      "upstream resolver with --trusted-dns");
}

}  // namespace skouter::resolver
