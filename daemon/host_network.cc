#include "daemon/host_network.h"

#include <ifaddrs.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <type_traits>
#include <utility>

#include "daemon/interface_kind.h"

namespace skouter::daemon {
namespace {

constexpr std::size_t kReceiveBufferSize = 64 * 1024;

// One rtnetlink socket for one request: a dump, whose reply's messages come back in
// datagrams until NLMSG_DONE, or a change, acknowledged.
class NetlinkSocket {
 public:
  NetlinkSocket() : fd_(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) {
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "rtnetlink socket");
    // Strict checking makes the kernel honour IFA_TARGET_NETNSID in address dumps
    // (and refuse what it does not understand instead of ignoring it).
    const int on = 1;
    setsockopt(fd_, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &on, sizeof(on));
  }
  ~NetlinkSocket() { close(fd_); }
  NetlinkSocket(const NetlinkSocket&) = delete;
  NetlinkSocket& operator=(const NetlinkSocket&) = delete;

  // Sends a request that changes something and waits for its acknowledgement. Returns
  // 0, or the error the kernel answered with.
  int change(nlmsghdr* request, std::uint16_t flags, const char* what) {
    return exchange(
        request, NLM_F_ACK | flags, [](const nlmsghdr*) {}, what);
  }

  // Calls `visit` with each message of the reply to `request`. Returns 0, or the
  // error the kernel answered with.
  template <typename Visit>
  int dump(nlmsghdr* request, Visit&& visit, const char* what) {
    return exchange(request, NLM_F_DUMP, std::forward<Visit>(visit), what);
  }

 private:
  // Sends `request` and reads the reply until its end: NLMSG_DONE, an error, or the
  // acknowledgement (an error message of 0) that NLM_F_ACK asks for.
  template <typename Visit>
  int exchange(nlmsghdr* request, std::uint16_t flags, Visit&& visit, const char* what) {
    request->nlmsg_flags = NLM_F_REQUEST | flags;
    request->nlmsg_seq = 1;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (sendto(fd_, request, request->nlmsg_len, 0, reinterpret_cast<const sockaddr*>(&kernel),
               sizeof(kernel)) < 0) {
      throw std::system_error(errno, std::generic_category(), what);
    }
    std::vector<char> buffer(kReceiveBufferSize);
    for (;;) {
      const ssize_t received = recv(fd_, buffer.data(), buffer.size(), 0);
      if (received < 0) {
        if (errno == EINTR) continue;
        throw std::system_error(errno, std::generic_category(), what);
      }
      int remaining = static_cast<int>(received);
      for (auto* message = reinterpret_cast<const nlmsghdr*>(buffer.data());
           NLMSG_OK(message, remaining); message = NLMSG_NEXT(message, remaining)) {
        if (message->nlmsg_type == NLMSG_DONE) return 0;
        if (message->nlmsg_type == NLMSG_ERROR) {
          const int error = -static_cast<const nlmsgerr*>(NLMSG_DATA(message))->error;
          if (error != 0 || (flags & NLM_F_ACK)) return error;
          continue;
        }
        visit(message);
      }
    }
  }

  int fd_;
};

template <typename Header>
struct Request {
  nlmsghdr header;
  Header body;
  char attributes[128];
};

template <typename Header>
Request<Header> request(std::uint16_t type, std::uint8_t family) {
  Request<Header> request{};
  request.header.nlmsg_type = type;
  request.header.nlmsg_len = NLMSG_LENGTH(sizeof(Header));
  if constexpr (std::is_same_v<Header, ifaddrmsg>) {
    request.body.ifa_family = family;
  } else if constexpr (std::is_same_v<Header, rtmsg>) {
    request.body.rtm_family = family;
  } else {
    request.body.ifi_family = family;
  }
  return request;
}

template <typename Header>
rtattr* addAttribute(Request<Header>& request, std::uint16_t type, const void* data,
                     std::size_t size) {
  auto* attribute = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&request.header) +
                                              NLMSG_ALIGN(request.header.nlmsg_len));
  attribute->rta_type = type;
  attribute->rta_len = static_cast<unsigned short>(RTA_LENGTH(size));
  if (size > 0) std::memcpy(RTA_DATA(attribute), data, size);
  request.header.nlmsg_len = NLMSG_ALIGN(request.header.nlmsg_len) + RTA_ALIGN(attribute->rta_len);
  return attribute;
}

