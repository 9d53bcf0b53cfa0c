#include "daemon/options.h"

#include <arpa/inet.h>
#include <spdlog/common.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <charconv>
#include <cstdlib>
#include <map>
#include <sstream>

#include "bpf/skouter_abi.h"
#include "daemon/config_file.h"
#include "daemon/version.h"

namespace skouter::daemon {
namespace po = boost::program_options;

namespace {

// What a flag takes, which decides how a configuration file may write its value.
enum class FlagKind {
  kCommand,  // --help, --version, --config: the command line only
  kValue,    // one value
  kNumber,   // one unsigned number
  kList,     // repeatable: a list in a file
  kSwitch,   // on when given: true or false in a file
};

// The values flags are parsed into before they are checked and become DaemonOptions.
struct RawValues {
  DaemonOptions options;
  std::vector<std::string> trusted_dns;
  std::vector<std::string> node_labels;
  std::string reinject_mark = "0x5c0a";
  std::string deny_response = "passthrough";
  std::string verify_answers = "on";
  std::uint32_t max_ttl_s = 0;
  std::string trusted_dns_service = "kube-system/kube-dns";
  std::string log_format = "text";
  std::string attach_mode = "auto";
  bool verify_sni = false;
  std::vector<std::string> verify_sni_ports;
  std::string sni_match = "learnedForAddress";
  std::vector<std::string> allow_query_suffixes;
  std::vector<std::string> encrypted_dns_names;
};

// The public resolvers that serve DNS over HTTPS on their own names (--encrypted-dns-names):
// through them a workload whose queries are policed could still ask for any name.
const std::vector<std::string> kPublicEncryptedDnsNames = {"dns.google",
                                                           "dns.google.com",
                                                           "cloudflare-dns.com",
                                                           "mozilla.cloudflare-dns.com",
                                                           "one.one.one.one",
                                                           "security.cloudflare-dns.com",
                                                           "family.cloudflare-dns.com",
                                                           "dns.quad9.net",
                                                           "dns9.quad9.net",
                                                           "dns10.quad9.net",
                                                           "dns11.quad9.net",
                                                           "doh.opendns.com",
                                                           "doh.familyshield.opendns.com",
                                                           "dns.adguard.com",
                                                           "dns.adguard-dns.com",
                                                           "doh.cleanbrowsing.org",
                                                           "dns.nextdns.io",
                                                           "doh.mullvad.net",
                                                           "dns.mullvad.net",
                                                           "doh.dns.sb",
                                                           "dns.alidns.com",
                                                           "doh.pub",
                                                           "dns.controld.com",
                                                           "freedns.controld.com"};

// The flags with each one's default in its help, and what each one takes. Defaults
// stay out of boost's own `default_value`: a value is then present only when given,
// which is how the command line wins over the configuration file.
class Flags {
 public:
  explicit Flags(const std::string& caption) : description_(caption) {}

  void command(const char* name, const char* help) {
    description_.add_options()(name, help);
    kinds_[longName(name)] = FlagKind::kCommand;
  }
  void value(const char* name, const char* value_name, po::typed_value<std::string>* semantic,
             const std::string& help, const std::string& default_text, FlagKind kind) {
    add(name, semantic->value_name(value_name), help, default_text, kind);
  }
  template <class Number>
  void number(const char* name, const char* value_name, Number* target, const std::string& help,
              const std::string& default_text) {
    add(name, po::value(target)->value_name(value_name), help, default_text, FlagKind::kNumber);
  }
  void list(const char* name, const char* value_name, std::vector<std::string>* target,
            const std::string& help, const std::string& default_text) {
    add(name, po::value(target)->value_name(value_name), help, default_text, FlagKind::kList);
  }
  void flag(const char* name, bool* target, const std::string& help) {
    add(name, po::bool_switch(target), help, "off", FlagKind::kSwitch);
  }

  const po::options_description& description() const { return description_; }
  std::optional<FlagKind> kindOf(const std::string& name) const {
    const auto found = kinds_.find(name);
    if (found == kinds_.end()) return std::nullopt;
    return found->second;
  }

