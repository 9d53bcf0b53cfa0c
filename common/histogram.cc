#include "common/histogram.h"

#include <algorithm>

namespace skouter {

Histogram::Histogram(std::initializer_list<double> upper_bounds)
    : upper_bounds_(upper_bounds), bucket_counts_(upper_bounds_.size(), 0) {}

void Histogram::observe(double value) {
  ++count_;
  sum_ += value;
  const auto bucket = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value);
  if (bucket != upper_bounds_.end()) ++bucket_counts_[bucket - upper_bounds_.begin()];
}

std::vector<std::uint64_t> Histogram::cumulativeCounts() const {
  std::vector<std::uint64_t> cumulative(bucket_counts_.size());
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < bucket_counts_.size(); ++i) {
    running += bucket_counts_[i];
    cumulative[i] = running;
  }
  return cumulative;
}

}  // namespace skouter
