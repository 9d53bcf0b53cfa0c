// skouter's programs on tcx (Linux 6.6), beside another agent's: on a veth pair in a
// network namespace of the test's own, a tcx link per hook, pinned under the pin
// directory and first in the chain; a restarted daemon taking over its pinned links;
// a stale pin replaced; an older skouter's clsact filter removed; detaching removing
// skouter's links and filters only. Skipped on kernels without tcx.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "bpf/tcx_link.h"
#include "tests/bpf/datapath_fixture.h"

namespace skouter::bpftest {
namespace {

using tcx::Direction;

constexpr const char* kInterface = "tcx-a";

void shell(const std::string& command) { ASSERT_EQ(std::system(command.c_str()), 0) << command; }

std::string output(const std::string& command) {
  std::string text;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return text;
  char buffer[512];
  while (fgets(buffer, sizeof(buffer), pipe)) text += buffer;
  pclose(pipe);
  return text;
}

// Another agent's program: `return verdict;`.
int loadForeignProgram(int verdict) {
  const bpf_insn instructions[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K,
       .dst_reg = BPF_REG_0,
       .src_reg = 0,
       .off = 0,
       .imm = verdict},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  return bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "foreign", "GPL", instructions,
                       sizeof(instructions) / sizeof(instructions[0]), nullptr);
}

std::uint32_t programId(int prog_fd) {
  bpf_prog_info info{};
  std::uint32_t size = sizeof(info);
  return bpf_obj_get_info_by_fd(prog_fd, &info, &size) == 0 ? info.id : 0;
}

class TcxAttachmentTest : public DatapathFixture {
 protected:
  // Links pinned under the datapath's directory, and what the Datapath learned of them
  // and of the kernel's tcx, outlive a test: a load of its own.
  TcxAttachmentTest() : DatapathFixture(DatapathLoad::kPerTest) {}

  void SetUp() override {
    DatapathFixture::SetUp();
    usePrivateNetworkNamespace();
    shell(std::string("ip link add ") + kInterface + " type veth peer name tcx-b");
    shell(std::string("ip link set ") + kInterface + " up");
    ifindex_ = static_cast<int>(if_nametoindex(kInterface));
    ASSERT_GT(ifindex_, 0);
    tcx::Chain chain;
    if (tcx::queryChain(ifindex_, Direction::kIngress, chain) != 0) {
      GTEST_SKIP() << "this kernel has no tcx";
    }
  }

  void TearDown() override {
    for (const int fd : foreign_fds_) close(fd);
    DatapathFixture::TearDown();
  }

  int keep(int fd) {
    EXPECT_GE(fd, 0);
    foreign_fds_.push_back(fd);
    return fd;
  }

  // Another agent's tcx link, held (not pinned) for the test; returns its link id.
  std::uint32_t attachForeignLink(Direction direction, tcx::Placement placement,
                                  int verdict = TC_ACT_UNSPEC) {
    const int prog = keep(loadForeignProgram(verdict));
    const int link = keep(tcx::createLink(prog, ifindex_, direction, placement));
    const auto info = tcx::linkInfo(link);
    return info ? info->id : 0;
  }

  std::string pin(Direction direction) const {
    return pinDir() + "/links/" + std::to_string(ifindex_) + "-" + tcx::directionName(direction);
  }

  // The link pinned for the hook; nullopt when there is no pin.
  std::optional<tcx::LinkInfo> pinnedLink(Direction direction) const {
    const int fd = bpf_obj_get(pin(direction).c_str());
    if (fd < 0) return std::nullopt;
    const auto info = tcx::linkInfo(fd);
    close(fd);
    return info;
  }

  std::vector<std::uint32_t> chainLinks(Direction direction) const {
    tcx::Chain chain;
    EXPECT_EQ(tcx::queryChain(ifindex_, direction, chain), 0);
    return chain.link_ids;
  }

  std::string filters(const char* direction) const {
    return output(std::string("tc filter show dev ") + kInterface + " " + direction);
  }

  void expectFirstTcx() const {
    const auto hooks = Datapath::attachmentsOf(pinDir(), ifindex_);
    ASSERT_EQ(hooks.size(), 2u);
    for (const auto& hook : hooks) {
      EXPECT_EQ(hook.mode, Datapath::HookAttachment::Mode::kTcx)
          << tcx::directionName(hook.direction);
      EXPECT_TRUE(hook.first) << tcx::directionName(hook.direction);
    }
  }

