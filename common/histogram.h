// A cumulative histogram with fixed upper bounds, as Prometheus exposes one: counts
// per bucket, the number of observations and their sum.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace skouter {

class Histogram {
 public:
  // `upper_bounds` ascending; an implicit +Inf bucket follows the last.
  explicit Histogram(std::initializer_list<double> upper_bounds);

  void observe(double value);

  const std::vector<double>& upperBounds() const { return upper_bounds_; }
  // Observations at or below upperBounds()[i] (cumulative), one per bound.
  std::vector<std::uint64_t> cumulativeCounts() const;
  std::uint64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  std::vector<double> upper_bounds_;
  std::vector<std::uint64_t> bucket_counts_;  // not cumulative: one bucket each
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

}  // namespace skouter
