// Compact storage for tables that keep hundreds of thousands of small records (the
// learned (name, address) pairs): records live in slots reused by number, and refer
// to each other by those numbers (4 bytes) instead of by pointers, iterators or
// copies of their keys; lookups go through an open-addressing index of the numbers.
// No node is allocated per record.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

namespace skouter::maps {

using Handle = std::uint32_t;
inline constexpr Handle kNoHandle = UINT32_MAX;

// Records of type T, each at a number that stays its own until it is released, and
// is then given to the next record. A deque: growing it neither moves the records
// (references stay valid) nor copies them all at once. It never shrinks: its size is
// that of the most records held at once, which the callers bound.
template <typename T>
class SlotPool {
 public:
  Handle add(T record) {
    if (free_.empty()) {
      slots_.push_back(std::move(record));
      return static_cast<Handle>(slots_.size() - 1);
    }
    const Handle handle = free_.back();
    free_.pop_back();
    slots_[handle] = std::move(record);
    return handle;
  }
  // The record is replaced by an empty one, so that what it owned is freed now.
  void release(Handle handle) {
    slots_[handle] = T{};
    free_.push_back(handle);
  }
  T& operator[](Handle handle) { return slots_[handle]; }
  const T& operator[](Handle handle) const { return slots_[handle]; }
  std::size_t size() const { return slots_.size() - free_.size(); }
  // Slots ever made, free or not: handles are below it.
  std::size_t capacity() const { return slots_.size(); }

 private:
  std::deque<T> slots_;
  std::vector<Handle> free_;
};

// A set of handles found by a hash of what they refer to, which the caller computes
// (the index keeps only the handle and 32 bits of its hash: 8 bytes a slot, at most
// half of the slots in use). Handles must be below kNoHandle. Linear probing; erasing shifts the
// following entries back, so no tombstone is left to slow later lookups.
class HandleIndex {
 public:
  // The handle whose hash is `hash` and that `matches`; nullopt when none.
  template <typename Matches>
  std::optional<Handle> find(std::uint32_t hash, const Matches& matches) const {
    if (slots_.empty()) return std::nullopt;
    for (std::size_t at = hash & mask(); slots_[at].used(); at = (at + 1) & mask()) {
      if (slots_[at].hash == hash && matches(slots_[at].handle)) return slots_[at].handle;
    }
    return std::nullopt;
  }

  // `handle` must not be in the index yet.
  void insert(std::uint32_t hash, Handle handle) {
    if (2 * (size_ + 1) > slots_.size()) grow();
    place({hash, handle});
    ++size_;
  }

  // Does nothing when `handle` is not in the index.
  void erase(std::uint32_t hash, Handle handle) {
    if (slots_.empty()) return;
    std::size_t hole = hash & mask();
    while (slots_[hole].used() && (slots_[hole].hash != hash || slots_[hole].handle != handle)) {
      hole = (hole + 1) & mask();
    }
    if (!slots_[hole].used()) return;
    // Each entry after the hole moves into it unless its own home lies cyclically in
    // (hole, at]: then it is already as close to its home as it can be.
    for (std::size_t at = (hole + 1) & mask(); slots_[at].used(); at = (at + 1) & mask()) {
      const std::size_t home = slots_[at].hash & mask();
      const bool stays = hole <= at ? (hole < home && home <= at) : (hole < home || home <= at);
      if (stays) continue;
      slots_[hole] = slots_[at];
      hole = at;
    }
    slots_[hole] = Slot{};
    --size_;
  }

  // Calls `visit` with every handle, in no particular order; the index must not
  // change meanwhile.
  template <typename Visit>
  void forEach(const Visit& visit) const {
    for (const Slot& slot : slots_) {
      if (slot.used()) visit(slot.handle);
    }
  }

  std::size_t size() const { return size_; }

 private:
  struct Slot {
    std::uint32_t hash = 0;
    Handle handle = kNoHandle;
    bool used() const { return handle != kNoHandle; }
  };

  std::size_t mask() const { return slots_.size() - 1; }

  void place(const Slot& slot) {
    std::size_t at = slot.hash & mask();
    while (slots_[at].used()) at = (at + 1) & mask();
    slots_[at] = slot;
  }

  void grow() {
    std::vector<Slot> old(slots_.empty() ? 16 : 2 * slots_.size());
    old.swap(slots_);
    for (const Slot& slot : old) {
      if (slot.used()) place(slot);
    }
  }

  std::vector<Slot> slots_;  // a power of two of them
  std::size_t size_ = 0;
};

}  // namespace skouter::maps