// Ends an attribute opened with addAttribute(request, type, nullptr, 0): it holds what
// was added since.
template <typename Header>
void closeNested(Request<Header>& request, rtattr* nested) {
  nested->rta_len =
      static_cast<unsigned short>(reinterpret_cast<char*>(&request.header) +
                                  request.header.nlmsg_len - reinterpret_cast<char*>(nested));
}

// The attributes after the fixed header `Header` of `message`, by type.
template <typename Header, typename Visit>
void forEachAttribute(const nlmsghdr* message, Visit&& visit) {
  int length =
      static_cast<int>(message->nlmsg_len) - static_cast<int>(NLMSG_LENGTH(sizeof(Header)));
  const auto* attribute = reinterpret_cast<const rtattr*>(
      static_cast<const char*>(NLMSG_DATA(message)) + NLMSG_ALIGN(sizeof(Header)));
  for (; RTA_OK(attribute, length); attribute = RTA_NEXT(attribute, length)) visit(attribute);
}

std::uint32_t u32Of(const rtattr* attribute) {
  std::uint32_t value = 0;
  if (RTA_PAYLOAD(attribute) >= sizeof(value))
    std::memcpy(&value, RTA_DATA(attribute), sizeof(value));
  return value;
}

std::string stringOf(const rtattr* attribute) {
  const auto* text = static_cast<const char*>(RTA_DATA(attribute));
  return std::string(text, strnlen(text, RTA_PAYLOAD(attribute)));
}

Link linkOf(const nlmsghdr* message) {
  const auto* info = static_cast<const ifinfomsg*>(NLMSG_DATA(message));
  Link link;
  link.ifindex = info->ifi_index;
  link.loopback = (info->ifi_flags & IFF_LOOPBACK) != 0;
  forEachAttribute<ifinfomsg>(message, [&](const rtattr* attribute) {
    switch (attribute->rta_type) {
      case IFLA_IFNAME:
        link.name = stringOf(attribute);
        break;
      case IFLA_MASTER:
        link.master = static_cast<int>(u32Of(attribute));
        break;
      case IFLA_LINK:
        link.peer_ifindex = static_cast<int>(u32Of(attribute));
        break;
      case IFLA_LINK_NETNSID: {
        // Negative: no id (the peer is in this namespace).
        const auto id = static_cast<std::int32_t>(u32Of(attribute));
        if (id >= 0) link.peer_netns_id = static_cast<std::uint32_t>(id);
        break;
      }
      case IFLA_LINKINFO: {
        int length = static_cast<int>(RTA_PAYLOAD(attribute));
        for (const auto* nested = static_cast<const rtattr*>(RTA_DATA(attribute));
             RTA_OK(nested, length); nested = RTA_NEXT(nested, length)) {
          if (nested->rta_type == IFLA_INFO_KIND) link.kind = stringOf(nested);
        }
        break;
      }
      default:
        break;
    }
  });
  // IFLA_LINK means the peer only when the peer is elsewhere; for a vlan or macvlan it
  // is the lower device of this namespace.
  if (!link.peer_netns_id) link.peer_ifindex = 0;
  return link;
}

std::optional<IpAddress> addressOf(const nlmsghdr* message) {
  const auto* info = static_cast<const ifaddrmsg*>(NLMSG_DATA(message));
  std::optional<IpAddress> address;
  std::optional<IpAddress> local;
  forEachAttribute<ifaddrmsg>(message, [&](const rtattr* attribute) {
    const auto* bytes = static_cast<const std::uint8_t*>(RTA_DATA(attribute));
    std::optional<IpAddress> value;
    if (info->ifa_family == AF_INET && RTA_PAYLOAD(attribute) >= 4)
      value = IpAddress::fromV4(bytes);
    if (info->ifa_family == AF_INET6 && RTA_PAYLOAD(attribute) >= 16)
      value = IpAddress::fromV6(bytes);
    if (attribute->rta_type == IFA_ADDRESS) address = value;
    if (attribute->rta_type == IFA_LOCAL) local = value;
  });
  // On a point-to-point link IFA_ADDRESS is the peer's; IFA_LOCAL is always ours.
  return local ? local : address;
}

bool isIpv6LinkLocal(const IpAddress& address) {
  return address.family == IpFamily::kV6 && address.bytes[0] == 0xfe &&
         (address.bytes[1] & 0xc0) == 0x80;
}

}  // namespace

