// skouterd's command line and configuration file: what each becomes, and what a user
// is told when one is wrong.
#include "daemon/options.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bpf/skouter_abi.h"

namespace skouter::daemon {
namespace {

using Args = std::vector<std::string>;

ParsedCommandLine parse(const Args& args) {
  std::vector<const char*> argv{"skouterd"};
  for (const auto& arg : args) argv.push_back(arg.c_str());
  return parseCommandLine(static_cast<int>(argv.size()), argv.data());
}

std::string joined(const Args& args) {
  std::string text;
  for (const auto& arg : args) text += (text.empty() ? "" : " ") + arg;
  return text;
}

::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

TEST(OptionsTest, CommandLinesBecomeOptions) {
  struct Case {
    Args args;
    std::function<bool(const DaemonOptions&)> holds;
    const char* what;
  };
  const Case cases[] = {
      {{"--policy", "/etc/p"},
       [](const DaemonOptions& o) {
         return o.policy_path == "/etc/p" && o.config_path.empty() &&
                o.admin_socket == "/run/skouter/skouterd.sock" && o.event_rate_limit == 1000 &&
                o.log_format == LogFormat::kText && o.metrics_address.empty() && !o.audit &&
                o.ttl_grace_s == 5 && o.reinject_mark == 0x5c0a && !o.max_ttl_s &&
                o.answers_ring_share == 25;
       },
       "defaults"},
      {{"--policy", "/p", "--answers-ring-share", "100"},
       [](const DaemonOptions& o) { return o.answers_ring_share == 100; },
       "a workload may fill the whole answers ring"},
      {{"--policy", "/p", "--answers-ring-share", "1"},
       [](const DaemonOptions& o) { return o.answers_ring_share == 1; },
       "the smallest share still holds the largest answer"},
      {{"--policy", "/p", "--interface", "eth0", "--interface", "eth1"},
       [](const DaemonOptions& o) {
         return o.interfaces == Args{"eth0", "eth1"};
       },
       "repeated --interface"},
      {{"--policy", "/p", "--trusted-dns", "192.0.2.53", "--trusted-dns", "[2001:db8::53]:5353"},
       [](const DaemonOptions& o) {
         return o.trusted_dns.size() == 2 && o.trusted_dns[0].port == 53 &&
                o.trusted_dns[1].port == 5353;
       },
       "trusted resolvers"},
      {{"--policy", "/p", "--node-label", "role=web", "--node-label", "zone=a=b"},
       [](const DaemonOptions& o) {
         return o.node_labels == policy::NodeLabels{{"role", "web"}, {"zone", "a=b"}};
       },
       "node labels"},
      {{"--policy", "/p", "--audit", "--fail-open", "--block-private-answers"},
       [](const DaemonOptions& o) { return o.audit && o.fail_open && o.block_private_answers; },
       "switches"},
      {{"--policy", "/p", "--min-ttl", "30", "--max-ttl", "600", "--reinject-mark", "0x10"},
       [](const DaemonOptions& o) {
         return o.min_ttl_s == 30 && o.max_ttl_s == 600u && o.reinject_mark == 0x10;
       },
       "numbers"},
      {{"--policy", "/p", "--event-rate-limit", "0"},
       [](const DaemonOptions& o) { return o.event_rate_limit == 0; },
       "event rate limit 0: no limit"},
      {{"--policy", "/p", "--log-format", "json", "--log-level", "debug"},
       [](const DaemonOptions& o) {
         return o.log_format == LogFormat::kJson && o.log_level == "debug";
       },
       "log format and level"},
      {{"--policy", "/p", "--metrics-address", "[::1]:9090"},
       [](const DaemonOptions& o) { return o.metrics_address == "[::1]:9090"; },
       "metrics address"},
      {{"--policy", "/p", "--deny-response", "nxdomain"},
       [](const DaemonOptions& o) { return o.deny_response == resolver::DenyResponse::kNxdomain; },
       "deny response"},
      {{"--policy", "/p"},
       [](const DaemonOptions& o) { return o.verify_answers && o.verify_timeout_ms == 1000; },
       "answers are verified by default"},
      {{"--policy", "/p", "--verify-answers", "off", "--verify-timeout", "300"},
       [](const DaemonOptions& o) { return !o.verify_answers && o.verify_timeout_ms == 300; },
       "verification off"},
      {{"--kubernetes", "--node-name", "node-1", "--trusted-dns-service", "dns/coredns"},
       [](const DaemonOptions& o) {
         return o.kubernetes && o.node_name == "node-1" && o.policy_path.empty() &&
                o.trusted_dns_service_namespace == "dns" && o.trusted_dns_service_name == "coredns";
       },
       "kubernetes without a policy"},
      {{"--kubernetes", "--node-name", "node-1"},
       [](const DaemonOptions& o) { return o.admin_namespaces == Args{"skouter-system"}; },
       "the operators' namespace by default"},
      {{"--kubernetes", "--node-name", "node-1", "--admin-namespaces", "platform",
        "--admin-namespaces", "sre-1"},
       [](const DaemonOptions& o) {
         return o.admin_namespaces == Args{"platform", "sre-1"};
       },
       "admin namespaces replace the default"},
      {{"--detach"}, [](const DaemonOptions& o) { return o.detach; }, "detach needs no policy"},
      {{"--policy", "/p"},
       [](const DaemonOptions& o) { return !o.verify_sni; },
       "server names are checked only where asked"},
      {{"--policy", "/p", "--verify-sni"},
       [](const DaemonOptions& o) {
         return o.verify_sni && o.verify_sni->ports == policy::defaultServerNamePorts() &&
                o.verify_sni->match == policy::ServerNameMatch::kLearnedForAddress;
       },
       "--verify-sni checks 443 over TCP and UDP, names learned for the address"},
      {{"--policy", "/p", "--verify-sni", "--verify-sni-ports", "8443", "--verify-sni-ports", "443",
        "--sni-match", "allowedByPolicy"},
       [](const DaemonOptions& o) {
         return o.verify_sni &&
                o.verify_sni->ports == policy::PortSet{{policy::PortProtocol::kTcp, 443, 443},
                                                       {policy::PortProtocol::kTcp, 8443, 8443},
                                                       {policy::PortProtocol::kUdp, 443, 443},
                                                       {policy::PortProtocol::kUdp, 8443, 8443}} &&
                o.verify_sni->match == policy::ServerNameMatch::kAllowedByPolicy;
       },
       "ports and match of --verify-sni"},
  };
  for (const auto& c : cases) {
    const auto parsed = parse(c.args);
    ASSERT_TRUE(parsed.options) << joined(c.args) << ": " << parsed.message;
    EXPECT_TRUE(c.holds(*parsed.options)) << c.what << ": " << joined(c.args);
  }
}

TEST(OptionsTest, BadCommandLinesAreUsageErrorsThatSayWhatIsWrong) {
  struct Case {
    Args args;
    std::string error;
  };
  const Case cases[] = {
      {{}, "--policy is required (or --kubernetes)"},
      {{"--policy", "/p", "--bogus"}, "unrecognised option '--bogus'"},
      {{"--policy", "/p", "--trusted-dns", "resolver"}, "--trusted-dns: 'resolver' is not ADDR"},
      {{"--policy", "/p", "--node-label", "=web"}, "--node-label: '=web' is not KEY=VALUE"},
      {{"--policy", "/p", "--reinject-mark", "0"}, "--reinject-mark: '0' is not a non-zero"},
      {{"--policy", "/p", "--deny-response", "drop"}, "--deny-response: 'drop' is not"},
      {{"--policy", "/p", "--verify-answers", "sometimes"},
       "--verify-answers: 'sometimes' is not on or off"},
      {{"--policy", "/p", "--verify-timeout", "0"}, "--verify-timeout: must be at least 1"},
      {{"--policy", "/p", "--max-ttl", "0"}, "--max-ttl: must be at least 1"},
      {{"--policy", "/p", "--min-ttl", "60", "--max-ttl", "30"}, "--max-ttl: 30 is below"},
      {{"--policy", "/p", "--min-ttl=-1"}, "--min-ttl: '-1' is not a number"},
      {{"--policy", "/p", "--event-rate-limit", "lots"}, "--event-rate-limit: 'lots' is not a"},
      {{"--policy", "/p", "--event-rate-limit", "4294967296"}, "event-rate-limit"},
      {{"--policy", "/p", "--failsafe-timeout", "0"}, "--failsafe-timeout: must be at least 1"},
      {{"--policy", "/p", "--answers-ring-share", "0"}, "--answers-ring-share: must be 1 to 100"},
      {{"--policy", "/p", "--answers-ring-share", "101"}, "--answers-ring-share: must be 1 to 100"},
      {{"--policy", "/p", "--answers-ring-share", "25%"}, "--answers-ring-share: '25%' is not a"},
      {{"--policy", "/p", "--log-format", "yaml"}, "--log-format: 'yaml' is not text or json"},
      {{"--policy", "/p", "--attach-mode", "xdp"}, "--attach-mode: 'xdp' is not auto, tcx or tc"},
      {{"--policy", "/p", "--log-level", "loud"}, "--log-level: 'loud' is not"},
      {{"--policy", "/p", "--metrics-address", "9090"}, "--metrics-address: '9090' is not"},
      {{"--policy", "/p", "--metrics-address", "metrics.example:9090"},
       "--metrics-address: 'metrics.example:9090'"},
      {{"--policy", "/p", "--trusted-dns-service", "kube-dns"},
       "--trusted-dns-service: 'kube-dns' is not NAMESPACE/NAME"},
      {{"--policy", "/p", "--kubeconfig", "/k"}, "--kubeconfig: needs --kubernetes"},
      {{"--policy", "/p", "--verify-sni-ports", "443"}, "--verify-sni-ports: needs --verify-sni"},
      {{"--policy", "/p", "--sni-match", "allowedByPolicy"}, "--sni-match: needs --verify-sni"},
      {{"--policy", "/p", "--verify-sni", "--sni-match", "any"},
       "--sni-match: 'any' is not learnedForAddress or allowedByPolicy"},
      {{"--policy", "/p", "--verify-sni", "--verify-sni-ports", "https"},
       "--verify-sni-ports: 'https' is not a port number from 1 to 65535"},
      {{"--policy", "/p", "--verify-sni", "--verify-sni-ports", "0"},
       "--verify-sni-ports: '0' is not a port number"},
      {{"--kubernetes", "--node-name", "n", "--admin-namespaces", "Platform"},
       "--admin-namespaces: 'Platform' is not a Kubernetes namespace name (at most 63 "
       "lower-case letters, digits and '-', beginning and ending with a letter or digit)"},
      {{"--kubernetes", "--node-name", "n", "--admin-namespaces", "-ops"},
       "--admin-namespaces: '-ops' is not a Kubernetes namespace name"},
      {{"--kubernetes", "--node-name", "n", "--admin-namespaces", "kube-system/ops"},
       "--admin-namespaces: 'kube-system/ops' is not a Kubernetes namespace name"},
      {{"--kubernetes", "--node-name", "n", "--admin-namespaces", std::string(64, 'a')},
       "--admin-namespaces: '" + std::string(64, 'a') + "' is not a Kubernetes namespace name"},
      {{"--policy", "-"}, "--policy: '-' is not supported"},
      {{"--config", "/nonexistent/skouterd.yaml"},
       "/nonexistent/skouterd.yaml: cannot read it: No such file or directory"},
  };
  for (const auto& c : cases) {
    const auto parsed = parse(c.args);
    EXPECT_FALSE(parsed.options) << joined(c.args);
    EXPECT_EQ(parsed.exit_code, 2) << joined(c.args);
    EXPECT_TRUE(contains(parsed.message, c.error)) << joined(c.args);
    EXPECT_TRUE(contains(parsed.message, "Try 'skouterd --help'.")) << joined(c.args);
  }
}

// --deny-queries and its companions, as the policies take them (policy::QueryPolicingSettings).
TEST(OptionsTest, QueryPolicingFlagsBecomeItsSettings) {
  const auto defaults = parse({"--policy", "/p"});
  ASSERT_TRUE(defaults.options) << defaults.message;
  const auto& off = defaults.options->query_policing;
  EXPECT_FALSE(defaults.options->deny_queries);
  EXPECT_FALSE(off.deny_by_default);
  EXPECT_TRUE(off.queryable_suffixes.empty());
  // The public DNS-over-HTTPS resolvers, withheld unless a rule names them.
  for (const char* name : {"dns.google", "cloudflare-dns.com", "dns.quad9.net"}) {
    EXPECT_NE(std::find(off.encrypted_dns_names.begin(), off.encrypted_dns_names.end(), name),
              off.encrypted_dns_names.end())
        << name;
  }

  const auto deny = parse({"--policy", "/p", "--deny-queries"});
  ASSERT_TRUE(deny.options) << deny.message;
  EXPECT_TRUE(deny.options->deny_queries);
  EXPECT_TRUE(deny.options->query_policing.deny_by_default);
  EXPECT_EQ(deny.options->query_policing.encrypted_dns_names, off.encrypted_dns_names);

  // In a cluster its own names may be queried, for search-path expansions.
  const auto kubernetes = parse({"--kubernetes", "--node-name", "n", "--deny-queries"});
  ASSERT_TRUE(kubernetes.options) << kubernetes.message;
  EXPECT_EQ(kubernetes.options->query_policing.queryable_suffixes, Args{"cluster.local"});

  // Given, the suffixes replace that default; names are compared in lower case
  // without the trailing dot.
  const auto given =
      parse({"--kubernetes", "--node-name", "n", "--allow-query-suffix", "Cluster.Example.",
             "--allow-query-suffix", "corp.internal", "--encrypted-dns-names", "DoH.Example.NET"});
  ASSERT_TRUE(given.options) << given.message;
  EXPECT_EQ(given.options->query_policing.queryable_suffixes,
            (Args{"cluster.example", "corp.internal"}));
  EXPECT_EQ(given.options->query_policing.encrypted_dns_names, Args{"doh.example.net"});
  EXPECT_FALSE(given.options->query_policing.deny_by_default);
}

TEST(OptionsTest, QueryPolicingNamesMustBeDnsNames) {
  for (const std::string flag : {"--allow-query-suffix", "--encrypted-dns-names"}) {
    for (const std::string& bad : Args{"*.cluster.local", "a..b", ".", "", "with space.example",
                                       "slash/example", std::string(64, 'a') + ".example"}) {
      const Args args{"--policy", "/p", flag, bad};
      const auto parsed = parse(args);
      EXPECT_FALSE(parsed.options) << joined(args);
      EXPECT_EQ(parsed.exit_code, 2) << joined(args);
      EXPECT_TRUE(contains(parsed.message, flag + ": '" + bad + "' is not a DNS name"))
          << joined(args);
    }
  }
}

TEST(OptionsTest, VersionNamesTheLayoutOfThePinnedMaps) {
  const auto parsed = parse({"--version"});
  EXPECT_FALSE(parsed.options);
  EXPECT_EQ(parsed.exit_code, 0);
  EXPECT_TRUE(parsed.message.starts_with("skouterd ")) << parsed.message;
  EXPECT_TRUE(parsed.message.ends_with(" (layout " + std::to_string(SKOUTER_LAYOUT_VERSION) + ")"))
      << parsed.message;
}

// The help of each flag, from its "--name" to the next flag's, as one line with single
// spaces.
std::map<std::string, std::string> helpByFlag(const std::string& help) {
  std::map<std::string, std::string> flags;
  std::string current;
  std::istringstream lines(help);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("  --") || line.starts_with("  -h [ --")) {
      const auto start = line.find("--") + 2;
      current = line.substr(start, line.find_first_of(" ]", start) - start);
    }
    if (current.empty()) continue;
    std::istringstream words(line);
    for (std::string word; words >> word;)
      flags[current] += (flags[current].empty() ? "" : " ") + word;
  }
  return flags;
}