  int ifindex_ = 0;
  std::vector<int> foreign_fds_;
};

TEST_F(TcxAttachmentTest, AttachUplinkPinsOneLinkPerHookFirstInTheChain) {
  const std::uint32_t foreign = attachForeignLink(Direction::kIngress, tcx::Placement::kFirst);
  datapath().attachUplink(kInterface);

  for (const Direction direction : {Direction::kIngress, Direction::kEgress}) {
    const auto link = pinnedLink(direction);
    ASSERT_TRUE(link.has_value()) << pin(direction);
    EXPECT_EQ(link->ifindex, ifindex_);
    EXPECT_EQ(link->direction, direction);
    ASSERT_FALSE(chainLinks(direction).empty());
    EXPECT_EQ(chainLinks(direction).front(), link->id) << tcx::directionName(direction);
  }
  EXPECT_EQ(pinnedLink(Direction::kIngress)->prog_id,
            programId(datapath().uplinkIngressProgramFd()));
  EXPECT_EQ(pinnedLink(Direction::kEgress)->prog_id, programId(datapath().uplinkEgressProgramFd()));
  // The other agent's link stays, behind skouter's.
  EXPECT_EQ(chainLinks(Direction::kIngress),
            (std::vector<std::uint32_t>{pinnedLink(Direction::kIngress)->id, foreign}));
  expectFirstTcx();
  // Again, with the same programs (a pod attached anew): the same links.
  const auto ingress = pinnedLink(Direction::kIngress);
  datapath().attachUplink(kInterface);
  EXPECT_EQ(chainLinks(Direction::kIngress), (std::vector<std::uint32_t>{ingress->id, foreign}));
  // Nothing of skouter's on clsact.
  EXPECT_EQ(filters("ingress").find("uplink_ingress"), std::string::npos) << filters("ingress");
}

TEST_F(TcxAttachmentTest, ARestartedDaemonTakesOverItsPinnedLinks) {
  datapath().attachUplink(kInterface);
  const auto ingress = pinnedLink(Direction::kIngress);
  const auto egress = pinnedLink(Direction::kEgress);
  ASSERT_TRUE(ingress && egress);

  // The daemon stops (its links stay, pinned: enforcement goes on) and the next one
  // attaches its freshly loaded programs.
  closeDatapath();
  EXPECT_EQ(chainLinks(Direction::kIngress), std::vector<std::uint32_t>{ingress->id});
  openDatapath();
  datapath().attachUplink(kInterface);

  const auto new_ingress = pinnedLink(Direction::kIngress);
  const auto new_egress = pinnedLink(Direction::kEgress);
  ASSERT_TRUE(new_ingress && new_egress);
  EXPECT_EQ(new_ingress->id, ingress->id);
  EXPECT_EQ(new_egress->id, egress->id);
  EXPECT_NE(new_ingress->prog_id, ingress->prog_id);
  EXPECT_EQ(new_ingress->prog_id, programId(datapath().uplinkIngressProgramFd()));
  EXPECT_EQ(new_egress->prog_id, programId(datapath().uplinkEgressProgramFd()));
  EXPECT_EQ(chainLinks(Direction::kIngress), std::vector<std::uint32_t>{ingress->id});
  EXPECT_EQ(chainLinks(Direction::kEgress), std::vector<std::uint32_t>{egress->id});
}

TEST_F(TcxAttachmentTest, APinWhoseInterfaceIsGoneIsReplaced) {
  datapath().attachUplink(kInterface);
  const auto old_link = pinnedLink(Direction::kIngress);
  ASSERT_TRUE(old_link);
  // The interface goes (its links are detached, their pins stay) and another comes with
  // the same index.
  shell(std::string("ip link del ") + kInterface);
  EXPECT_EQ(pinnedLink(Direction::kIngress)->ifindex, 0);
  shell(std::string("ip link add ") + kInterface + " index " + std::to_string(ifindex_) +
        " type veth peer name tcx-b");
  shell(std::string("ip link set ") + kInterface + " up");

  datapath().attachUplink(kInterface);
  const auto new_link = pinnedLink(Direction::kIngress);
  ASSERT_TRUE(new_link);
  EXPECT_NE(new_link->id, old_link->id);
  EXPECT_EQ(new_link->ifindex, ifindex_);
  EXPECT_EQ(chainLinks(Direction::kIngress), std::vector<std::uint32_t>{new_link->id});
  expectFirstTcx();
}

TEST_F(TcxAttachmentTest, AnOlderSkoutersClsactFilterGivesWayToTheLink) {
  // Someone else's filter, which stays.
  shell(std::string("tc qdisc add dev ") + kInterface + " clsact");
  shell(std::string("tc filter add dev ") + kInterface +
        " ingress prio 10 protocol all u32 match u32 0 0");
  datapath().setAttachMode(AttachMode::kTc);
  datapath().attachUplink(kInterface);
  EXPECT_NE(filters("ingress").find("handle 0x5c0"), std::string::npos) << filters("ingress");
  for (const auto& hook : Datapath::attachmentsOf(pinDir(), ifindex_)) {
    EXPECT_EQ(hook.mode, Datapath::HookAttachment::Mode::kTc);
    EXPECT_TRUE(hook.first);  // no tcx program runs before clsact
  }
  EXPECT_FALSE(pinnedLink(Direction::kIngress));

  datapath().setAttachMode(AttachMode::kAuto);
  datapath().attachUplink(kInterface);
  expectFirstTcx();
  EXPECT_EQ(filters("ingress").find("handle 0x5c0"), std::string::npos) << filters("ingress");
  EXPECT_EQ(filters("egress").find("handle 0x5c0"), std::string::npos) << filters("egress");
  EXPECT_NE(filters("ingress").find("u32"), std::string::npos) << filters("ingress");

  // And back (--attach-mode tc): the links go, so the programs never run twice.
  datapath().setAttachMode(AttachMode::kTc);
  datapath().attachUplink(kInterface);
  EXPECT_FALSE(pinnedLink(Direction::kIngress));
  EXPECT_TRUE(chainLinks(Direction::kIngress).empty());
  EXPECT_NE(filters("ingress").find("handle 0x5c0"), std::string::npos) << filters("ingress");
}

TEST_F(TcxAttachmentTest, DetachingRemovesOnlySkoutersLinksAndFilters) {
  const std::uint32_t foreign_ingress =
      attachForeignLink(Direction::kIngress, tcx::Placement::kLast, TC_ACT_OK);
  const std::uint32_t foreign_egress =
      attachForeignLink(Direction::kEgress, tcx::Placement::kFirst);
  shell(std::string("tc qdisc add dev ") + kInterface + " clsact");
  shell(std::string("tc filter add dev ") + kInterface +
        " ingress prio 10 protocol all u32 match u32 0 0");
  // An older skouter's filter on egress too: detaching removes it as well.
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_, .attach_point = BPF_TC_EGRESS);
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = datapath().podEgressProgramFd(), .handle = 0x5c0,
              .priority = 1);
  ASSERT_EQ(bpf_tc_attach(&hook, &opts), 0);

  datapath().setAttachMode(AttachMode::kTcx);
  datapath().attachPod(ifindex_);
  EXPECT_EQ(Datapath::podAttachments(pinDir()), std::vector<int>{ifindex_});
  EXPECT_TRUE(Datapath::podAttachments(pinDir(), {ifindex_}).empty());
  EXPECT_EQ(chainLinks(Direction::kIngress).size(), 2u);

  Datapath::detachPod(pinDir(), ifindex_);
  EXPECT_EQ(chainLinks(Direction::kIngress), std::vector<std::uint32_t>{foreign_ingress});
  EXPECT_EQ(chainLinks(Direction::kEgress), std::vector<std::uint32_t>{foreign_egress});
  EXPECT_FALSE(std::filesystem::exists(pin(Direction::kIngress)));
  EXPECT_FALSE(std::filesystem::exists(pin(Direction::kEgress)));
  EXPECT_NE(filters("ingress").find("u32"), std::string::npos) << filters("ingress");
  EXPECT_EQ(filters("egress").find("handle 0x5c0"), std::string::npos) << filters("egress");
  EXPECT_TRUE(Datapath::podAttachments(pinDir()).empty());
  EXPECT_NO_THROW(Datapath::detachPod(pinDir(), ifindex_));

  // `skouterd --detach` (no daemon running): removePins detaches the links pinned there.
  datapath().attachUplink(kInterface);
  EXPECT_EQ(chainLinks(Direction::kIngress).size(), 2u);
  closeDatapath();
  Datapath::removePins(pinDir());
  Datapath::detachUplink(pinDir(), kInterface);
  EXPECT_EQ(chainLinks(Direction::kIngress), std::vector<std::uint32_t>{foreign_ingress});
  EXPECT_EQ(chainLinks(Direction::kEgress), std::vector<std::uint32_t>{foreign_egress});
}

