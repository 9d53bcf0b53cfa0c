// The Prometheus text exposition format (version 0.0.4): metric families with their
// HELP and TYPE lines, label values escaped. A pure builder; skouterd fills it from
// its state on every scrape.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/histogram.h"

namespace skouter::daemon {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class PrometheusText {
 public:
  // Each family is written once, with all its samples: call each of these once per
  // name. `name` of a counter ends in _total.
  void counter(const std::string& name, const std::string& help,
               const std::vector<std::pair<MetricLabels, double>>& samples);
  void gauge(const std::string& name, const std::string& help,
             const std::vector<std::pair<MetricLabels, double>>& samples);
  void gauge(const std::string& name, const std::string& help, double value);
  void histogram(const std::string& name, const std::string& help, const Histogram& histogram);

  const std::string& text() const { return text_; }

 private:
  void family(const std::string& name, const std::string& help, const char* type);
  void sample(const std::string& name, const MetricLabels& labels, double value);

  std::string text_;
};

// The content type of the format, for the HTTP response.
inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace skouter::daemon