TEST(OptionsTest, HelpListsEveryFlagWithItsDefault) {
  const auto parsed = parse({"--help"});
  EXPECT_FALSE(parsed.options);
  EXPECT_EQ(parsed.exit_code, 0);
  const auto flags = helpByFlag(parsed.message);
  for (const auto& name : longFlagNames()) {
    ASSERT_TRUE(flags.count(name)) << "--" << name << " is missing from:\n" << parsed.message;
    if (name == "help" || name == "version") continue;  // they do, rather than set
    EXPECT_TRUE(contains(flags.at(name), "(default: ")) << "--" << name;
  }
  EXPECT_TRUE(contains(flags.at("event-rate-limit"), "(default: 1000)"));
  EXPECT_TRUE(contains(flags.at("answers-ring-share"), "(default: 25)"));
  EXPECT_TRUE(contains(flags.at("log-format"), "(default: text)"));
  EXPECT_TRUE(contains(flags.at("attach-mode"), "(default: auto)"));
  EXPECT_TRUE(contains(flags.at("metrics-address"), "(default: none)"));
  EXPECT_TRUE(contains(flags.at("config"), "(default: none)"));
  EXPECT_TRUE(contains(flags.at("audit"), "(default: off)"));
  EXPECT_TRUE(contains(flags.at("admin-socket"), "(default: /run/skouter/skouterd.sock)"));
  EXPECT_TRUE(contains(flags.at("admin-namespaces"), "(default: skouter-system)"));
}