 private:
  static std::string longName(const char* name) {
    const std::string text = name;
    return text.substr(0, text.find(','));
  }
  void add(const char* name, const po::value_semantic* semantic, const std::string& help,
           const std::string& default_text, FlagKind kind) {
    const std::string text = help + " (default: " + default_text + ")";
    description_.add_options()(name, semantic, text.c_str());
    kinds_[longName(name)] = kind;
  }

  po::options_description description_;
  std::map<std::string, FlagKind> kinds_;
};

std::string commaSeparated(const std::vector<std::string>& values) {
  std::string text;
  for (const auto& value : values) text += (text.empty() ? "" : ", ") + value;
  return text;
}

constexpr const char* kUsage =
    "skouterd: DNS-driven egress firewall daemon\n\nUsage: skouterd --policy PATH [flags]\n"
    "       skouterd --config FILE [flags]\n"
    "       skouterd --kubernetes [--node-name NAME] [--policy PATH] [flags]\n"
    "       skouterd --detach [--interface NAME]... [--bpffs PATH]\n\nFlags";

void describeFlags(Flags& flags, RawValues& raw) {
  DaemonOptions& options = raw.options;
  flags.command("help,h", "print this help and exit");
  flags.command("version", "print the version and the layout of the pinned maps, and exit");
  flags.value("config", "FILE", po::value(&options.config_path),
              "YAML file whose keys are these flags without `--` (`policy: PATH`, "
              "`interface: [eth0]`, `audit: true`, `node-label: {KEY: VALUE}`); a flag on the "
              "command line replaces the file's value",
              "none", FlagKind::kCommand);
  flags.value("policy", "PATH", po::value(&options.policy_path),
              "Egress policy: a YAML file (several documents allowed) or a directory of "
              "*.yaml/*.yml",
              "none; required without --kubernetes", FlagKind::kValue);
  flags.list("interface", "NAME", &options.interfaces, "uplink to police; repeatable",
             "the interfaces of the IPv4 and IPv6 default routes");
  flags.list("transit-interface", "NAME", &options.transit_interfaces,
             "interface whose forwarded traffic is others' passing through (a router's LAN): "
             "it leaves the uplinks unjudged; repeatable. Traffic forwarded from any other "
             "local interface (containers, VMs) is judged as the host's",
             "none; tunnels count as transit");
  flags.list("trusted-dns", "ADDR[:PORT]", &raw.trusted_dns,
             "trusted resolver ADDR[:PORT] or [ADDR6]:PORT; repeatable",
             "the nameservers of /etc/resolv.conf, or a local stub resolver's upstream servers");
  flags.value("admin-socket", "PATH", po::value(&options.admin_socket),
              "Unix socket of the admin API (mode 0600)", options.admin_socket, FlagKind::kValue);
  flags.value("bpffs", "PATH", po::value(&options.bpffs),
              "directory in bpffs where the maps are pinned (bpffs is mounted if needed)",
              options.bpffs, FlagKind::kValue);
  flags.value("attach-mode", "MODE", po::value(&raw.attach_mode),
              "how the programs go on the interfaces' tc hooks: tcx (a link first in the "
              "hook's chain, pinned under --bpffs; Linux 6.6 or later), tc (a clsact filter of "
              "priority 1, handle 0x5c0), or auto: tcx where the kernel has it, tc elsewhere",
              raw.attach_mode, FlagKind::kValue);
  flags.number("min-ttl", "S", &options.min_ttl_s,
               "seconds: learned addresses live at least this long, whatever the answer's TTL",
               std::to_string(options.min_ttl_s));
  flags.number("max-ttl", "S", &raw.max_ttl_s,
               "seconds: cap every TTL of delivered answers and every learned expiry, so "
               "clients never cache an address longer than the firewall keeps it",
               "no cap");
  flags.number("ttl-grace", "S", &options.ttl_grace_s,
               "seconds added to every learned address's expiry, for clients that connect late",
               std::to_string(options.ttl_grace_s));
  flags.value("deny-response", "MODE", po::value(&raw.deny_response),
              "answer to a name the policy does not allow: passthrough (the real answer; "
              "connections are still dropped), nxdomain or refused",
              raw.deny_response, FlagKind::kValue);
  flags.flag("block-private-answers", &options.block_private_answers,
             "remove A/AAAA records pointing into private, loopback, link-local or CGNAT ranges "
             "unless a static rule allows them (DNS rebinding protection)");
  flags.value("verify-answers", "on|off", po::value(&raw.verify_answers),
              "on: before installing an address a workload was never given for a name, confirm "
              "it with skouterd's own lookup to the resolver that answered (random port and id, "
              "0x20 case); addresses it does not confirm are removed from the answer, never "
              "installed. off: believe the first answer that matches the query",
              raw.verify_answers, FlagKind::kValue);
  flags.number("verify-timeout", "MS", &options.verify_timeout_ms,
               "milliseconds one confirmation of --verify-answers waits for the resolver; "
               "addresses still unconfirmed then are removed (at least 1)",
               std::to_string(options.verify_timeout_ms));
  flags.number("max-ips-per-name", "N", &options.max_ips_per_name,
               "addresses one name keeps open; beyond it the least recently answered goes "
               "(0: no limit)",
               std::to_string(options.max_ips_per_name));
  flags.number("max-ips-per-workload", "N", &options.max_ips_per_workload,
               "addresses one workload (the host, or a pod) keeps open, over all its names; "
               "beyond it its least recently answered goes, so one workload cannot fill the "
               "allowed_ips map the others need (0: no limit)",
               std::to_string(options.max_ips_per_workload));
  flags.number("answers-ring-share", "PERCENT", &options.answers_ring_share,
               "percentage of the answers ring one workload's answers may hold while the "
               "daemon has not read them; beyond it the workload's answers are dropped and "
               "counted (dns_answer_over_quota) and its clients retry, so one workload cannot "
               "fill the ring the others' answers need (1 to 100; at 100 one workload may fill it)",
               std::to_string(options.answers_ring_share));
  flags.number("max-names-per-ip", "N", &options.max_names_per_ip,
               "names one learned address keeps (what `entries` shows, and whose ports it "
               "opens); beyond it the name least recently answered with it goes (0: no limit)",
               std::to_string(options.max_names_per_ip));
  flags.number("max-tcp-streams", "N", &options.max_tcp_streams,
               "DNS-over-TCP connections to trusted resolvers followed at once; beyond it the "
               "least recently active is forgotten, and its later segments are dropped",
               std::to_string(options.max_tcp_streams));
  flags.number("tcp-buffer-size", "BYTES", &options.tcp_buffer_size,
               "bytes kept across every DNS-over-TCP connection (unfinished messages, segments "
               "after a gap); beyond it the least recently active connections keeping bytes "
               "are forgotten (at least 1048576)",
               std::to_string(options.tcp_buffer_size));
  flags.number("max-pending-lookups", "N", &options.max_pending_lookups,
               "truncated answers held at once while the daemon completes them over TCP; "
               "beyond it one is delivered as it is and the client falls back to TCP (0: none "
               "held)",
               std::to_string(options.max_pending_lookups));
  flags.number("observed-names-size", "N", &options.observed_names_size,
               "addresses whose names from answers (up to 8 each) are kept to name denied "
               "destinations in `audit`, `monitor` and `explain`; the least recently answered "
               "goes first (0: keep none)",
               std::to_string(options.observed_names_size));
  flags.number("expired-addresses-size", "N", &options.expired_addresses_size,
               "expired learned addresses remembered (with their names and rule) so that a "
               "new flow denied to one is reported as a late connection; the least recently "
               "expired goes first (0: remember none)",
               std::to_string(options.expired_addresses_size));
  flags.number("late-connection-window", "S", &options.late_connection_window_s,
               "seconds after its expiry during which a denied new flow to a learned address "
               "is reported as a late connection",
               std::to_string(options.late_connection_window_s));
  flags.number("failsafe-timeout", "S", &options.failsafe_timeout_s,
               "seconds without a daemon heartbeat after which DNS answers pass without "
               "waiting for it: the datapath installs the addresses of names the policy "
               "allows by an exact name or a *. wildcard itself, others pass uninstalled "
               "(enforcement of installed state continues)",
               std::to_string(options.failsafe_timeout_s));
  flags.number("learning-budget", "N", &options.learning_budget,
               "addresses one workload may have the datapath install while the daemon is "
               "away (past --failsafe-timeout); beyond it, answers pass uninstalled (0: the "
               "datapath learns nothing)",
               std::to_string(options.learning_budget));
  flags.flag("verify-sni", &raw.verify_sni,
             "check the TLS and QUIC server name of every new flow to a learned address on "
             "--verify-sni-ports, for every rule (an Egress's spec.tls does it for its own): "
             "the flow is dropped unless its ClientHello names a server --sni-match allows");
  flags.list("verify-sni-ports", "PORT", &raw.verify_sni_ports,
             "port checked by --verify-sni, over TCP (TLS) and UDP (QUIC); repeatable", "443");
  flags.value("sni-match", "MODE", po::value(&raw.sni_match),
              "what server name --verify-sni lets through: learnedForAddress (an allowed name "
              "that resolved to the flow's address for the workload) or allowedByPolicy (any "
              "allowed name)",
              raw.sni_match, FlagKind::kValue);
  flags.flag("deny-queries", &options.deny_queries,
             "police the queries of every workload whose Egresses set no spec.queries: a query "
             "for a name its policy does not allow never leaves the node (it is answered "
             "nxdomain, or as --deny-response says), port 853 (DNS over TLS and QUIC) opens "
             "only by a rule that lists its ports, and --encrypted-dns-names only by exact "
             "names");
  flags.list("allow-query-suffix", "NAME", &raw.allow_query_suffixes,
             "with policed queries: a name that may be queried whatever the policy says, with "
             "every name below it (the cluster's, for search-path expansions); repeatable",
             "cluster.local with --kubernetes, none otherwise");
  flags.list("encrypted-dns-names", "NAME", &raw.encrypted_dns_names,
             "with policed queries: resolvers that serve DNS over HTTPS, which only a rule "
             "naming them exactly allows (no wildcard or regex does); repeatable",
             "dns.google, cloudflare-dns.com, dns.quad9.net and 21 other public resolvers");
  flags.flag("audit", &options.audit,
             "drop nothing: flows the policy does not allow pass and are recorded (see "
             "`skouterctl audit`), and denied names get their real answer");
  flags.number("audit-table-size", "N", &options.audit_table_size,
               "denied destinations (address, port, protocol) kept for `skouterctl audit`; the "
               "least recently seen goes first (0: keep none)",
               std::to_string(options.audit_table_size));
  flags.flag("fail-open", &options.fail_open,
             "also stop enforcing while the daemon is silent for --failsafe-timeout");
  flags.number("flow-idle-timeout", "S", &options.flow_idle_timeout_s,
               "seconds after which an idle allowed connection is judged anew",
               std::to_string(options.flow_idle_timeout_s));
  flags.number("event-rate-limit", "N", &options.event_rate_limit,
               "denied and audited flow events per second per CPU the datapath reports (for "
               "`skouterctl monitor` and `skouterctl audit`); beyond it they are counted only "
               "(0: no limit)",
               std::to_string(options.event_rate_limit));
  flags.value("reinject-mark", "N", po::value(&raw.reinject_mark),
              "socket mark of re-injected answers, which the datapath lets through",
              raw.reinject_mark, FlagKind::kValue);
  flags.list("node-label", "KEY=VALUE", &raw.node_labels,
             "label of this node for nodeSelector matching; repeatable", "none");
  flags.flag("kubernetes", &options.kubernetes,
             "also take Egress objects from the Kubernetes API and police this node's pods; "
             "the cluster DNS service's addresses become trusted resolvers");
  flags.value("kubeconfig", "PATH", po::value(&options.kubeconfig),
              "with --kubernetes: reach the API server as this kubeconfig file says",
              "the in-cluster service account", FlagKind::kValue);
  flags.value("node-name", "NAME", po::value(&options.node_name),
              "with --kubernetes: this node's name", "$NODE_NAME", FlagKind::kValue);
  flags.value("trusted-dns-service", "NS/NAME", po::value(&raw.trusted_dns_service),
              "with --kubernetes: the cluster DNS Service; its cluster IPs and endpoints are "
              "trusted resolvers",
              raw.trusted_dns_service, FlagKind::kValue);
  flags.list("admin-namespaces", "NS", &options.admin_namespaces,
             "with --kubernetes: namespace whose Egresses may select pods of other namespaces "
             "(namespaceSelector) and nodes (nodeSelector); an Egress of any other namespace "
             "may select pods of its own namespace only, and one with either selector is not "
             "enforced; repeatable",
             commaSeparated(options.admin_namespaces));
  flags.number("api-connection-timeout", "S", &options.api_connection_timeout_s,
               "with --kubernetes: seconds after which a connection to the API server that "
               "answers nothing, not even TCP keepalive probes, is closed and made anew (a dead "
               "watch would otherwise miss new pods until it times out, minutes later)",
               std::to_string(options.api_connection_timeout_s));
  flags.value("metrics-address", "HOST:PORT", po::value(&options.metrics_address),
              "also serve Prometheus metrics over HTTP here: IPv4:PORT, [IPv6]:PORT or "
              "localhost:PORT (the admin socket always serves /metrics)",
              "none", FlagKind::kValue);
  flags.value("log-level", "LEVEL", po::value(&options.log_level),
              "trace, debug, info, warn, error, critical or off", options.log_level,
              FlagKind::kValue);
  flags.value("log-format", "FORMAT", po::value(&raw.log_format),
              "text, or json: one object {\"time\", \"level\", \"message\"} per line",
              raw.log_format, FlagKind::kValue);
  flags.flag("detach", &options.detach,
             "remove the programs from the interfaces and the pinned maps, then exit; this "
             "drops all installed state and opens the firewall");
}

ParsedCommandLine usageError(const std::string& message) {
  return {std::nullopt, "skouterd: " + message + "\nTry 'skouterd --help'.", 2};
}

// A value of a numeric flag that is not a plain decimal number. (boost would read "-1"
// as a huge unsigned number.)
std::optional<std::string> notANumber(const Flags& flags, const po::option& option) {
  if (flags.kindOf(option.string_key) != FlagKind::kNumber) return std::nullopt;
  for (const auto& token : option.value) {
    if (token.empty() || token.find_first_not_of("0123456789") != std::string::npos) return token;
  }
  return std::nullopt;
}

// Why a setting of a configuration file has the wrong shape for its flag, if it has.
std::optional<std::string> wrongShape(FlagKind kind, const ConfigSetting& setting) {
  using Shape = ConfigSetting::Shape;
  switch (kind) {
    case FlagKind::kCommand:
      return std::nullopt;
    case FlagKind::kSwitch:
      if (setting.shape != Shape::kScalar) return "expected true or false";
      return std::nullopt;
    case FlagKind::kList:
      if (setting.shape == Shape::kMapping && setting.key != "node-label") {
        return "expected a value or a list of values, not a mapping";
      }
      return std::nullopt;
    case FlagKind::kValue:
    case FlagKind::kNumber:
      if (setting.shape != Shape::kScalar) return "expected a single value, not a list or mapping";
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

ParsedCommandLine parseCommandLine(int argc, const char* const* argv) {
  RawValues raw;
  Flags flags(kUsage);
  describeFlags(flags, raw);
  DaemonOptions& options = raw.options;

  po::variables_map values;
  try {
    const auto command_line =
        po::command_line_parser(argc, argv).options(flags.description()).run();
    for (const auto& option : command_line.options) {
      if (const auto token = notANumber(flags, option)) {
        return usageError("--" + option.string_key + ": '" + *token + "' is not a number");
      }
    }
    po::store(command_line, values);
  } catch (const po::error& error) {
    return usageError(error.what());
  }
  if (values.count("help")) {
    std::ostringstream text;
    text << flags.description();
    return {std::nullopt, text.str(), 0};
  }
  if (values.count("version")) {
    return {std::nullopt,
            std::string("skouterd ") + kVersion + " (layout " +
                std::to_string(SKOUTER_LAYOUT_VERSION) + ")",
            0};
  }

  // Where each value the configuration file gave came from: "FILE:LINE".
  std::map<std::string, std::string> from_file;
  if (values.count("config")) {
    const auto path = values["config"].as<std::string>();
    std::vector<ConfigSetting> settings;
    try {
      settings = readConfigFile(path);
    } catch (const ConfigFileError& error) {
      return usageError(error.what());
    }
    for (const auto& setting : settings) {
      const std::string where = path + ":" + std::to_string(setting.line);
      const auto kind = flags.kindOf(setting.key);
      if (!kind) {
        return usageError(where + ": unknown key '" + setting.key +
                          "' (the keys are skouterd's flags without `--`; see skouterd --help)");
      }
      if (kind == FlagKind::kCommand) {
        return usageError(where + ": " + setting.key + ": only on the command line");
      }
      if (const auto problem = wrongShape(*kind, setting)) {
        return usageError(where + ": " + setting.key + ": " + *problem);
      }
      if (values.count(setting.key) && !values[setting.key].defaulted()) continue;
      po::parsed_options parsed(&flags.description());
      parsed.options.emplace_back(setting.key, setting.values);
      if (const auto token = notANumber(flags, parsed.options.back())) {
        return usageError(where + ": " + setting.key + ": '" + *token + "' is not a number");
      }
      try {
        po::store(parsed, values);
      } catch (const po::error& error) {
        return usageError(where + ": " + error.what());
      }
      from_file[setting.key] = where;
    }
  }
  try {
    po::notify(values);
  } catch (const po::error& error) {
    return usageError(error.what());
  }

  // A bad value, named as the user wrote it: "--flag" or "FILE:LINE: flag".
  const auto invalid = [&](const std::string& key, const std::string& problem) {
    const auto file = from_file.find(key);
    return usageError((file == from_file.end() ? "--" + key : file->second + ": " + key) + ": " +
                      problem);
  };
  for (const auto& text : raw.trusted_dns) {
    auto address = resolver::parseResolverAddress(text);
    if (!address) return invalid("trusted-dns", "'" + text + "' is not ADDR[:PORT]");
    options.trusted_dns.push_back(*address);
  }
  for (const auto& label : raw.node_labels) {
    const auto equals = label.find('=');
    if (equals == std::string::npos || equals == 0) {
      return invalid("node-label", "'" + label + "' is not KEY=VALUE");
    }
    options.node_labels[label.substr(0, equals)] = label.substr(equals + 1);
  }
  try {
    std::size_t used = 0;
    const unsigned long mark = std::stoul(raw.reinject_mark, &used, 0);
    if (used != raw.reinject_mark.size() || mark == 0 || mark > 0xffffffffUL) {
      throw std::exception();
    }
    options.reinject_mark = static_cast<std::uint32_t>(mark);
  } catch (const std::exception&) {
    return invalid("reinject-mark", "'" + raw.reinject_mark + "' is not a non-zero 32-bit number");
  }
  const auto sni_match = policy::parseServerNameMatch(raw.sni_match);
  if (!sni_match) {
    return invalid("sni-match",
                   "'" + raw.sni_match + "' is not learnedForAddress or allowedByPolicy");
  }
  policy::PortSet sni_ports;
  for (const auto& text : raw.verify_sni_ports) {
    std::size_t used = 0;
    unsigned long port = 0;
    try {
      port = std::stoul(text, &used, 10);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != text.size() || port == 0 || port > 65535) {
      return invalid("verify-sni-ports", "'" + text + "' is not a port number from 1 to 65535");
    }
    const auto number = static_cast<std::uint16_t>(port);
    sni_ports.push_back({policy::PortProtocol::kTcp, number, number});
    sni_ports.push_back({policy::PortProtocol::kUdp, number, number});
  }
  if (sni_ports.size() > policy::kMaxPortRanges) {
    return invalid("verify-sni-ports", "at most " + std::to_string(policy::kMaxPortRanges / 2) +
                                           " ports can be checked");
  }
  if (raw.verify_sni) {
    options.verify_sni = policy::ServerNameCheck{
        .ports = sni_ports.empty() ? policy::defaultServerNamePorts()
                                   : policy::normalizePorts(std::move(sni_ports)),
        .match = *sni_match};
  } else if (!raw.verify_sni_ports.empty() || values.count("sni-match")) {
    return invalid(raw.verify_sni_ports.empty() ? "sni-match" : "verify-sni-ports",
                   "needs --verify-sni");
  }
  std::vector<std::string> query_suffixes = raw.allow_query_suffixes;
  if (query_suffixes.empty() && options.kubernetes) query_suffixes.push_back("cluster.local");
  for (const auto& text : query_suffixes) {
    const auto name = policy::canonicalDomain(text);
    if (!name) return invalid("allow-query-suffix", "'" + text + "' is not a DNS name");
    options.query_policing.queryable_suffixes.push_back(*name);
  }
  for (const auto& text :
       raw.encrypted_dns_names.empty() ? kPublicEncryptedDnsNames : raw.encrypted_dns_names) {
    const auto name = policy::canonicalDomain(text);
    if (!name) return invalid("encrypted-dns-names", "'" + text + "' is not a DNS name");
    options.query_policing.encrypted_dns_names.push_back(*name);
  }
  options.query_policing.deny_by_default = options.deny_queries;
  const auto response = resolver::parseDenyResponse(raw.deny_response);
  if (!response) {
    return invalid("deny-response",
                   "'" + raw.deny_response + "' is not passthrough, nxdomain or refused");
  }
  options.deny_response = *response;
  if (raw.verify_answers == "on" || raw.verify_answers == "true") {
    options.verify_answers = true;
  } else if (raw.verify_answers == "off" || raw.verify_answers == "false") {
    options.verify_answers = false;
  } else {
    return invalid("verify-answers", "'" + raw.verify_answers + "' is not on or off");
  }
  if (values.count("max-ttl")) {
    if (raw.max_ttl_s == 0) return invalid("max-ttl", "must be at least 1");
    if (raw.max_ttl_s < options.min_ttl_s) {
      return invalid("max-ttl", std::to_string(raw.max_ttl_s) + " is below --min-ttl " +
                                    std::to_string(options.min_ttl_s));
    }
    options.max_ttl_s = raw.max_ttl_s;
  }
  if (options.failsafe_timeout_s == 0) return invalid("failsafe-timeout", "must be at least 1");
  if (options.max_tcp_streams == 0) return invalid("max-tcp-streams", "must be at least 1");
  if (options.verify_timeout_ms == 0) return invalid("verify-timeout", "must be at least 1");
  if (options.answers_ring_share == 0 || options.answers_ring_share > 100) {
    return invalid("answers-ring-share", "must be 1 to 100");
  }
  // One connection's largest message and its segments after a gap fit in it.
  if (options.tcp_buffer_size < 1024 * 1024) {
    return invalid("tcp-buffer-size", "must be at least 1048576");
  }
  if (options.flow_idle_timeout_s == 0) return invalid("flow-idle-timeout", "must be at least 1");
  // Keepalive probes need whole seconds between them (a sixth of the timeout).
  if (options.api_connection_timeout_s < 6) {
    return invalid("api-connection-timeout", "must be at least 6");
  }
  const auto slash = raw.trusted_dns_service.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == raw.trusted_dns_service.size() ||
      raw.trusted_dns_service.find('/', slash + 1) != std::string::npos) {
    return invalid("trusted-dns-service",
                   "'" + raw.trusted_dns_service + "' is not NAMESPACE/NAME");
  }
  for (const auto& name : options.admin_namespaces) {
    if (!isNamespaceName(name)) {
      return invalid("admin-namespaces",
                     "'" + name +
                         "' is not a Kubernetes namespace name (at most 63 lower-case letters, "
                         "digits and '-', beginning and ending with a letter or digit)");
    }
  }
  options.trusted_dns_service_namespace = raw.trusted_dns_service.substr(0, slash);
  options.trusted_dns_service_name = raw.trusted_dns_service.substr(slash + 1);
  if (!options.metrics_address.empty() && !parseMetricsAddress(options.metrics_address)) {
    return invalid("metrics-address",
                   "'" + options.metrics_address +
                       "' is not IPv4:PORT, [IPv6]:PORT, IPv6:PORT or localhost:PORT "
                       "with a port from 1 to 65535");
  }
  if (spdlog::level::from_str(options.log_level) == spdlog::level::off &&
      options.log_level != "off") {
    return invalid("log-level", "'" + options.log_level +
                                    "' is not trace, debug, info, warn, error, critical or off");
  }
  if (raw.log_format == "text") {
    options.log_format = LogFormat::kText;
  } else if (raw.log_format == "json") {
    options.log_format = LogFormat::kJson;
  } else {
    return invalid("log-format", "'" + raw.log_format + "' is not text or json");
  }
  const auto attach_mode = parseAttachMode(raw.attach_mode);
  if (!attach_mode) {
    return invalid("attach-mode", "'" + raw.attach_mode + "' is not auto, tcx or tc");
  }
  options.attach_mode = *attach_mode;
  if (options.kubernetes && options.node_name.empty()) {
    if (const char* node_name = std::getenv("NODE_NAME")) options.node_name = node_name;
    if (options.node_name.empty()) {
      return usageError("--kubernetes needs this node's name: give --node-name or set NODE_NAME");
    }
  }
  if (!options.kubernetes && !options.kubeconfig.empty()) {
    return invalid("kubeconfig", "needs --kubernetes");
  }
  if (!options.detach && !options.kubernetes && options.policy_path.empty()) {
    return usageError("--policy is required (or --kubernetes)");
  }
  if (options.policy_path == "-") return invalid("policy", "'-' is not supported; give a path");
  return {options, "", 0};
}

std::vector<std::string> longFlagNames() {
  RawValues raw;
  Flags flags(kUsage);
  describeFlags(flags, raw);
  std::vector<std::string> names;
  for (const auto& option : flags.description().options()) {
    names.push_back(option->long_name());
  }
  return names;
}

std::optional<ListenAddress> parseMetricsAddress(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string host(text.substr(0, colon));
  const std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  const auto [end, error] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (error != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
      port > 65535) {
    return std::nullopt;
  }
  in6_addr address{};
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (inet_pton(AF_INET6, host.c_str(), &address) != 1) return std::nullopt;
  } else if (host != "localhost" && inet_pton(AF_INET, host.c_str(), &address) != 1 &&
             inet_pton(AF_INET6, host.c_str(), &address) != 1) {
    return std::nullopt;
  }
  return ListenAddress{host, static_cast<std::uint16_t>(port)};
}

bool isNamespaceName(std::string_view name) {
  const auto lower_or_digit = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  };
  return !name.empty() && name.size() <= 63 && lower_or_digit(name.front()) &&
         lower_or_digit(name.back()) && std::all_of(name.begin(), name.end(), [&](char c) {
           return lower_or_digit(c) || c == '-';
         });
}

}  // namespace skouter::daemon
