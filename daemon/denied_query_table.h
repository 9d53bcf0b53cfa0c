// The queries policy denied, workload by workload: how many, how fast lately, and the
// latest distinct names, so that a workload tunnelling data through query names (many
// names, never the same twice) stands out in `skouterctl audit`. Bounded: at most
// `capacity` workloads, the one denied least recently forgotten first, and
// kNamesPerWorkload names each.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <string>
#include <vector>

namespace skouter::daemon {

struct DeniedQueries {
  std::uint32_t identity = 0;
  std::uint64_t count = 0;
  // Denied in the last minute (a sliding estimate: the minute before, weighted by how
  // much of it the last 60 s still cover, plus this minute's).
  double per_minute = 0;
  std::vector<std::string> latest_names;  // distinct, most recent first
  std::chrono::system_clock::time_point first_seen;
  std::chrono::system_clock::time_point last_seen;
};

class DeniedQueryTable {
 public:
  static constexpr std::size_t kNamesPerWorkload = 8;

  explicit DeniedQueryTable(std::size_t capacity) : capacity_(capacity) {}

  void record(std::uint32_t identity, const std::string& name,
              std::chrono::system_clock::time_point now);
  // Most recently denied first, rates as of `now`.
  std::vector<DeniedQueries> workloads(std::chrono::system_clock::time_point now) const;
  std::uint64_t forgotten() const { return forgotten_; }

 private:
  struct Entry {
    DeniedQueries queries;
    std::int64_t minute = 0;  // since the epoch, of `this_minute`
    std::uint64_t this_minute = 0;
    std::uint64_t minute_before = 0;
    std::deque<std::string> names;
    std::list<std::uint32_t>::iterator recency;
  };
  std::size_t capacity_;
  std::map<std::uint32_t, Entry> entries_;
  std::list<std::uint32_t> least_recent_first_;
  std::uint64_t forgotten_ = 0;
};

}  // namespace skouter::daemon