TEST(MetricsAddressTest, TakesIpv4Ipv6OrLocalhostAndAPort) {
  struct Case {
    const char* text;
    std::optional<std::pair<std::string, std::uint16_t>> address;
  };
  const Case cases[] = {
      {"127.0.0.1:9090", std::pair{"127.0.0.1", 9090}},
      {"0.0.0.0:9090", std::pair{"0.0.0.0", 9090}},
      {"[::1]:9090", std::pair{"::1", 9090}},
      {"[2001:db8::1]:65535", std::pair{"2001:db8::1", 65535}},
      {"localhost:1", std::pair{"localhost", 1}},
      // Unbracketed, as `$(NODE_IP):9464` becomes on an IPv6 node: the last colon is
      // the port's.
      {"::1:9090", std::pair{"::1", 9090}},
      {"2001:db8::7:9464", std::pair{"2001:db8::7", 9464}},
      {"2001:db8::7", std::nullopt},
      {"127.0.0.1", std::nullopt},
      {"127.0.0.1:", std::nullopt},
      {"127.0.0.1:0", std::nullopt},
      {"127.0.0.1:65536", std::nullopt},
      {"127.0.0.1:90a", std::nullopt},
      {"127.0.0.1:+90", std::nullopt},
      {"256.0.0.1:9090", std::nullopt},
      {"metrics.example:9090", std::nullopt},
      {"[::1]", std::nullopt},
      {"[198.51.100.1]:9090", std::nullopt},
      {":9090", std::nullopt},
      {"", std::nullopt},
  };
  for (const auto& c : cases) {
    const auto address = parseMetricsAddress(c.text);
    EXPECT_EQ(address.has_value(), c.address.has_value()) << c.text;
    if (address && c.address) {
      EXPECT_EQ(address->host, c.address->first) << c.text;
      EXPECT_EQ(address->port, c.address->second) << c.text;
    }
  }
}

