// The names the programs may learn by themselves while the daemon is away: each
// workload's exact names and `*.` suffixes, keyed by their hash (bpf/name_hash.h),
// with the rule and ports the daemon would install them with; the settings they learn
// by; and what each identity learned meanwhile. Sole writer of learnable_names,
// learning and learning_budget_used.
#pragma once

#include <cstdint>
#include <string_view>

namespace skouter::maps {

// The hash of `name` (dotted, any case, a trailing dot ignored) as the programs compute
// it for a name in an answer: see bpf/name_hash.h.
std::uint64_t learnableNameHash(std::uint64_t seed, std::string_view name);

}  // namespace skouter::maps
