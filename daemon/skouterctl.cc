// skouterctl: asks a running skouterd over its admin socket and prints the answer as
// an aligned table or as JSON.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/version.h"
#include "policy/audit_suggestion.h"

namespace {
namespace http = boost::beast::http;
using nlohmann::json;

constexpr const char* kUsage =
    "Usage: skouterctl [--socket PATH] COMMAND [-o table|json]\n"
    "\n"
    "Commands:\n"
    "  status          version, interfaces, trusted resolvers, entry counts, counters\n"
    "  entries         every allowed address: identity, ip, names, expiry, ports, rule\n"
    "  policies        the loaded Egress documents, their source, mode and what they select\n"
    "  audit           flows the policy denied (dropped, or passed by audit mode), with the\n"
    "                  names behind each destination, count, first and last seen\n"
    "  audit suggest [--name NAME]\n"
    "                  an Egress (YAML) that would allow every flow `audit` lists, by name\n"
    "                  where an answer named the destination; review it before use\n"
    "  explain --dst ADDR [--port N] [--proto tcp|udp|sctp|icmp] [--src ADDR]\n"
    "                  whether a new flow would pass now, and why (--src: an address of\n"
    "                  this node, the default, or of a policed pod on it)\n"
    "  health          exits 0 while skouterd answers (a liveness probe)\n"
    "  ready           exits 0 once skouterd enforces what it should: with --kubernetes,\n"
    "                  after the cluster was listed and applied (a readiness probe)\n"
    "\n"
    "Flags:\n"
    "  --socket PATH   admin socket of skouterd (default /run/skouter/skouterd.sock)\n"
    "  -o FORMAT       table (default) or json\n"
    "  --version       print the version\n";

json get(const std::string& socket_path, const std::string& target) {
  boost::asio::io_context io;
  boost::asio::local::stream_protocol::socket socket(io);
  boost::system::error_code error;
  socket.connect(boost::asio::local::stream_protocol::endpoint(socket_path), error);
  if (error) {
    throw std::runtime_error("cannot connect to skouterd at " + socket_path + ": " +
                             error.message() + " (is skouterd running? see --socket)");
  }
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, "skouterd");
  http::write(socket, request);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(socket, buffer, response);
  auto body = json::parse(response.body(), nullptr, false);
  if (response.result() != http::status::ok) {
    std::string message = response.body();
    for (const char* key : {"error", "reason"}) {
      if (body.is_object() && body.contains(key) && body[key].is_string()) {
        message = body[key].get<std::string>();
        break;
      }
    }
    throw std::runtime_error("skouterd answered " + std::to_string(response.result_int()) + ": " +
                             message);
  }
  if (body.is_discarded()) throw std::runtime_error("skouterd sent a body that is not JSON");
  return body;
}

void printTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(header.size());
  for (std::size_t i = 0; i < header.size(); ++i) widths[i] = header[i].size();
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  const auto printRow = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] + 2 - row[i].size(), ' ');
    }
    std::cout << line << "\n";
  };
  printRow(header);
  for (const auto& row : rows) printRow(row);
}

std::string scalar(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "-";
  return value.dump();
}

void printEntries(const json& entries) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& entry : entries) {
    std::string names;
    for (const auto& name : entry["names"]) names += (names.empty() ? "" : ",") + scalar(name);
    std::string expires = "never";
    if (!entry["expires_in_s"].is_null()) {
      std::ostringstream text;
      text << std::fixed << std::setprecision(1) << entry["expires_in_s"].get<double>() << "s";
      expires = text.str();
    }
    rows.push_back({scalar(entry["workload"]), scalar(entry["ip"]), names.empty() ? "-" : names,
                    expires, scalar(entry["ports"]), scalar(entry["rule"])});
  }
  printTable({"WORKLOAD", "IP", "NAMES", "EXPIRES IN", "PORTS", "RULE"}, rows);
}

void printPolicies(const json& policies) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& policy : policies) {
    std::string selects;
    for (const auto& identity : policy["identities"]) {
      selects += (selects.empty() ? "" : ",") + scalar(identity);
    }
    const std::string name = policy["namespace"].get<std::string>().empty()
                                 ? scalar(policy["name"])
                                 : scalar(policy["namespace"]) + "/" + scalar(policy["name"]);
    rows.push_back({name, scalar(policy["source"]) + " #" + scalar(policy["document"]),
                    selects.empty() ? "-" : selects, scalar(policy["mode"]),
                    std::to_string(policy["rules"].size())});
  }
  printTable({"EGRESS", "SOURCE", "SELECTS", "MODE", "RULES"}, rows);
}

