// A map only the daemon writes, with its number of entries kept as it writes them:
// status and /metrics read the count instead of walking the map on the event loop, a
// walk that costs a syscall per entry (or per thousand) and grows with what workloads
// make the daemon install. The count is taken once from the map (a restarted daemon
// finds the pinned entries of the last) and is exact as long as every write goes
// through here, which is why each such map has one owner and the owner holds this.
// (allowed_ips is written by the datapath too while the daemon is away: its owner
// counts again once it is back, see recounted().)
#pragma once

#include <cerrno>
#include <cstddef>
#include <optional>
#include <vector>

#include "bpf/bpf_map.h"

namespace skouter {

template <typename Key, typename Value>
class CountedMap {
 public:
  explicit CountedMap(BpfMap<Key, Value> map) : map_(map) {
    map_.forEach([this](const Key&, const Value&) { ++size_; });
  }
  // A copy would count apart from the original.
  CountedMap(const CountedMap&) = delete;
  CountedMap& operator=(const CountedMap&) = delete;

  std::optional<Value> lookup(const Key& key) const { return map_.lookup(key); }

  // Adds or replaces the entry. Returns 0 or a negative errno (E2BIG/ENOSPC when the
  // map is full). Only an entry that was not there counts: the kernel says which.
  int update(const Key& key, const Value& value) {
    const int added = map_.update(key, value, BPF_NOEXIST);
    if (added == 0) {
      ++size_;
      return 0;
    }
    if (added != -EEXIST) return added;
    return map_.update(key, value, BPF_EXIST);
  }

  // Replaces an entry the caller knows is there: one write where update() may take two.
  // Should it be gone after all, it is added.
  int replace(const Key& key, const Value& value) {
    const int replaced = map_.update(key, value, BPF_EXIST);
    return replaced == -ENOENT ? update(key, value) : replaced;
  }

  bool erase(const Key& key) {
    if (!map_.erase(key)) return false;
    --size_;
    return true;
  }

  // As BpfMap::forEach: `visit` may erase (through this map) the entry it is given.
  template <typename Visit>
  void forEach(Visit&& visit) const {
    map_.forEach(visit);
  }
  std::vector<Key> keys() const { return map_.keys(); }

  std::size_t size() const { return size_; }
  // The count a walk of the map just found, after someone else wrote it.
  void recounted(std::size_t entries) { size_ = entries; }

 private:
  BpfMap<Key, Value> map_;
  std::size_t size_ = 0;
};

}  // namespace skouter
