// tcx links (Linux 6.6) through the raw bpf() syscall, which libbpf 1.1 does not wrap:
// creating one at the head or tail of an interface's chain, reading what a link is
// attached to, and reading a chain's order.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace skouter::tcx {

enum class Direction { kIngress, kEgress };

const char* directionName(Direction direction);  // "ingress" or "egress"

enum class Placement { kFirst, kLast };

// A new link of program `prog_fd` on the hook: its descriptor, or -errno. Kernels without
// tcx answer -EINVAL (an attach type they do not know).
int createLink(int prog_fd, int ifindex, Direction direction, Placement placement);

struct LinkInfo {
  std::uint32_t id = 0;
  std::uint32_t prog_id = 0;
  // 0 once detached: the interface was deleted, or someone detached the link.
  int ifindex = 0;
  Direction direction = Direction::kIngress;
};
// What the link `link_fd` is; nullopt when it is no tcx link.
std::optional<LinkInfo> linkInfo(int link_fd);

struct Chain {
  // In the order the kernel runs them; a link id is 0 for a program attached without
  // a link (BPF_PROG_ATTACH).
  std::vector<std::uint32_t> prog_ids;
  std::vector<std::uint32_t> link_ids;
};
// The hook's programs: 0 with `chain` filled, or -errno (-EINVAL: no tcx in this kernel).
int queryChain(int ifindex, Direction direction, Chain& chain);
// The link id of the hook's first program (0 when it has no link), or nullopt when the
// chain is empty; one bpf() call. Sets `error` to -errno when the query fails.
std::optional<std::uint32_t> firstLinkId(int ifindex, Direction direction, int& error);

}  // namespace skouter::tcx
