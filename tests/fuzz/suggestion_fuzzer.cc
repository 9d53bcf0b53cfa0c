// libFuzzer target for `skouterctl audit suggest` (policy/audit_suggestion.h). The
// input is decoded into audit records; the suggested Egress must load, compile, and
// allow every one of them, whatever order they come in.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/ip_address.h"
#include "policy/audit_suggestion.h"
#include "policy/compiled_policy.h"
#include "policy/egress.h"
#include "policy/loader.h"

namespace {

namespace policy = skouter::policy;
using skouter::IpAddress;

[[noreturn]] void violated(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, condition);
  std::abort();
}
#define FUZZ_CHECK(condition) ((condition) ? (void)0 : violated(#condition, __FILE__, __LINE__))

// Reads the input a byte at a time; past its end every byte is 0.
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool empty() const { return offset_ >= size_; }
  std::uint8_t byte() { return offset_ < size_ ? data_[offset_++] : 0; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t offset_ = 0;
};

// Names from a small alphabet below a few parents, so siblings and deeper names
// collide often; now and then raw bytes, which the suggestion must survive.
std::string nameFrom(Input& input) {
  static const char* const kParents[] = {"example.com", "a.example.com", "cdn.test", "com", ""};
  static const char kLabelChars[] = {'a', 'b', '0', '-', 'Z', '_'};
  const std::uint8_t shape = input.byte();
  if (shape % 16 == 15) {
    std::string raw(input.byte() % 12, '\0');
    for (char& c : raw) c = static_cast<char>(input.byte());
    return raw;
  }
  std::string label(1 + input.byte() % 3, 'a');
  for (char& c : label) c = kLabelChars[input.byte() % sizeof(kLabelChars)];
  const std::string parent = kParents[shape % 5];
  std::string name = parent.empty() ? label : label + "." + parent;
  if (shape & 0x20) name += ".";
  return name;
}

std::vector<policy::ObservedFlow> flowsFrom(Input& input) {
  static const std::uint8_t kProtocols[] = {6, 6, 17, 132, 1, 58, 47};
  std::vector<policy::ObservedFlow> flows;
  while (!input.empty() && flows.size() < 64) {
    policy::ObservedFlow flow;
    const std::uint8_t kind = input.byte();
    std::uint8_t bytes[16] = {};
    if (kind & 1) {
      bytes[0] = 0x20;
      bytes[1] = 0x01;
      bytes[2] = 0x0d;
      bytes[3] = 0xb8;
      bytes[15] = input.byte();
      flow.destination = IpAddress::fromV6(bytes);
    } else {
      bytes[0] = 198;
      bytes[1] = 18;
      bytes[2] = input.byte() % 4;
      bytes[3] = input.byte();
      flow.destination = IpAddress::fromV4(bytes);
    }
    flow.protocol = kProtocols[input.byte() % sizeof(kProtocols)];
    flow.port = static_cast<std::uint16_t>(input.byte() % 8 == 0 ? 0 : 1 + input.byte() % 90);
    for (int names = (kind >> 1) % 4; names > 0; --names) flow.names.push_back(nameFrom(input));
    flows.push_back(std::move(flow));
  }
  return flows;
}

bool portsOpen(const policy::PortSet& ports, const policy::ObservedFlow& flow) {
  if (ports.empty()) return true;
  if (flow.protocol != 6 && flow.protocol != 17 && flow.protocol != 132) return false;
  return policy::portSetAllows(ports, static_cast<policy::PortProtocol>(flow.protocol), flow.port);
}

bool allows(const policy::CompiledPolicy& compiled, const policy::ObservedFlow& flow) {
  for (const std::string& name : flow.names) {
    const auto rule = compiled.names.match(name);
    if (rule && portsOpen(compiled.portsOf(*rule), flow)) return true;
  }
  for (const policy::StaticEntry& entry : compiled.static_entries) {
    if (entry.prefix.contains(flow.destination) && portsOpen(entry.ports, flow)) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input input(data, size);
  const auto flows = flowsFrom(input);
  const std::string yaml = policy::suggestEgress(flows);

  std::vector<policy::Egress> egresses;
  try {
    egresses = policy::parsePolicyDocuments(yaml, "suggested.yaml");
  } catch (const policy::PolicyError& error) {
    std::fprintf(stderr, "the suggestion does not load: %s\n%s", error.what(), yaml.c_str());
    std::abort();
  }
  FUZZ_CHECK(egresses.size() == 1);
  FUZZ_CHECK(egresses[0].mode == policy::EgressMode::kEnforce);
  const auto compiled = policy::compileForNode(egresses, {});
  FUZZ_CHECK(compiled.polices);
  for (const auto& flow : flows) {
    if (!allows(compiled, flow)) {
      std::fprintf(stderr, "the suggestion does not allow %s port %u protocol %u\n%s",
                   flow.destination.toString().c_str(), flow.port, flow.protocol, yaml.c_str());
      std::abort();
    }
  }
  const std::vector<policy::ObservedFlow> reversed(flows.rbegin(), flows.rend());
  FUZZ_CHECK(policy::suggestEgress(reversed) == yaml);
  return 0;
}
