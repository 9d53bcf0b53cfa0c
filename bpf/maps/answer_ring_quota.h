// Each workload's quota on the answers ring, as the daemon tends it. The programs count
// the ring bytes of every answer they hold for an identity (answer_bytes_punted) and
// drop its next answer when what it holds unread would pass its quota
// (--answers-ring-share): one workload whose resolver answers faster than the daemon
// reads cannot fill the ring the others' answers need. This counts what the daemon
// reads (answer_bytes_consumed, which nothing else writes), and is the one place that
// erases from either map: an identity's entries go once the ring holds nothing of it,
// so the maps hold only identities with answers in flight, and a workload that went
// away leaves nothing behind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "bpf/bpf_map.h"
#include "bpf/skouter_abi.h"
#include "common/rate_limited_log.h"

namespace skouter::maps {

class AnswerRingQuota {
 public:
  using BytesMap = BpfMap<std::uint32_t, skouter_answer_bytes>;

  // Carries on from what a previous daemon counted: the ring and both maps are pinned,
  // and the records it left unread are counted by whichever daemon reads them.
  AnswerRingQuota(BytesMap punted, BytesMap consumed);
  AnswerRingQuota(const AnswerRingQuota&) = delete;
  AnswerRingQuota& operator=(const AnswerRingQuota&) = delete;

  // Counts `records`, as the ring hands them (header, then frame), as read: one write
  // per identity. To be called before the reader frees their space in the ring (the
  // reader frees a turn's records after handling the last): a daemon killed in between
  // has counted records it did not free, which lets those identities hold that much
  // more until their entries are removed; counting after the move could lose a count,
  // which would hold against the identity for good.
  void consumed(const std::vector<std::span<const std::uint8_t>>& records);

  // Removes the entries of every identity whose records the daemon has all read, and
  // those of records read after their identity's count was removed. The programs may
  // count a record between the check and the removal: that record then goes
  // uncounted, letting its identity hold one more until the next pass. Returns the
  // identities removed.
  std::size_t forgetDrained();

  // What the programs take `identity` to hold in the ring unread.
  std::uint64_t heldBytes(std::uint32_t identity) const;

  // Entries of answer_bytes_punted as of the last forgetDrained() (the programs add
  // them), and of answer_bytes_consumed.
  std::size_t puntedEntries() const { return punted_entries_; }
  std::size_t consumedEntries() const { return consumed_bytes_.size(); }

 private:
  std::uint64_t consumedBytes(std::uint32_t identity) const;
  void forget(std::uint32_t identity);

  BytesMap punted_;
  BytesMap consumed_;
  // What consumed_ holds, so that each read is one write.
  std::unordered_map<std::uint32_t, std::uint64_t> consumed_bytes_;
  std::size_t punted_entries_ = 0;
  RateLimitedLog write_failure_log_;
};

}  // namespace skouter::maps
