// A typed view of one BPF map's file descriptor. It owns nothing: the skeleton owns
// the map; this only spares callers the void pointers of the raw syscalls.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <optional>
#include <vector>

namespace skouter {

template <typename Key, typename Value>
class BpfMap {
 public:
  BpfMap() = default;
  explicit BpfMap(int fd) : fd_(fd) {}

  int fd() const { return fd_; }

  std::optional<Value> lookup(const Key& key) const {
    Value value{};
    if (bpf_map_lookup_elem(fd_, &key, &value) != 0) return std::nullopt;
    return value;
  }

  // Returns 0 or a negative errno (E2BIG when the map is full).
  int update(const Key& key, const Value& value, std::uint64_t flags = BPF_ANY) {
    return bpf_map_update_elem(fd_, &key, &value, flags) == 0 ? 0 : -errno;
  }

  bool erase(const Key& key) { return bpf_map_delete_elem(fd_, &key) == 0; }

  // Visits every entry; `visit` may erase the entry it is given. Hash maps are read
  // in batches (one syscall per thousand entries, which matters when the garbage
  // collector walks a million learned addresses); maps without batch support (LPM
  // tries) key by key.
  template <typename Visit>
  void forEach(Visit&& visit) const {
    std::uint32_t batch = 1024;
    std::vector<Key> batch_keys(batch);
    std::vector<Value> batch_values(batch);
    // Where a batch ends: a bucket number for hash maps, but the last key itself for
    // the kernel's generic walk (arrays, prefix trees), which writes a whole key here.
    struct alignas(8) Token {
      std::uint8_t bytes[std::max(sizeof(Key), sizeof(std::uint64_t))];
    };
    Token in_token{};
    Token out_token{};
    for (bool first = true;;) {
      std::uint32_t count = batch;
      const int rc = bpf_map_lookup_batch(fd_, first ? nullptr : &in_token, &out_token,
                                          batch_keys.data(), batch_values.data(), &count, nullptr);
      const int error = rc == 0 ? 0 : errno;
      if (error == ENOSPC) {
        // One hash bucket holds more entries than a batch: retry it with more room.
        batch *= 2;
        batch_keys.resize(batch);
        batch_values.resize(batch);
        continue;
      }
      if (error != 0 && error != ENOENT) {
        if (first) forEachByKey(visit);  // a map type without batch support
        return;
      }
      for (std::uint32_t i = 0; i < count; ++i) visit(batch_keys[i], batch_values[i]);
      if (error == ENOENT) return;
      in_token = out_token;
      first = false;
    }
  }

  template <typename Visit>
  void forEachByKey(Visit&& visit) const {
    for (const Key& key : keys()) {
      if (auto value = lookup(key)) visit(key, *value);
    }
  }

  std::vector<Key> keys() const {
    std::vector<Key> result;
    Key key{};
    const Key* previous = nullptr;
    while (bpf_map_get_next_key(fd_, previous, &key) == 0) {
      result.push_back(key);
      previous = &result.back();
    }
    return result;
  }

 private:
  int fd_ = -1;
};

}  // namespace skouter
