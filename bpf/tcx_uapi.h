// The parts of the kernel's tcx uapi (Linux 6.6) that the system's linux/bpf.h (Linux 6.1
// on Debian 12) and libbpf 1.1 lack. Numbers and layouts as in the kernel's
// include/uapi/linux/bpf.h; checked against the BTF of a 6.18 kernel
// (`bpftool btf dump file /sys/kernel/btf/vmlinux format c`).
#pragma once

#include <linux/bpf.h>

#include <cstddef>
#include <cstdint>

namespace skouter::tcx_uapi {

// enum bpf_attach_type
constexpr std::uint32_t kTcxIngress = 46;  // BPF_TCX_INGRESS
constexpr std::uint32_t kTcxEgress = 47;   // BPF_TCX_EGRESS
// enum bpf_link_type
constexpr std::uint32_t kLinkTypeTcx = 11;  // BPF_LINK_TYPE_TCX
// Placement flags of BPF_LINK_CREATE for multi-program hooks. With no relative program
// or link (relative_fd 0), kBefore puts the new one first and kAfter last.
constexpr std::uint32_t kBefore = 1u << 3;  // BPF_F_BEFORE
constexpr std::uint32_t kAfter = 1u << 4;   // BPF_F_AFTER

// union bpf_attr, as BPF_LINK_CREATE reads it for a tcx link: link_create with its tcx
// member. The kernel zero-fills what is past it.
struct LinkCreateAttr {
  std::uint32_t prog_fd = 0;
  std::uint32_t target_ifindex = 0;
  std::uint32_t attach_type = 0;
  std::uint32_t flags = 0;
  std::uint32_t relative_fd = 0;
  std::uint32_t pad = 0;
  std::uint64_t expected_revision = 0;
};
static_assert(offsetof(LinkCreateAttr, relative_fd) == 16);
static_assert(offsetof(LinkCreateAttr, expected_revision) == 24);

// union bpf_attr, as BPF_PROG_QUERY reads and writes it: the query member of 6.6,
// with the link ids the system's header lacks.
struct ProgQueryAttr {
  std::uint32_t target_ifindex = 0;
  std::uint32_t attach_type = 0;
  std::uint32_t query_flags = 0;
  std::uint32_t attach_flags = 0;
  std::uint64_t prog_ids = 0;  // pointer to count u32
  std::uint32_t count = 0;     // in: room in the arrays; out: programs in the chain
  std::uint32_t pad = 0;
  std::uint64_t prog_attach_flags = 0;
  std::uint64_t link_ids = 0;  // pointer to count u32; 0 for a program attached without a link
  std::uint64_t link_attach_flags = 0;
  std::uint64_t revision = 0;
};
static_assert(offsetof(ProgQueryAttr, count) == 24);
static_assert(offsetof(ProgQueryAttr, link_ids) == 40);
static_assert(offsetof(ProgQueryAttr, revision) == 56);

// struct bpf_link_info up to its tcx member. ifindex is 0 once the link is detached:
// its interface was deleted, or someone detached it.
struct TcxLinkInfo {
  std::uint32_t type = 0;
  std::uint32_t id = 0;
  std::uint32_t prog_id = 0;
  std::uint32_t pad = 0;
  std::uint32_t ifindex = 0;
  std::uint32_t attach_type = 0;
};
static_assert(offsetof(TcxLinkInfo, ifindex) == offsetof(bpf_link_info, raw_tracepoint));

}  // namespace skouter::tcx_uapi
