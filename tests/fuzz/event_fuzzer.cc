// libFuzzer target for what the daemon serves about names (issue 13: a name is bytes,
// and one that is not UTF-8 made the event stream throw and stopped the daemon). The
// input is a DNS name in wire form, followed by whatever bytes. The name, as the answer
// path reads it (resolver/dns_question.h), goes into a DNS event and a flow event,
// through a subscriber's queue, back through a JSON parser and into the line
// `skouterctl monitor` prints; the trailing bytes, read back as a stored name
// (printableName), go into an entries-like JSON object. JSON text is written without
// mending (a throw there is a crash here): every name must already be valid UTF-8.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <span>
#include <sstream>
#include <string>
#include <string_view>

#include "daemon/ctl_views.h"
#include "daemon/event_stream.h"
#include "resolver/dns_question.h"

namespace {

namespace ctl = skouter::ctl;
namespace daemon = skouter::daemon;
namespace resolver = skouter::resolver;

[[noreturn]] void violated(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, condition);
  std::abort();
}
#define FUZZ_CHECK(condition) ((condition) ? (void)0 : violated(#condition, __FILE__, __LINE__))

bool printableAscii(std::string_view text) {
  for (const char c : text) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      return false;
    }
  }
  return true;
}

// Through the hub and out as the monitor shows it.
void serve(const nlohmann::json& event) {
  const std::string strict = event.dump();  // throws on anything that is not UTF-8
  daemon::EventHub hub;
  const auto subscription = hub.subscribe({});
  hub.publish(event);
  std::istringstream lines(subscription->take());
  std::string line;
  while (std::getline(lines, line)) {
    const auto parsed = nlohmann::json::parse(line);
    FUZZ_CHECK(parsed.dump() == strict);
    ctl::eventLine(parsed, ctl::Clock::kUtc);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::size_t consumed = 0;
  const auto name = resolver::canonicalName(std::span(data, size), &consumed);
  const auto time = std::chrono::system_clock::time_point{};
  if (name) {
    FUZZ_CHECK(printableAscii(*name));
    serve(daemon::dnsAnswerEvent(time, {.identity = 256,
                                        .workload = "shop/web-0",
                                        .client = "192.0.2.10",
                                        .name = *name,
                                        .qtype = resolver::dnsTypeName(1),
                                        .verdict = "allowed",
                                        .addresses = {"203.0.113.10"},
                                        .rule = "shop/web/rules[0]"}));
    serve(daemon::flowEvent(time, {.identity = 256,
                                   .workload = "shop/web-0",
                                   .verdict = "denied",
                                   .source = "192.0.2.10",
                                   .destination = "203.0.113.10",
                                   .port = 443,
                                   .protocol = "tcp",
                                   .names = {*name}}));
  }
  const std::string stored(reinterpret_cast<const char*>(data) + consumed, size - consumed);
  const std::string shown = resolver::printableName(stored);
  FUZZ_CHECK(printableAscii(shown));
  FUZZ_CHECK(resolver::printableName(shown) == shown);
  const nlohmann::json entry = {{"ip", "203.0.113.10"}, {"names", {shown}}};
  FUZZ_CHECK(nlohmann::json::parse(entry.dump()) == entry);
  return 0;
}