class ConfigFileTest : public testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/skouter-options-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& text) {
    const std::string path = dir_ + "/skouterd.yaml";
    std::ofstream(path) << text;
    return path;
  }
  ParsedCommandLine parseWith(const std::string& text, Args args = {}) {
    args.insert(args.begin(), {"--config", write(text)});
    return parse(args);
  }

  std::string dir_;
};

TEST_F(ConfigFileTest, EveryKindOfValueBecomesItsOption) {
  const auto parsed = parseWith(
      "# a packaged host's settings\n"
      "policy: /etc/skouter/policy.d\n"
      "interface: [eth0, eth1]\n"
      "trusted-dns: 192.0.2.53\n"
      "min-ttl: 30\n"
      "reinject-mark: 0x10\n"
      "audit: true\n"
      "fail-open: false\n"
      "node-label: {role: web, zone: a}\n"
      "metrics-address: '[::1]:9090'\n"
      "log-format: json\n"
      "event-rate-limit: 500\n");
  ASSERT_TRUE(parsed.options) << parsed.message;
  const DaemonOptions& options = *parsed.options;
  EXPECT_EQ(options.config_path, dir_ + "/skouterd.yaml");
  EXPECT_EQ(options.policy_path, "/etc/skouter/policy.d");
  EXPECT_EQ(options.interfaces, (Args{"eth0", "eth1"}));
  ASSERT_EQ(options.trusted_dns.size(), 1u);
  EXPECT_EQ(options.trusted_dns[0].toString(), "192.0.2.53:53");
  EXPECT_EQ(options.min_ttl_s, 30u);
  EXPECT_EQ(options.reinject_mark, 0x10u);
  EXPECT_TRUE(options.audit);
  EXPECT_FALSE(options.fail_open);
  EXPECT_EQ(options.node_labels, (policy::NodeLabels{{"role", "web"}, {"zone", "a"}}));
  EXPECT_EQ(options.metrics_address, "[::1]:9090");
  EXPECT_EQ(options.log_format, LogFormat::kJson);
  EXPECT_EQ(options.event_rate_limit, 500u);
}