void printStatus(const json& status) {
  std::vector<std::vector<std::string>> rows;
  const auto join = [](const json& list) {
    std::string text;
    for (const auto& item : list) text += (text.empty() ? "" : ", ") + scalar(item);
    return text.empty() ? "-" : text;
  };
  rows.push_back({"version", scalar(status["version"])});
  rows.push_back({"uptime", scalar(status["uptime_s"]) + "s"});
  rows.push_back({"state", status["took_over_pinned_state"].get<bool>()
                               ? "taken over from " + scalar(status["bpffs"])
                               : "created in " + scalar(status["bpffs"])});
  rows.push_back({"interfaces", join(status["interfaces"])});
  rows.push_back({"trusted resolvers", join(status["trusted_resolvers"])});
  rows.push_back({"host policed", status["host_policed"].get<bool>() ? "yes" : "no"});
  rows.push_back({"ready", status["ready"].get<bool>() ? "yes" : "no"});
  if (status["kubernetes"].is_object()) {
    const auto& kubernetes = status["kubernetes"];
    rows.push_back({"kubernetes", scalar(kubernetes["api_server"]) + " as node " +
                                      scalar(kubernetes["node"]) +
                                      (kubernetes["synced"].get<bool>() ? "" : " (not synced)")});
    for (const auto& [collection, stats] : kubernetes.items()) {
      if (!stats.is_object()) continue;
      rows.push_back(
          {"  " + collection,
           scalar(stats["objects"]) + " objects, " + scalar(stats["lists"]) + " lists, " +
               scalar(stats["watches"]) + " watches, " + scalar(stats["expired"]) + " expired, " +
               scalar(stats["errors"]) + " errors" +
               (stats["last_error"].is_null() ? "" : " (" + scalar(stats["last_error"]) + ")")});
    }
  }
  for (const auto& pod : status["pods"]) {
    rows.push_back({"pod " + scalar(pod["pod"]),
                    "identity " + scalar(pod["identity"]) + " on " + scalar(pod["interface"]) +
                        (pod["problem"].is_null() ? "" : ": " + scalar(pod["problem"]))});
  }
  rows.push_back({"heartbeat age", scalar(status["heartbeat_age_ms"]) + "ms"});
  rows.push_back({"entries", "learned " + scalar(status["entries"]["learned"]) + ", static " +
                                 scalar(status["entries"]["static"])});
  rows.push_back({"policy reloads", "applied " + scalar(status["policy_reloads"]["applied"]) +
                                        ", failed " + scalar(status["policy_reloads"]["failed"])});
  rows.push_back({"last policy error", scalar(status["last_policy_error"])});
  for (const auto& policy : status["policies"]) {
    rows.push_back(
        {"policy", scalar(policy["name"]) + " (" + scalar(policy["source"]) + ")" +
                       (policy["selects_this_node"].get<bool>() ? "" : " [not this node]")});
  }
  for (const auto& [group, counters] : status["counters"].items()) {
    for (const auto& [name, value] : counters.items()) {
      rows.push_back({group + "." + name, scalar(value)});
    }
  }
  printTable({"FIELD", "VALUE"}, rows);
}

std::string isoTime(std::int64_t seconds_since_epoch) {
  const std::time_t time = seconds_since_epoch;
  std::tm utc{};
  gmtime_r(&time, &utc);
  std::ostringstream text;
  text << std::put_time(&utc, "%Y-%m-%dT%H:%M:%SZ");
  return text.str();
}

void printAudit(const json& audit) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& record : audit["records"]) {
    std::string names;
    for (const auto& name : record["names"]) names += (names.empty() ? "" : ",") + scalar(name);
    const int port = record["port"].get<int>();
    rows.push_back({scalar(record["identity"]), scalar(record["destination"]),
                    (port ? std::to_string(port) + "/" : "") +
                        skouter::ipProtocolName(record["protocol"].get<std::uint8_t>()),
                    names.empty() ? "-" : names, scalar(record["verdict"]), scalar(record["count"]),
                    isoTime(record["first_seen"].get<std::int64_t>()),
                    isoTime(record["last_seen"].get<std::int64_t>())});
  }
  printTable(
      {"IDENTITY", "DESTINATION", "PORT", "NAMES", "VERDICT", "COUNT", "FIRST SEEN", "LAST SEEN"},
      rows);
}

