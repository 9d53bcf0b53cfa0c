#include "daemon/prometheus_text.h"

#include <spdlog/fmt/fmt.h>

#include <cmath>

namespace skouter::daemon {

namespace {

std::string escaped(const std::string& text, bool quotes) {
  std::string out;
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

// Integers as integers (counters are), the rest in the shortest form that reads back.
std::string formatValue(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (std::isnan(value)) return "NaN";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return fmt::format("{}", static_cast<std::int64_t>(value));
  }
  return fmt::format("{}", value);
}

}  // namespace

void PrometheusText::family(const std::string& name, const std::string& help, const char* type) {
  text_ += "# HELP " + name + " " + escaped(help, false) + "\n";
  text_ += "# TYPE " + name + " " + type + "\n";
}

void PrometheusText::sample(const std::string& name, const MetricLabels& labels, double value) {
  text_ += name;
  if (!labels.empty()) {
    text_ += '{';
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) text_ += ',';
      text_ += labels[i].first + "=\"" + escaped(labels[i].second, true) + '"';
    }
    text_ += '}';
  }
  text_ += ' ' + formatValue(value) + '\n';
}

void PrometheusText::counter(const std::string& name, const std::string& help,
                             const std::vector<std::pair<MetricLabels, double>>& samples) {
  family(name, help, "counter");
  for (const auto& [labels, value] : samples) sample(name, labels, value);
}

void PrometheusText::gauge(const std::string& name, const std::string& help,
                           const std::vector<std::pair<MetricLabels, double>>& samples) {
  family(name, help, "gauge");
  for (const auto& [labels, value] : samples) sample(name, labels, value);
}

void PrometheusText::gauge(const std::string& name, const std::string& help, double value) {
  gauge(name, help, {{{}, value}});
}

void PrometheusText::histogram(const std::string& name, const std::string& help,
                               const Histogram& histogram) {
  family(name, help, "histogram");
  const auto counts = histogram.cumulativeCounts();
  for (std::size_t i = 0; i < counts.size(); ++i) {
    sample(name + "_bucket", {{"le", formatValue(histogram.upperBounds()[i])}},
           static_cast<double>(counts[i]));
  }
  sample(name + "_bucket", {{"le", "+Inf"}}, static_cast<double>(histogram.count()));
  sample(name + "_sum", {}, histogram.sum());
  sample(name + "_count", {}, static_cast<double>(histogram.count()));
}

}  // namespace skouter::daemon