std::vector<Link> listLinks() {
  NetlinkSocket socket;
  auto dump = request<ifinfomsg>(RTM_GETLINK, AF_UNSPEC);
  std::vector<Link> links;
  const int error = socket.dump(
      &dump.header,
      [&](const nlmsghdr* message) {
        if (message->nlmsg_type == RTM_NEWLINK) links.push_back(linkOf(message));
      },
      "listing the interfaces");
  if (error != 0) throw std::system_error(error, std::generic_category(), "listing the interfaces");
  return links;
}

PodInterface podInterfaceOf(const Link& link) {
  return {.ifindex = link.ifindex,
          .name = link.name,
          .netns_id = link.peer_netns_id,
          .addresses = link.peer_netns_id
                           ? addressesInNamespace(*link.peer_netns_id, link.peer_ifindex)
                           : std::vector<IpAddress>{}};
}

std::vector<PodInterface> podInterfacesOf(const std::vector<Link>& links,
                                          const InterfaceRoles& roles) {
  std::vector<PodInterface> pods;
  for (const Link& link : links) {
    if (isPodInterface(link) && interfaceKindOf(link, links, roles) == SKOUTER_INTERFACE_POD) {
      pods.push_back(podInterfaceOf(link));
    }
  }
  return pods;
}

namespace {

// Every address of the namespace this one numbers `netns_id` (nullopt: this one), both
// families. Returns 0 or the error the kernel answered with.
int dumpAddresses(std::optional<std::uint32_t> netns_id, std::vector<InterfaceAddress>& addresses) {
  for (const std::uint8_t family : {AF_INET, AF_INET6}) {
    NetlinkSocket socket;
    auto dump = request<ifaddrmsg>(RTM_GETADDR, family);
    if (netns_id) {
      const auto target = static_cast<std::int32_t>(*netns_id);
      addAttribute(dump, IFA_TARGET_NETNSID, &target, sizeof(target));
    }
    const int error = socket.dump(
        &dump.header,
        [&](const nlmsghdr* message) {
          if (message->nlmsg_type != RTM_NEWADDR) return;
          const auto* info = static_cast<const ifaddrmsg*>(NLMSG_DATA(message));
          if (const auto address = addressOf(message)) {
            addresses.push_back({.ifindex = static_cast<int>(info->ifa_index),
                                 .address = *address,
                                 .prefix_length = info->ifa_prefixlen});
          }
        },
        "listing addresses");
    if (error != 0) return error;
  }
  return 0;
}

}  // namespace

std::vector<InterfaceAddress> listAddresses() {
  std::vector<InterfaceAddress> addresses;
  if (const int error = dumpAddresses(std::nullopt, addresses); error != 0) {
    throw std::system_error(error, std::generic_category(), "listing the node's addresses");
  }
  return addresses;
}

std::vector<IpAddress> addressesInNamespace(std::uint32_t netns_id, int ifindex) {
  std::vector<InterfaceAddress> all;
  const int error = dumpAddresses(netns_id, all);
  // EINVAL: no namespace has that id (any more); the pod went away.
  if (error == EINVAL || error == ENOENT) return {};
  if (error != 0) {
    throw std::system_error(
        error, std::generic_category(),
        "listing the addresses of network namespace " + std::to_string(netns_id));
  }
  std::vector<IpAddress> addresses;
  for (const auto& entry : all) {
    if (entry.ifindex == ifindex && !isIpv6LinkLocal(entry.address)) {
      addresses.push_back(entry.address);
    }
  }
  return addresses;
}

