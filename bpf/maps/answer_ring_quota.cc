#include "bpf/maps/answer_ring_quota.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "common/datapath_clock.h"

namespace skouter::maps {

AnswerRingQuota::AnswerRingQuota(BytesMap punted, BytesMap consumed)
    : punted_(punted), consumed_(consumed) {
  consumed_.forEach([this](const std::uint32_t& identity, const skouter_answer_bytes& value) {
    consumed_bytes_[identity] = value.bytes;
  });
}

void AnswerRingQuota::consumed(const std::vector<std::span<const std::uint8_t>>& records) {
  // Most turns hold one workload's answers, or a few workloads'.
  std::vector<std::uint32_t> counted;
  for (const auto record : records) {
    std::uint32_t identity = 0;
    if (record.size() < sizeof(skouter_answer_header)) continue;  // never written so
    std::memcpy(&identity, record.data() + offsetof(skouter_answer_header, identity),
                sizeof(identity));
    consumed_bytes_[identity] += SKOUTER_RINGBUF_FOOTPRINT(record.size());
    if (std::find(counted.begin(), counted.end(), identity) == counted.end()) {
      counted.push_back(identity);
    }
  }
  for (const std::uint32_t identity : counted) {
    // A write that fails is made good by the identity's next one, which carries the sum.
    if (consumed_.update(identity, {.bytes = consumed_bytes_[identity]}) != 0) {
      write_failure_log_.log(datapathNowNs(), spdlog::level::err,
                             "cannot count answers of identity {} as read in "
                             "answer_bytes_consumed: its quota counts them as held until one is",
                             identity);
    }
  }
}

std::size_t AnswerRingQuota::forgetDrained() {
  std::size_t forgotten = 0;
  punted_entries_ = 0;
  punted_.forEach([&](const std::uint32_t& identity, const skouter_answer_bytes& punted) {
    if (punted.bytes > consumedBytes(identity)) {
      ++punted_entries_;
      return;
    }
    forget(identity);
    ++forgotten;
  });
  for (auto it = consumed_bytes_.begin(); it != consumed_bytes_.end();) {
    const std::uint32_t identity = it->first;
    ++it;
    // Asked right before: reads weighed against nothing the programs count would count
    // against the records the identity holds.
    if (punted_.lookup(identity)) continue;
    forget(identity);
    ++forgotten;
  }
  return forgotten;
}

std::uint64_t AnswerRingQuota::heldBytes(std::uint32_t identity) const {
  const auto punted = punted_.lookup(identity);
  const std::uint64_t put = punted ? punted->bytes : 0;
  const std::uint64_t read = consumedBytes(identity);
  return put > read ? put - read : 0;
}

std::uint64_t AnswerRingQuota::consumedBytes(std::uint32_t identity) const {
  const auto found = consumed_bytes_.find(identity);
  return found == consumed_bytes_.end() ? 0 : found->second;
}

void AnswerRingQuota::forget(std::uint32_t identity) {
  // The programs' count first: a record they count for the identity in between is then
  // weighed against nothing read, as it should be, not against reads of older ones.
  punted_.erase(identity);
  consumed_.erase(identity);
  consumed_bytes_.erase(identity);
}

}  // namespace skouter::maps
