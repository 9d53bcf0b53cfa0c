#include "bpf/counter_names.h"

#include <iterator>

namespace skouter {
namespace {

constexpr const char* kCounterNames[] = SKOUTER_COUNTER_NAMES;
static_assert(std::size(kCounterNames) == SKOUTER_CNT_MAX,
              "SKOUTER_COUNTER_NAMES must name every counter");
constexpr const char* kHookNames[] = SKOUTER_HOOK_NAMES;
static_assert(std::size(kHookNames) == SKOUTER_HOOKS, "SKOUTER_HOOK_NAMES must name every hook");

}  // namespace

const char* counterName(skouter_counter counter) { return kCounterNames[counter]; }
const char* hookName(skouter_hook hook) { return kHookNames[hook]; }

}  // namespace skouter