std::vector<std::string> defaultRouteInterfaces() {
  std::vector<int> indexes;
  for (const std::uint8_t family : {AF_INET, AF_INET6}) {
    NetlinkSocket socket;
    auto dump = request<rtmsg>(RTM_GETROUTE, family);
    const int error = socket.dump(
        &dump.header,
        [&](const nlmsghdr* message) {
          if (message->nlmsg_type != RTM_NEWROUTE) return;
          const auto* route = static_cast<const rtmsg*>(NLMSG_DATA(message));
          if (route->rtm_dst_len != 0 || route->rtm_type != RTN_UNICAST) return;
          std::uint32_t table = route->rtm_table;
          std::vector<int> next_hops;
          forEachAttribute<rtmsg>(message, [&](const rtattr* attribute) {
            if (attribute->rta_type == RTA_TABLE) table = u32Of(attribute);
            if (attribute->rta_type == RTA_OIF)
              next_hops.push_back(static_cast<int>(u32Of(attribute)));
            if (attribute->rta_type == RTA_MULTIPATH) {
              int length = static_cast<int>(RTA_PAYLOAD(attribute));
              for (const auto* hop = static_cast<const rtnexthop*>(RTA_DATA(attribute));
                   RTNH_OK(hop, length);
                   length -= NLMSG_ALIGN(hop->rtnh_len), hop = RTNH_NEXT(hop)) {
                next_hops.push_back(hop->rtnh_ifindex);
              }
            }
          });
          if (table != RT_TABLE_MAIN) return;
          indexes.insert(indexes.end(), next_hops.begin(), next_hops.end());
        },
        "listing the default routes");
    if (error != 0)
      throw std::system_error(error, std::generic_category(), "listing the default routes");
  }
  std::vector<std::string> names;
  for (const int ifindex : indexes) {
    char name[IF_NAMESIZE] = {};
    if (ifindex <= 0 || !if_indextoname(static_cast<unsigned>(ifindex), name)) continue;
    if (std::find(names.begin(), names.end(), name) == names.end()) names.emplace_back(name);
  }
  return names;
}

bool isLocalAddress(const std::string& address) {
  const auto wanted = IpAddress::parse(address);
  ifaddrs* list = nullptr;
  if (!wanted || getifaddrs(&list) != 0) return false;
  bool found = false;
  for (const ifaddrs* entry = list; entry && !found; entry = entry->ifa_next) {
    if (!entry->ifa_addr) continue;
    if (entry->ifa_addr->sa_family == AF_INET) {
      const auto* v4 = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr);
      found = IpAddress::fromV4(reinterpret_cast<const std::uint8_t*>(&v4->sin_addr)) == *wanted;
    } else if (entry->ifa_addr->sa_family == AF_INET6) {
      const auto* v6 = reinterpret_cast<const sockaddr_in6*>(entry->ifa_addr);
      found = IpAddress::fromV6(v6->sin6_addr.s6_addr) == *wanted;
    }
  }
  freeifaddrs(list);
  return found;
}

int ensureHeldSink(const std::string& name) {
  // A veth pair, both ends down: what is redirected to it is discarded (a down
  // interface sends nothing), and veth is in every kernel a pod network runs on (the
  // dummy driver is not).
  NetlinkSocket socket;
  auto create = request<ifinfomsg>(RTM_NEWLINK, AF_UNSPEC);
  addAttribute(create, IFLA_IFNAME, name.c_str(), name.size() + 1);
  rtattr* info = addAttribute(create, IFLA_LINKINFO, nullptr, 0);
  addAttribute(create, IFLA_INFO_KIND, "veth", 5);
  rtattr* data = addAttribute(create, IFLA_INFO_DATA, nullptr, 0);
  const ifinfomsg peer_header{};
  rtattr* peer = addAttribute(create, VETH_INFO_PEER, &peer_header, sizeof(peer_header));
  const std::string peer_name = name + "p";
  addAttribute(create, IFLA_IFNAME, peer_name.c_str(), peer_name.size() + 1);
  closeNested(create, peer);
  closeNested(create, data);
  closeNested(create, info);
  const int error =
      socket.change(&create.header, NLM_F_CREATE | NLM_F_EXCL, "create the held sink");
  // EEXIST: a previous daemon's.
  if (error != 0 && error != EEXIST) {
    throw std::system_error(error, std::generic_category(), "cannot make interface " + name);
  }
  const int ifindex = static_cast<int>(if_nametoindex(name.c_str()));
  if (ifindex == 0) throw std::system_error(errno, std::generic_category(), name);
  return ifindex;
}

void removeHeldSink(const std::string& name) {
  NetlinkSocket socket;
  auto remove = request<ifinfomsg>(RTM_DELLINK, AF_UNSPEC);
  addAttribute(remove, IFLA_IFNAME, name.c_str(), name.size() + 1);
  const int error = socket.change(&remove.header, 0, "remove the held sink");
  if (error != 0 && error != ENODEV) {
    throw std::system_error(error, std::generic_category(), "cannot remove interface " + name);
  }
}

}  // namespace skouter::daemon
