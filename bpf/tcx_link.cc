#include "bpf/tcx_link.h"

#include <bpf/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "bpf/tcx_uapi.h"

namespace skouter::tcx {
namespace {

std::uint32_t attachType(Direction direction) {
  return direction == Direction::kIngress ? tcx_uapi::kTcxIngress : tcx_uapi::kTcxEgress;
}

template <typename Attr>
int bpfCall(int command, Attr& attr) {
  return static_cast<int>(syscall(__NR_bpf, command, &attr, sizeof(attr)));
}

// One query with room for `room` entries: the kernel fills what fits and answers
// ENOSPC when the chain is longer, after setting `count` to its length.
int query(int ifindex, Direction direction, std::uint32_t room, std::uint32_t* prog_ids,
          std::uint32_t* link_ids, std::uint32_t& count) {
  tcx_uapi::ProgQueryAttr attr;
  attr.target_ifindex = static_cast<std::uint32_t>(ifindex);
  attr.attach_type = attachType(direction);
  attr.count = room;
  attr.prog_ids = reinterpret_cast<std::uintptr_t>(prog_ids);
  attr.link_ids = reinterpret_cast<std::uintptr_t>(link_ids);
  const int rc = bpfCall(BPF_PROG_QUERY, attr);
  count = attr.count;
  return rc == 0 || errno == ENOSPC ? 0 : -errno;
}

}  // namespace

const char* directionName(Direction direction) {
  return direction == Direction::kIngress ? "ingress" : "egress";
}

int createLink(int prog_fd, int ifindex, Direction direction, Placement placement) {
  tcx_uapi::LinkCreateAttr attr;
  attr.prog_fd = static_cast<std::uint32_t>(prog_fd);
  attr.target_ifindex = static_cast<std::uint32_t>(ifindex);
  attr.attach_type = attachType(direction);
  attr.flags = placement == Placement::kFirst ? tcx_uapi::kBefore : tcx_uapi::kAfter;
  const int fd = bpfCall(BPF_LINK_CREATE, attr);
  return fd >= 0 ? fd : -errno;
}

std::optional<LinkInfo> linkInfo(int link_fd) {
  tcx_uapi::TcxLinkInfo info;
  std::uint32_t size = sizeof(info);
  if (bpf_obj_get_info_by_fd(link_fd, &info, &size) != 0 || info.type != tcx_uapi::kLinkTypeTcx) {
    return std::nullopt;
  }
  return LinkInfo{.id = info.id,
                  .prog_id = info.prog_id,
                  .ifindex = static_cast<int>(info.ifindex),
                  .direction = info.attach_type == tcx_uapi::kTcxEgress ? Direction::kEgress
                                                                        : Direction::kIngress};
}

int queryChain(int ifindex, Direction direction, Chain& chain) {
  std::uint32_t room = 8;
  for (;;) {
    chain.prog_ids.assign(room, 0);
    chain.link_ids.assign(room, 0);
    std::uint32_t count = 0;
    if (const int rc =
            query(ifindex, direction, room, chain.prog_ids.data(), chain.link_ids.data(), count);
        rc != 0) {
      return rc;
    }
    if (count <= room) {
      chain.prog_ids.resize(count);
      chain.link_ids.resize(count);
      return 0;
    }
    // Longer than the room: again with enough, and some to spare for programs that
    // other agents attach meanwhile.
    room = count * 2;
  }
}

std::optional<std::uint32_t> firstLinkId(int ifindex, Direction direction, int& error) {
  std::uint32_t prog_id = 0;
  std::uint32_t link_id = 0;
  std::uint32_t count = 0;
  error = query(ifindex, direction, 1, &prog_id, &link_id, count);
  if (error != 0 || count == 0) return std::nullopt;
  return link_id;
}

}  // namespace skouter::tcx
