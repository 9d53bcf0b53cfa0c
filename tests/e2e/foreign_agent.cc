// skouter_foreign_agent: plays another BPF agent on the lab node for the coexistence
// tests. It puts a packet-counting program (foreign_agent.bpf.c) on a tc hook, as a
// tcx link or a clsact filter, and reads the hooks' tcx chains:
//
//   skouter_foreign_agent tcx DEV ingress|egress first|last next|ok PIN_DIR NAME
//   skouter_foreign_agent tc DEV ingress|egress PRIORITY next|ok PIN_DIR NAME
//   skouter_foreign_agent count PIN_DIR NAME    packets NAME's program saw
//   skouter_foreign_agent remove PIN_DIR NAME   detaches NAME's tcx link
//   skouter_foreign_agent chain DEV ingress|egress
//       one line per program of the tcx chain, first first: "PROGRAM_NAME LINK_ID"
//
// The verdict: next (TC_ACT_UNSPEC) hands the packet on, ok (TC_ACT_OK) ends the chain.
// What must outlive the tool is pinned under PIN_DIR (a bpffs directory): the link
// (NAME-link) and the counter map (NAME-packets). A clsact filter is held by tc.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "bpf/tcx_link.h"
#include "foreign_agent.skel.h"

namespace {

using skouter::tcx::Direction;

int fail(const std::string& message) {
  std::fprintf(stderr, "skouter_foreign_agent: %s\n", message.c_str());
  return 1;
}

int usage() {
  return fail(
      "usage: tcx DEV ingress|egress first|last next|ok PIN_DIR NAME | tc DEV ingress|egress "
      "PRIORITY next|ok PIN_DIR NAME | count PIN_DIR NAME | remove PIN_DIR NAME | chain DEV "
      "ingress|egress");
}

bool parseDirection(const std::string& text, Direction& direction) {
  if (text != "ingress" && text != "egress") return false;
  direction = text == "ingress" ? Direction::kIngress : Direction::kEgress;
  return true;
}

bool parseVerdict(const std::string& text, int& verdict) {
  if (text != "next" && text != "ok") return false;
  verdict = text == "next" ? TC_ACT_UNSPEC : TC_ACT_OK;
  return true;
}

// The program, loaded with `verdict`, its counter pinned as PIN_DIR/NAME-packets.
foreign_agent_bpf* load(int verdict, const std::string& pin_dir, const std::string& name) {
  foreign_agent_bpf* skeleton = foreign_agent_bpf__open();
  if (!skeleton) return nullptr;
  skeleton->rodata->verdict = verdict;
  std::error_code ignored;
  std::filesystem::create_directories(pin_dir, ignored);
  const std::string counter = pin_dir + "/" + name + "-packets";
  if (foreign_agent_bpf__load(skeleton) != 0 ||
      bpf_obj_pin(bpf_map__fd(skeleton->maps.packets), counter.c_str()) != 0) {
    foreign_agent_bpf__destroy(skeleton);
    return nullptr;
  }
  return skeleton;
}

int attachTcx(const std::vector<std::string>& args) {
  Direction direction;
  int verdict = 0;
  if (args.size() != 7 || !parseDirection(args[2], direction) ||
      (args[3] != "first" && args[3] != "last") || !parseVerdict(args[4], verdict)) {
    return usage();
  }
  const int ifindex = static_cast<int>(if_nametoindex(args[1].c_str()));
  if (ifindex == 0) return fail("no interface " + args[1]);
  foreign_agent_bpf* skeleton = load(verdict, args[5], args[6]);
  if (!skeleton) return fail("cannot load the program");
  const int link = skouter::tcx::createLink(
      bpf_program__fd(skeleton->progs.foreign_agent), ifindex, direction,
      args[3] == "first" ? skouter::tcx::Placement::kFirst : skouter::tcx::Placement::kLast);
  const std::string pin = args[5] + "/" + args[6] + "-link";
  const bool pinned = link >= 0 && bpf_obj_pin(link, pin.c_str()) == 0;
  const int error = link < 0 ? -link : errno;
  foreign_agent_bpf__destroy(skeleton);
  if (link >= 0) close(link);  // pinned, the link stays
  if (!pinned) return fail("cannot attach a tcx link: " + std::string(std::strerror(error)));
  return 0;
}

int attachTc(const std::vector<std::string>& args) {
  Direction direction;
  int verdict = 0;
  if (args.size() != 7 || !parseDirection(args[2], direction) || !parseVerdict(args[4], verdict)) {
    return usage();
  }
  const int ifindex = static_cast<int>(if_nametoindex(args[1].c_str()));
  if (ifindex == 0) return fail("no interface " + args[1]);
  foreign_agent_bpf* skeleton = load(verdict, args[5], args[6]);
  if (!skeleton) return fail("cannot load the program");
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
              .attach_point = direction == Direction::kIngress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
  bpf_tc_hook_create(&hook);  // an existing clsact qdisc is fine
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = bpf_program__fd(skeleton->progs.foreign_agent),
              .handle = 0xf0, .priority = static_cast<std::uint32_t>(std::atoi(args[3].c_str())));
  const int rc = bpf_tc_attach(&hook, &opts);
  foreign_agent_bpf__destroy(skeleton);
  if (rc != 0) return fail("cannot attach a clsact filter: " + std::string(std::strerror(-rc)));
  return 0;
}

int count(const std::vector<std::string>& args) {
  if (args.size() != 3) return usage();
  const int map = bpf_obj_get((args[1] + "/" + args[2] + "-packets").c_str());
  if (map < 0) return fail("no counter for " + args[2]);
  const std::uint32_t key = 0;
  std::uint64_t packets = 0;
  const int rc = bpf_map_lookup_elem(map, &key, &packets);
  close(map);
  if (rc != 0) return fail("cannot read the counter");
  std::printf("%llu\n", static_cast<unsigned long long>(packets));
  return 0;
}

int remove(const std::vector<std::string>& args) {
  if (args.size() != 3) return usage();
  const std::string pin = args[1] + "/" + args[2] + "-link";
  const int link = bpf_obj_get(pin.c_str());
  if (link < 0) return fail("no link pinned at " + pin);
  const int rc = bpf_link_detach(link);
  close(link);
  unlink(pin.c_str());
  return rc == 0 ? 0 : fail("cannot detach: " + std::string(std::strerror(errno)));
}

int chain(const std::vector<std::string>& args) {
  Direction direction;
  if (args.size() != 3 || !parseDirection(args[2], direction)) return usage();
  const int ifindex = static_cast<int>(if_nametoindex(args[1].c_str()));
  if (ifindex == 0) return fail("no interface " + args[1]);
  skouter::tcx::Chain programs;
  if (const int rc = skouter::tcx::queryChain(ifindex, direction, programs); rc != 0) {
    return fail("cannot query the tcx chain: " + std::string(std::strerror(-rc)));
  }
  for (std::size_t i = 0; i < programs.prog_ids.size(); ++i) {
    const int prog = bpf_prog_get_fd_by_id(programs.prog_ids[i]);
    bpf_prog_info info{};
    std::uint32_t size = sizeof(info);
    const bool named = prog >= 0 && bpf_obj_get_info_by_fd(prog, &info, &size) == 0;
    if (prog >= 0) close(prog);
    std::printf("%s %u\n", named ? info.name : "?", programs.link_ids[i]);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage();
  if (args[0] == "tcx") return attachTcx(args);
  if (args[0] == "tc") return attachTc(args);
  if (args[0] == "count") return count(args);
  if (args[0] == "remove") return remove(args);
  if (args[0] == "chain") return chain(args);
  return usage();
}
