#include "bpf/frame_receiver.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <vector>

namespace skouter {

FrameReceiver::FrameReceiver() {
  // r0 = XDP_PASS; exit. Not in the skeleton: it is needed from the daemon's first
  // moment, before the programs that took a restart's time to verify are loaded.
  const bpf_insn pass[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = XDP_PASS},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  program_fd_ = bpf_prog_load(BPF_PROG_TYPE_XDP, "skouter_receive", "GPL", pass, 2, nullptr);
  if (program_fd_ < 0) {
    throw std::system_error(errno, std::generic_category(),
                            "cannot load the frame receiver's XDP program");
  }
}

FrameReceiver::~FrameReceiver() {
  if (program_fd_ >= 0) close(program_fd_);
}

std::string FrameReceiver::receive(std::span<const std::uint8_t> frame, int ifindex) const {
  xdp_md context{};
  context.data_end = static_cast<std::uint32_t>(frame.size());
  context.ingress_ifindex = static_cast<std::uint32_t>(ifindex);
  // The kernel copies the frame in; it never writes to data_in.
  std::vector<std::uint8_t> data(frame.begin(), frame.end());
  LIBBPF_OPTS(bpf_test_run_opts, options, .data_in = data.data(),
              .data_size_in = static_cast<std::uint32_t>(data.size()), .ctx_in = &context,
              .ctx_size_in = sizeof(context), .repeat = 1, .flags = BPF_F_TEST_XDP_LIVE_FRAMES);
  if (bpf_prog_test_run_opts(program_fd_, &options) != 0) return std::strerror(errno);
  return {};
}

}  // namespace skouter