TEST_F(ConfigFileTest, NodeLabelsMayAlsoBeAListOfKeyValue) {
  const auto parsed = parseWith("policy: /p\nnode-label: [role=web, zone=a]\n");
  ASSERT_TRUE(parsed.options) << parsed.message;
  EXPECT_EQ(parsed.options->node_labels, (policy::NodeLabels{{"role", "web"}, {"zone", "a"}}));
}

TEST_F(ConfigFileTest, AnEmptyFileChangesNothing) {
  const auto parsed = parseWith("# nothing yet\n", {"--policy", "/p"});
  ASSERT_TRUE(parsed.options) << parsed.message;
  EXPECT_EQ(parsed.options->policy_path, "/p");
  EXPECT_EQ(parsed.options->event_rate_limit, 1000u);
}

TEST_F(ConfigFileTest, TheCommandLineWinsAndReplacesWholeLists) {
  const auto parsed = parseWith(
      "policy: /from/file\ninterface: [eth0, eth1]\nmin-ttl: 30\nttl-grace: 7\naudit: true\n"
      "node-label: {role: web}\n",
      {"--policy", "/from/flag", "--interface", "eth9", "--min-ttl", "0", "--node-label",
       "zone=b"});
  ASSERT_TRUE(parsed.options) << parsed.message;
  EXPECT_EQ(parsed.options->policy_path, "/from/flag");
  EXPECT_EQ(parsed.options->interfaces, (Args{"eth9"}));
  EXPECT_EQ(parsed.options->min_ttl_s, 0u);
  EXPECT_EQ(parsed.options->node_labels, (policy::NodeLabels{{"zone", "b"}}));
  // What the command line does not give comes from the file.
  EXPECT_EQ(parsed.options->ttl_grace_s, 7u);
  EXPECT_TRUE(parsed.options->audit);
}

