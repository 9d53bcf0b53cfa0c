// The names of the datapath's counters and of the hooks that count them, as status,
// /metrics and the tests show them. The one place SKOUTER_COUNTER_NAMES and
// SKOUTER_HOOK_NAMES are expanded, and checked against their enums.
#pragma once

#include "bpf/skouter_abi.h"

namespace skouter {

const char* counterName(skouter_counter counter);
const char* hookName(skouter_hook hook);

}  // namespace skouter
