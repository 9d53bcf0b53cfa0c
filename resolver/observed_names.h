// The names DNS answers gave each address, allowed or denied, for a while: a denied
// connection is reported with the names behind its destination (audit discovery,
// explain), though nothing was installed for them. Bounded; the address least
// recently seen in an answer is forgotten first.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/ip_address.h"

namespace skouter::resolver {

class ObservedNames {
 public:
  // At most `capacity` addresses, each with at most kMaxNamesPerAddress names (the
  // most recent ones).
  explicit ObservedNames(std::size_t capacity = 65536) : capacity_(capacity) {}

  static constexpr std::size_t kMaxNamesPerAddress = 8;

  void record(std::uint32_t identity, const std::string& name,
              const std::vector<IpAddress>& addresses);
  // Sorted; empty when no answer named the address.
  std::vector<std::string> namesOf(std::uint32_t identity, const IpAddress& address) const;
  std::size_t size() const { return names_.size(); }
  std::size_t capacity() const { return capacity_; }
  // Addresses forgotten to make room for others.
  std::uint64_t forgotten() const { return forgotten_; }

 private:
  using Key = std::pair<std::uint32_t, IpAddress>;
  struct Names {
    std::list<std::string> most_recent_last;
    std::list<Key>::iterator recency;
  };
  std::size_t capacity_;
  std::map<Key, Names> names_;
  std::list<Key> least_recent_first_;
  std::uint64_t forgotten_ = 0;
};

}  // namespace skouter::resolver