// An empty list is no admin namespace: only the policy files select pods of several
// namespaces, or nodes.
TEST_F(ConfigFileTest, AnEmptyListOfAdminNamespacesIsNone) {
  const auto parsed = parseWith("kubernetes: true\nnode-name: n\nadmin-namespaces: []\n");
  ASSERT_TRUE(parsed.options) << parsed.message;
  EXPECT_TRUE(parsed.options->admin_namespaces.empty());
}

TEST_F(ConfigFileTest, ASwitchOnTheCommandLineWinsOverFalseInTheFile) {
  const auto parsed = parseWith("policy: /p\naudit: false\n", {"--audit"});
  ASSERT_TRUE(parsed.options) << parsed.message;
  EXPECT_TRUE(parsed.options->audit);
}

TEST_F(ConfigFileTest, MistakesNameTheFileLineAndKey) {
  struct Case {
    std::string file;
    std::string error;  // after "PATH:"
  };
  const Case cases[] = {
      {"policy: /p\n\nbogus: 1\n", "3: unknown key 'bogus'"},
      {"policy: /p\n--interface: eth0\n", "2: unknown key '--interface'"},
      {"policy: /p\nconfig: /other.yaml\n", "2: config: only on the command line"},
      {"policy: /p\nversion: true\n", "2: version: only on the command line"},
      {"policy: /p\ninterface: {eth0: yes}\n", "2: interface: expected a value or a list"},
      {"policy: [/a, /b]\n", "1: policy: expected a single value, not a list or mapping"},
      {"policy: /p\nmin-ttl: {a: 1}\n", "2: min-ttl: expected a single value"},
      {"policy: /p\naudit: [true]\n", "2: audit: expected true or false"},
      {"policy: /p\naudit: maybe\n", "2: the argument ('maybe') for option 'audit' is invalid"},
      {"policy: /p\nmin-ttl: soon\n", "2: min-ttl: 'soon' is not a number"},
      {"policy: /p\nmin-ttl: -1\n", "2: min-ttl: '-1' is not a number"},
      {"policy: /p\ninterface: [[eth0]]\n", "2: interface: each list item must be one value"},
      {"policy: /p\nnode-label: {role: [a, b]}\n", "2: node-label: each entry must map"},
      {"policy: /p\ninterface:\n", "2: interface: has no value"},
      {"policy: /p\npolicy: /q\n", "2: policy: given more than once"},
      {"policy: /p\ntrusted-dns: [192.0.2.53, resolver]\n",
       "2: trusted-dns: 'resolver' is not ADDR[:PORT]"},
      {"policy: /p\nnode-label: [role]\n", "2: node-label: 'role' is not KEY=VALUE"},
      {"policy: /p\nmetrics-address: 9090\n", "2: metrics-address: '9090' is not"},
      {"policy: /p\nlog-format: xml\n", "2: log-format: 'xml' is not text or json"},
      {"policy: /p\nmin-ttl: 60\nmax-ttl: 30\n", "3: max-ttl: 30 is below --min-ttl 60"},
      {"policy: /p\nkubeconfig: /k\n", "2: kubeconfig: needs --kubernetes"},
      {"- policy\n", "1: expected a mapping of flag names to values"},
      {"policy: [/p\n", "2: not valid YAML"},
  };
  for (const auto& c : cases) {
    const auto parsed = parseWith(c.file);
    EXPECT_FALSE(parsed.options) << c.file;
    EXPECT_EQ(parsed.exit_code, 2) << c.file;
    EXPECT_TRUE(contains(parsed.message, dir_ + "/skouterd.yaml:" + c.error)) << c.file;
  }
}

