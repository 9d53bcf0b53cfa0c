// Hands a frame to the kernel as if it had just arrived on an interface: its tc ingress
// programs run, then forwarding or local delivery, as for any received frame. That is
// how a pod's first data, held at its interface's ingress for the server name check
// (bpf/lib/server_name.h), goes on its way once allowed: the same path it would have
// taken (routing, NAT, other agents' programs), with no mark that anything else could
// forge. Runs a one-instruction XDP program (XDP_PASS) through BPF_PROG_TEST_RUN in
// live-frame mode (Linux 5.18 and later), which builds an skb on the interface and
// passes it up the stack.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace skouter {

class FrameReceiver {
 public:
  // Throws std::system_error when the kernel refuses the program (no BPF permission).
  FrameReceiver();
  ~FrameReceiver();
  FrameReceiver(const FrameReceiver&) = delete;
  FrameReceiver& operator=(const FrameReceiver&) = delete;

  // `frame` from its Ethernet header on, received on the interface with `ifindex` (in
  // the daemon's network namespace). Empty, or why the kernel did not take it.
  std::string receive(std::span<const std::uint8_t> frame, int ifindex) const;

 private:
  int program_fd_ = -1;
};

}  // namespace skouter