std::string suggestionFrom(const json& audit, const std::string& name) {
  std::vector<skouter::policy::ObservedFlow> flows;
  for (const auto& record : audit["records"]) {
    skouter::policy::ObservedFlow flow;
    const auto destination = skouter::IpAddress::parse(record["destination"].get<std::string>());
    if (!destination) continue;
    flow.destination = *destination;
    flow.protocol = record["protocol"].get<std::uint8_t>();
    flow.port = record["port"].get<std::uint16_t>();
    flow.names = record["names"].get<std::vector<std::string>>();
    flows.push_back(std::move(flow));
  }
  skouter::policy::SuggestionOptions options;
  if (!name.empty()) options.name = name;
  return skouter::policy::suggestEgress(flows, options);
}

// "a=b&c=d" with every byte that is not plainly safe percent-encoded.
std::string queryOf(const std::vector<std::pair<std::string, std::string>>& parameters) {
  std::string query;
  for (const auto& [key, value] : parameters) {
    query += (query.empty() ? "" : "&") + key + "=";
    for (const unsigned char c : value) {
      if (std::isalnum(c) || c == '.' || c == ':' || c == '-' || c == '_') {
        query += static_cast<char>(c);
      } else {
        char escaped[4];
        std::snprintf(escaped, sizeof(escaped), "%%%02X", c);
        query += escaped;
      }
    }
  }
  return query;
}

void printExplanation(const json& explanation) {
  std::cout << scalar(explanation["verdict"]) << ": " << scalar(explanation["reason"]) << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path = "/run/skouter/skouterd.sock";
  std::string format = "table";
  std::string command;
  std::string subcommand;
  std::map<std::string, std::string> values;  // --dst, --port, --proto, --src, --name
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--socket" || arg == "-o") && i + 1 < argc) {
      (arg == "--socket" ? socket_path : format) = argv[++i];
    } else if ((arg == "--dst" || arg == "--port" || arg == "--proto" || arg == "--src" ||
                arg == "--name") &&
               i + 1 < argc) {
      values[arg.substr(2)] = argv[++i];
    } else if (command == "audit" && subcommand.empty() && arg == "suggest") {
      subcommand = arg;
    } else if (arg.starts_with("--socket=")) {
      socket_path = arg.substr(9);
    } else if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (arg == "--version") {
      std::cout << "skouterctl " << skouter::daemon::kVersion << "\n";
      return 0;
    } else if (command.empty() && !arg.starts_with("-")) {
      command = arg;
    } else {
      std::cerr << "skouterctl: unexpected argument '" << arg << "'\n" << kUsage;
      return 2;
    }
  }
  if (command != "status" && command != "entries" && command != "policies" && command != "audit" &&
      command != "explain" && command != "health" && command != "ready") {
    std::cerr << (command.empty() ? "skouterctl: no command\n"
                                  : "skouterctl: unknown command '" + command + "'\n")
              << kUsage;
    return 2;
  }
  if (format != "table" && format != "json") {
    std::cerr << "skouterctl: -o must be table or json\n";
    return 2;
  }
  if (command == "explain" && !values.count("dst")) {
    std::cerr << "skouterctl: explain needs --dst ADDR\n" << kUsage;
    return 2;
  }
  const bool takes_values = command == "explain" || subcommand == "suggest";
  for (const auto& [key, value] : values) {
    const bool fits = command == "explain" ? key != "name" : key == "name";
    if (!takes_values || !fits) {
      std::cerr << "skouterctl: --" << key << " does not apply to " << command << "\n";
      return 2;
    }
  }
  try {
    std::string target = "/v1/" + command;
    if (command == "explain") {
      std::vector<std::pair<std::string, std::string>> parameters;
      for (const char* key : {"src", "dst", "port", "proto"}) {
        if (values.count(key)) parameters.emplace_back(key, values[key]);
      }
      target += "?" + queryOf(parameters);
    }
    const json body = get(socket_path, target);
    if (subcommand == "suggest") {
      std::cout << suggestionFrom(body, values["name"]);
    } else if (format == "json") {
      std::cout << body.dump(2) << "\n";
    } else if (command == "entries") {
      printEntries(body);
    } else if (command == "policies") {
      printPolicies(body);
    } else if (command == "audit") {
      printAudit(body);
    } else if (command == "explain") {
      printExplanation(body);
    } else if (command == "health" || command == "ready") {
      std::cout << command << ": ok\n";
    } else {
      printStatus(body);
    }
  } catch (const std::exception& error) {
    std::cerr << "skouterctl: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
