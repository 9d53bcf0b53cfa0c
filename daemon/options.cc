#include "daemon/options.h"

#include <boost/program_options.hpp>
#include <cstdlib>
#include <sstream>

#include "daemon/version.h"

namespace skouter::daemon {
namespace po = boost::program_options;

namespace {

ParsedCommandLine usageError(const std::string& message) {
  return {std::nullopt, "skouterd: " + message + "\nTry 'skouterd --help'.", 2};
}

}  // namespace

ParsedCommandLine parseCommandLine(int argc, const char* const* argv) {
  DaemonOptions options;
  std::vector<std::string> trusted_dns;
  std::vector<std::string> node_labels;
  std::string reinject_mark = "0x5c0a";
  std::string deny_response = "passthrough";
  std::uint32_t max_ttl_s = 0;
  std::string trusted_dns_service = "kube-system/kube-dns";

  po::options_description description(
      "skouterd: DNS-driven egress firewall daemon\n\nUsage: skouterd --policy PATH [flags]\n"
      "       skouterd --kubernetes [--node-name NAME] [--policy PATH] [flags]\n"
      "       skouterd --detach [--interface NAME]... [--bpffs PATH]\n\nFlags");
  // One flag per block: name, value, help. (clang-format would run them together.)
  // clang-format off
  description.add_options()
      ("help,h", "print this help and exit")
      ("version", "print the version and exit")
      ("policy", po::value(&options.policy_path),
       "Egress policy: a YAML file (several documents allowed) or a directory of *.yaml/*.yml")
      ("interface", po::value(&options.interfaces),
       "uplink to police (repeatable; default: the interface of the default route)")
      ("trusted-dns", po::value(&trusted_dns),
       "trusted resolver ADDR[:PORT] or [ADDR6]:PORT (repeatable; default: the nameservers "
       "of /etc/resolv.conf, or a local stub resolver's upstream servers)")
      ("admin-socket", po::value(&options.admin_socket)->default_value(options.admin_socket),
       "Unix socket of the admin API (mode 0600)")
      ("bpffs", po::value(&options.bpffs)->default_value(options.bpffs),
       "directory in bpffs where the maps are pinned (bpffs is mounted if needed)")
      ("min-ttl", po::value(&options.min_ttl_s)->default_value(options.min_ttl_s),
       "seconds: learned addresses live at least this long, whatever the answer's TTL")
      ("max-ttl", po::value(&max_ttl_s),
       "seconds: cap every TTL of delivered answers and every learned expiry, so clients "
       "never cache an address longer than the firewall keeps it (default: no cap)")
      ("ttl-grace", po::value(&options.ttl_grace_s)->default_value(options.ttl_grace_s),
       "seconds added to every learned address's expiry, for clients that connect late")
      ("deny-response", po::value(&deny_response)->default_value(deny_response),
       "answer to a name the policy does not allow: passthrough (the real answer; "
       "connections are still dropped), nxdomain or refused")
      ("block-private-answers", po::bool_switch(&options.block_private_answers),
       "remove A/AAAA records pointing into private, loopback, link-local or CGNAT ranges "
       "unless a static rule allows them (DNS rebinding protection)")
      ("max-ips-per-name",
       po::value(&options.max_ips_per_name)->default_value(options.max_ips_per_name),
       "addresses one name keeps open; beyond it the least recently answered goes "
       "(0: no limit)")
      ("failsafe-timeout",
       po::value(&options.failsafe_timeout_s)->default_value(options.failsafe_timeout_s),
       "seconds without a daemon heartbeat after which DNS answers pass untouched "
       "(enforcement of installed state continues)")
      ("audit", po::bool_switch(&options.audit),
       "drop nothing: flows the policy does not allow pass and are recorded (see "
       "`skouterctl audit`), and denied names get their real answer")
      ("audit-table-size",
       po::value(&options.audit_table_size)->default_value(options.audit_table_size),
       "denied destinations (address, port, protocol) kept for `skouterctl audit`; the least "
       "recently seen goes first (0: keep none)")
      ("fail-open", po::bool_switch(&options.fail_open),
       "also stop enforcing while the daemon is silent for --failsafe-timeout")
      ("flow-idle-timeout",
       po::value(&options.flow_idle_timeout_s)->default_value(options.flow_idle_timeout_s),
       "seconds after which an idle allowed connection is judged anew")
      ("reinject-mark", po::value(&reinject_mark)->default_value(reinject_mark),
       "socket mark of re-injected answers, which the datapath lets through")
      ("node-label", po::value(&node_labels),
       "KEY=VALUE label of this node for nodeSelector matching (repeatable)")
      ("kubernetes", po::bool_switch(&options.kubernetes),
       "also take Egress objects from the Kubernetes API and police this node's pods; "
       "the cluster DNS service's addresses become trusted resolvers")
      ("kubeconfig", po::value(&options.kubeconfig),
       "with --kubernetes: reach the API server as this kubeconfig file says (default: the "
       "in-cluster service account)")
      ("node-name", po::value(&options.node_name),
       "with --kubernetes: this node's name (default: $NODE_NAME)")
      ("trusted-dns-service", po::value(&trusted_dns_service)->default_value(trusted_dns_service),
       "with --kubernetes: NAMESPACE/NAME of the cluster DNS Service; its cluster IPs and "
       "endpoints are trusted resolvers")
      ("log-level", po::value(&options.log_level)->default_value(options.log_level),
       "trace, debug, info, warn, error or off")
      ("detach", po::bool_switch(&options.detach),
       "remove the programs from the interfaces and the pinned maps, then exit; this "
       "drops all installed state and opens the firewall");
  // clang-format on

  po::variables_map values;
  try {
    po::store(po::command_line_parser(argc, argv).options(description).run(), values);
    po::notify(values);
  } catch (const po::error& error) {
    return usageError(error.what());
  }
  if (values.count("help")) {
    std::ostringstream text;
    text << description;
    return {std::nullopt, text.str(), 0};
  }
  if (values.count("version")) return {std::nullopt, std::string("skouterd ") + kVersion, 0};

  for (const auto& text : trusted_dns) {
    auto address = resolver::parseResolverAddress(text);
    if (!address) return usageError("--trusted-dns: '" + text + "' is not ADDR[:PORT]");
    options.trusted_dns.push_back(*address);
  }
  for (const auto& label : node_labels) {
    const auto equals = label.find('=');
    if (equals == std::string::npos || equals == 0) {
      return usageError("--node-label: '" + label + "' is not KEY=VALUE");
    }
    options.node_labels[label.substr(0, equals)] = label.substr(equals + 1);
  }
  try {
    std::size_t used = 0;
    const unsigned long mark = std::stoul(reinject_mark, &used, 0);
    if (used != reinject_mark.size() || mark == 0 || mark > 0xffffffffUL) throw std::exception();
    options.reinject_mark = static_cast<std::uint32_t>(mark);
  } catch (const std::exception&) {
    return usageError("--reinject-mark: '" + reinject_mark + "' is not a non-zero 32-bit number");
  }
  const auto response = resolver::parseDenyResponse(deny_response);
  if (!response) {
    return usageError("--deny-response: '" + deny_response +
                      "' is not passthrough, nxdomain or refused");
  }
  options.deny_response = *response;
  if (values.count("max-ttl")) {
    if (max_ttl_s == 0) return usageError("--max-ttl must be at least 1");
    if (max_ttl_s < options.min_ttl_s) {
      return usageError("--max-ttl " + std::to_string(max_ttl_s) + " is below --min-ttl " +
                        std::to_string(options.min_ttl_s));
    }
    options.max_ttl_s = max_ttl_s;
  }
  if (options.failsafe_timeout_s == 0) return usageError("--failsafe-timeout must be at least 1");
  if (options.flow_idle_timeout_s == 0) return usageError("--flow-idle-timeout must be at least 1");
  const auto slash = trusted_dns_service.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == trusted_dns_service.size() ||
      trusted_dns_service.find('/', slash + 1) != std::string::npos) {
    return usageError("--trusted-dns-service: '" + trusted_dns_service + "' is not NAMESPACE/NAME");
  }
  options.trusted_dns_service_namespace = trusted_dns_service.substr(0, slash);
  options.trusted_dns_service_name = trusted_dns_service.substr(slash + 1);
  if (options.kubernetes && options.node_name.empty()) {
    if (const char* node_name = std::getenv("NODE_NAME")) options.node_name = node_name;
    if (options.node_name.empty()) {
      return usageError("--kubernetes needs this node's name: give --node-name or set NODE_NAME");
    }
  }
  if (!options.kubernetes && !options.kubeconfig.empty()) {
    return usageError("--kubeconfig needs --kubernetes");
  }
  if (!options.detach && !options.kubernetes && options.policy_path.empty()) {
    return usageError("--policy is required (or --kubernetes)");
  }
  if (options.policy_path == "-") return usageError("--policy - is not supported; give a path");
  return {options, "", 0};
}

}  // namespace skouter::daemon
