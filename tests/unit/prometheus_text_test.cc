#include "daemon/prometheus_text.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace skouter::daemon {
namespace {

TEST(PrometheusTextTest, CounterFamilyHasHelpTypeAndLabelledSamples) {
  PrometheusText out;
  out.counter("skouter_x_total", "Things counted",
              {{{{"hook", "uplink_egress"}, {"verdict", "denied"}}, 3},
               {{{"hook", "pod_ingress"}, {"verdict", "allowed"}}, 12345678901}});
  EXPECT_EQ(out.text(),
            "# HELP skouter_x_total Things counted\n"
            "# TYPE skouter_x_total counter\n"
            "skouter_x_total{hook=\"uplink_egress\",verdict=\"denied\"} 3\n"
            "skouter_x_total{hook=\"pod_ingress\",verdict=\"allowed\"} 12345678901\n");
}

TEST(PrometheusTextTest, LabelValuesAndHelpAreEscaped) {
  PrometheusText out;
  out.gauge("skouter_g", "a \\ help\nline", {{{{"name", "q\"uote\\back\nline"}}, 0.25}});
  EXPECT_EQ(out.text(),
            "# HELP skouter_g a \\\\ help\\nline\n"
            "# TYPE skouter_g gauge\n"
            "skouter_g{name=\"q\\\"uote\\\\back\\nline\"} 0.25\n");
}

TEST(PrometheusTextTest, UnlabelledGauge) {
  PrometheusText out;
  out.gauge("skouter_up", "one", 1);
  EXPECT_EQ(out.text(), "# HELP skouter_up one\n# TYPE skouter_up gauge\nskouter_up 1\n");
}

TEST(PrometheusTextTest, HistogramBucketsAreCumulativeAndEndInInf) {
  Histogram histogram{0.001, 0.01, 0.1};
  for (const double value : {0.0005, 0.001, 0.005, 0.05, 3.0}) histogram.observe(value);
  PrometheusText out;
  out.histogram("skouter_hold_seconds", "held", histogram);
  EXPECT_EQ(out.text(),
            "# HELP skouter_hold_seconds held\n"
            "# TYPE skouter_hold_seconds histogram\n"
            "skouter_hold_seconds_bucket{le=\"0.001\"} 2\n"
            "skouter_hold_seconds_bucket{le=\"0.01\"} 3\n"
            "skouter_hold_seconds_bucket{le=\"0.1\"} 4\n"
            "skouter_hold_seconds_bucket{le=\"+Inf\"} 5\n"
            "skouter_hold_seconds_sum 3.0565\n"
            "skouter_hold_seconds_count 5\n");
}

// promtool is the reference parser; CI installs it (deploy/install-deps.sh).
TEST(PrometheusTextTest, PromtoolAcceptsTheOutput) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool is not installed";
  }
  Histogram histogram{0.5, 1};
  histogram.observe(0.7);
  PrometheusText out;
  out.gauge("skouter_build_info", "build", {{{{"version", "0.1.0"}}, 1}});
  out.counter("skouter_packets_total", "packets", {{{{"verdict", "odd \"one\""}}, 7}});
  out.histogram("skouter_hold_seconds", "held", histogram);
  const auto path = std::filesystem::temp_directory_path() / "skouter_promtool_test.prom";
  std::ofstream(path) << out.text();
  const std::string command = "promtool check metrics < " + path.string() + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[256];
  while (fgets(buffer, sizeof(buffer), pipe)) output += buffer;
  const int status = pclose(pipe);
  std::filesystem::remove(path);
  EXPECT_EQ(status, 0) << output;
  EXPECT_EQ(output, "");
}

}  // namespace
}  // namespace skouter::daemon