TEST_F(TcxAttachmentTest, AProgramPutBeforeSkoutersIsNoticedAndLeftThere) {
  datapath().attachUplink(kInterface);
  EXPECT_TRUE(datapath().checkChainOrder().empty());

  const std::uint32_t foreign = attachForeignLink(Direction::kIngress, tcx::Placement::kFirst);
  const std::vector<std::pair<int, Direction>> displaced = {{ifindex_, Direction::kIngress}};
  EXPECT_EQ(datapath().checkChainOrder(), displaced);
  EXPECT_EQ(datapath().checkChainOrder(), displaced);  // warned once; not moved back
  EXPECT_EQ(chainLinks(Direction::kIngress).front(), foreign);
  const auto hooks = Datapath::attachmentsOf(pinDir(), ifindex_);
  EXPECT_FALSE(hooks[0].first);  // ingress
  EXPECT_TRUE(hooks[1].first);

  // The other agent goes: first again.
  for (const int fd : foreign_fds_) close(fd);
  foreign_fds_.clear();
  EXPECT_TRUE(datapath().checkChainOrder().empty());
  // Links detached behind skouter's back are forgotten, not reported.
  Datapath::detachUplink(pinDir(), kInterface);
  EXPECT_TRUE(datapath().checkChainOrder().empty());
}

}  // namespace
}  // namespace skouter::bpftest