TEST_F(ConfigFileTest, AFileValueGetsTheSameChecksAsTheSameFlag) {
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"reinject-mark", "0"},
           {"deny-response", "drop"},
           {"failsafe-timeout", "0"},
           {"trusted-dns-service", "kube-dns"},
           {"log-level", "loud"},
           {"event-rate-limit", "many"},
           {"admin-namespaces", "ops_team"},
           {"max-tcp-streams", "0"},
           {"tcp-buffer-size", "65536"},
           {"answers-ring-share", "101"},
           {"attach-mode", "clsact"},
       }) {
    const auto from_flag = parse({"--policy", "/p", "--" + key, value});
    const auto from_file = parseWith("policy: /p\n" + key + ": " + value + "\n");
    ASSERT_FALSE(from_flag.options) << key;
    ASSERT_FALSE(from_file.options) << key;
    // "skouterd: --KEY: PROBLEM" and "skouterd: PATH:2: KEY: PROBLEM"
    const std::string problem = from_flag.message.substr(from_flag.message.find(": ", 10));
    EXPECT_TRUE(contains(from_file.message, dir_ + "/skouterd.yaml:2: " + key + problem));
  }
}

// Every flag but --help, --version and --config can be set in a file, and its value
// arrives. A flag added without a row here fails this test.
TEST_F(ConfigFileTest, EveryLongFlagIsAKeyOfTheFile) {
  struct Setting {
    std::string yaml;  // besides "policy: /p" unless it sets the policy itself
    std::function<bool(const DaemonOptions&)> arrived;
  };
  const std::map<std::string, Setting> settings = {
      {"policy",
       {"policy: /etc/skouter/policy.d",
        [](auto& o) { return o.policy_path == "/etc/skouter/policy.d"; }}},
      {"interface", {"interface: [eth1]", [](auto& o) { return o.interfaces == Args{"eth1"}; }}},
      {"transit-interface",
       {"transit-interface: [eth2]", [](auto& o) { return o.transit_interfaces == Args{"eth2"}; }}},
      {"trusted-dns",
       {"trusted-dns: ['[2001:db8::53]:53']", [](auto& o) { return o.trusted_dns.size() == 1; }}},
      {"admin-socket",
       {"admin-socket: /run/s.sock", [](auto& o) { return o.admin_socket == "/run/s.sock"; }}},
      {"bpffs", {"bpffs: /sys/fs/bpf/x", [](auto& o) { return o.bpffs == "/sys/fs/bpf/x"; }}},
      {"attach-mode",
       {"attach-mode: tc", [](auto& o) { return o.attach_mode == AttachMode::kTc; }}},
      {"min-ttl", {"min-ttl: 9", [](auto& o) { return o.min_ttl_s == 9; }}},
      {"max-ttl", {"max-ttl: 99", [](auto& o) { return o.max_ttl_s == 99u; }}},
      {"ttl-grace", {"ttl-grace: 8", [](auto& o) { return o.ttl_grace_s == 8; }}},
      {"deny-response",
       {"deny-response: refused",
        [](auto& o) { return o.deny_response == resolver::DenyResponse::kRefused; }}},
      {"block-private-answers",
       {"block-private-answers: true", [](auto& o) { return o.block_private_answers; }}},
      {"verify-answers", {"verify-answers: off", [](auto& o) { return !o.verify_answers; }}},
      {"verify-timeout",
       {"verify-timeout: 250", [](auto& o) { return o.verify_timeout_ms == 250; }}},
      {"max-ips-per-name",
       {"max-ips-per-name: 7", [](auto& o) { return o.max_ips_per_name == 7; }}},
      {"max-ips-per-workload",
       {"max-ips-per-workload: 5", [](auto& o) { return o.max_ips_per_workload == 5; }}},
      {"answers-ring-share",
       {"answers-ring-share: 10", [](auto& o) { return o.answers_ring_share == 10; }}},
      {"max-names-per-ip",
       {"max-names-per-ip: 3", [](auto& o) { return o.max_names_per_ip == 3; }}},
      {"max-tcp-streams", {"max-tcp-streams: 11", [](auto& o) { return o.max_tcp_streams == 11; }}},
      {"tcp-buffer-size",
       {"tcp-buffer-size: 2097152", [](auto& o) { return o.tcp_buffer_size == 2097152; }}},
      {"max-pending-lookups",
       {"max-pending-lookups: 0", [](auto& o) { return o.max_pending_lookups == 0; }}},
      {"observed-names-size",
       {"observed-names-size: 13", [](auto& o) { return o.observed_names_size == 13; }}},
      {"expired-addresses-size",
       {"expired-addresses-size: 14", [](auto& o) { return o.expired_addresses_size == 14; }}},
      {"late-connection-window",
       {"late-connection-window: 60", [](auto& o) { return o.late_connection_window_s == 60; }}},
      {"failsafe-timeout",
       {"failsafe-timeout: 6", [](auto& o) { return o.failsafe_timeout_s == 6; }}},
      {"learning-budget", {"learning-budget: 0", [](auto& o) { return o.learning_budget == 0; }}},
      {"verify-sni", {"verify-sni: true", [](auto& o) { return o.verify_sni.has_value(); }}},
      {"verify-sni-ports",
       {"verify-sni: true\nverify-sni-ports: [8443]",
        [](auto& o) {
          return o.verify_sni &&
                 policy::portSetAllows(o.verify_sni->ports, policy::PortProtocol::kUdp, 8443);
        }}},
      {"sni-match",
       {"verify-sni: true\nsni-match: allowedByPolicy",
        [](auto& o) {
          return o.verify_sni && o.verify_sni->match == policy::ServerNameMatch::kAllowedByPolicy;
        }}},
      {"audit", {"audit: true", [](auto& o) { return o.audit; }}},
      {"audit-table-size",
       {"audit-table-size: 5", [](auto& o) { return o.audit_table_size == 5; }}},
      {"fail-open", {"fail-open: true", [](auto& o) { return o.fail_open; }}},
      {"flow-idle-timeout",
       {"flow-idle-timeout: 4", [](auto& o) { return o.flow_idle_timeout_s == 4; }}},
      {"event-rate-limit",
       {"event-rate-limit: 3", [](auto& o) { return o.event_rate_limit == 3; }}},
      {"reinject-mark", {"reinject-mark: 0x2", [](auto& o) { return o.reinject_mark == 2; }}},
      {"node-label", {"node-label: {a: b}", [](auto& o) { return o.node_labels.at("a") == "b"; }}},
      {"kubernetes", {"kubernetes: true\nnode-name: n", [](auto& o) { return o.kubernetes; }}},
      {"kubeconfig",
       {"kubernetes: true\nnode-name: n\nkubeconfig: /k",
        [](auto& o) { return o.kubeconfig == "/k"; }}},
      {"node-name",
       {"kubernetes: true\nnode-name: node-7", [](auto& o) { return o.node_name == "node-7"; }}},
      {"trusted-dns-service",
       {"trusted-dns-service: a/b", [](auto& o) { return o.trusted_dns_service_name == "b"; }}},
      {"admin-namespaces",
       {"admin-namespaces: [platform, sre]",
        [](auto& o) {
          return o.admin_namespaces == Args{"platform", "sre"};
        }}},
      {"api-connection-timeout",
       {"api-connection-timeout: 12", [](auto& o) { return o.api_connection_timeout_s == 12; }}},
      {"metrics-address",
       {"metrics-address: 127.0.0.1:9",
        [](auto& o) { return o.metrics_address == "127.0.0.1:9"; }}},
      {"log-level", {"log-level: warn", [](auto& o) { return o.log_level == "warn"; }}},
      {"log-format",
       {"log-format: json", [](auto& o) { return o.log_format == LogFormat::kJson; }}},
      {"detach", {"detach: true", [](auto& o) { return o.detach; }}},
      {"deny-queries",
       {"deny-queries: true",
        [](auto& o) { return o.deny_queries && o.query_policing.deny_by_default; }}},
      {"allow-query-suffix",
       {"allow-query-suffix: [corp.internal, Cluster.Local.]",
        [](auto& o) {
          return o.query_policing.queryable_suffixes == Args{"corp.internal", "cluster.local"};
        }}},
      {"encrypted-dns-names",
       {"encrypted-dns-names: [doh.example.net]",
        [](auto& o) { return o.query_policing.encrypted_dns_names == Args{"doh.example.net"}; }}},
  };
  for (const auto& name : longFlagNames()) {
    if (name == "help" || name == "version" || name == "config") continue;
    const auto setting = settings.find(name);
    ASSERT_NE(setting, settings.end()) << "no config file test for --" << name;
    const std::string file = (name == "policy" ? "" : "policy: /p\n") + setting->second.yaml + "\n";
    const auto parsed = parseWith(file);
    ASSERT_TRUE(parsed.options) << name << ": " << parsed.message;
    EXPECT_TRUE(setting->second.arrived(*parsed.options)) << name;
  }
}

}  // namespace
}  // namespace skouter::daemon
