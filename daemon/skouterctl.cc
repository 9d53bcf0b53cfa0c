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
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/ctl_views.h"
#include "daemon/event_types.h"
#include "daemon/version.h"
#include "policy/audit_suggestion.h"

namespace {
namespace http = boost::beast::http;
using nlohmann::json;

constexpr const char* kUsage =
    "Usage: skouterctl [--socket PATH] COMMAND [-o table|json]\n"
    "\n"
    "Commands:\n"
    "  status          one screen: version and layout, uptime, whether the state was taken\n"
    "                  over, attach points, trusted resolvers, heartbeat, table and ring\n"
    "                  fill, packet and answer counts, policy reloads, pods, readiness\n"
    "                  (-o json: everything the daemon reports)\n"
    "  entries [--name PATTERN] [--identity ID] [--expiring-within S]\n"
    "          [--sort workload|ip|name|expiry]\n"
    "                  allowed addresses: workload, ip, names, expiry, ports, rule.\n"
    "                  --name: an exact name or *.example.com (names below it), any case;\n"
    "                  --identity: a number or a workload (host, NAMESPACE/POD);\n"
    "                  --expiring-within: entries that expire within S seconds;\n"
    "                  --sort: workload then ip (default), ip, name, or expiry (soonest\n"
    "                  first, never last)\n"
    "  monitor [--identity ID] [--verdict V] [--type flow|dns|dns_query|server_name|policy]\n"
    "                  decisions as they happen, one line each, until interrupted: denied\n"
    "                  and audited flows, DNS answers, policy reloads (-o json: the\n"
    "                  daemon's NDJSON); --verdict: denied, audited, allowed, malformed,\n"
    "                  question_mismatch, install_failed, applied or failed\n"
    "  policies        the loaded Egress documents, their source, mode and what they select\n"
    "  audit           flows the policy denied (dropped, or passed by audit mode), with the\n"
    "                  names behind each destination, count, first and last seen, and\n"
    "                  late connections (to an address learned for the workload, expired)\n"
    "  audit suggest [--name NAME]\n"
    "                  an Egress (YAML) that would allow every flow `audit` lists, by name\n"
    "                  where an answer named the destination, with a minTTL for names with\n"
    "                  late connections; review it before use\n"
    "  explain --dst ADDR [--port N] [--proto tcp|udp|sctp|icmp] [--src ADDR] [--sni NAME]\n"
    "                  whether a new flow would pass now, and why (--src: an address of\n"
    "                  this node, the default, or of a policed pod on it)\n"
    "  health          exits 0 while skouterd answers (a liveness probe)\n"
    "  ready           exits 0 once skouterd enforces what it should: with --kubernetes,\n"
    "                  after the cluster was listed and applied (a readiness probe)\n"
    "\n"
    "Flags:\n"
    "  --socket PATH   admin socket of skouterd (default /run/skouter/skouterd.sock)\n"
    "  -o FORMAT       table (default) or json\n"
    "  --version       print the version\n"
    "A flag's value may also follow an equals sign: --name=*.example.com\n";

// The flags that take a value, by the command they apply to.
const std::map<std::string, std::set<std::string>> kCommandFlags = {
    {"explain", {"dst", "port", "proto", "src", "sni"}},
    {"audit suggest", {"name"}},
    {"entries", {"name", "identity", "expiring-within", "sort"}},
    {"monitor", {"identity", "verdict", "type"}},
};

boost::asio::local::stream_protocol::socket connectTo(boost::asio::io_context& io,
                                                      const std::string& socket_path) {
  boost::asio::local::stream_protocol::socket socket(io);
  boost::system::error_code error;
  socket.connect(boost::asio::local::stream_protocol::endpoint(socket_path), error);
  if (error) {
    throw std::runtime_error("cannot connect to skouterd at " + socket_path + ": " +
                             error.message() + " (is skouterd running? see --socket)");
  }
  return socket;
}

void sendGet(boost::asio::local::stream_protocol::socket& socket, const std::string& target) {
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, "skouterd");
  http::write(socket, request);
}

// The daemon's reason for an answer other than 200, as an exception.
[[noreturn]] void throwRefusal(http::status status, const std::string& body_text) {
  const auto body = json::parse(body_text, nullptr, false);
  std::string message = body_text;
  for (const char* key : {"error", "reason"}) {
    if (body.is_object() && body.contains(key) && body[key].is_string()) {
      message = body[key].get<std::string>();
      break;
    }
  }
  throw std::runtime_error("skouterd answered " + std::to_string(static_cast<unsigned>(status)) +
                           ": " + message);
}

json get(const std::string& socket_path, const std::string& target) {
  boost::asio::io_context io;
  auto socket = connectTo(io, socket_path);
  sendGet(socket, target);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(socket, buffer, response);
  if (response.result() != http::status::ok) throwRefusal(response.result(), response.body());
  auto body = json::parse(response.body(), nullptr, false);
  if (body.is_discarded()) throw std::runtime_error("skouterd sent a body that is not JSON");
  return body;
}

// Prints each event of the endless /v1/events stream the moment its line is complete;
// returns only by throwing, when the daemon goes away.
[[noreturn]] void monitor(const std::string& socket_path, const std::string& target, bool raw) {
  boost::asio::io_context io;
  auto socket = connectTo(io, socket_path);
  sendGet(socket, target);
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  // The stream has no end, so no limit. (Not boost::none: Boost 1.74 then rejects every
  // body with a Content-Length, such as an error's.)
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  http::read_header(socket, buffer, parser);
  if (parser.get().result() != http::status::ok) {
    http::read(socket, buffer, parser);
    throwRefusal(parser.get().result(), parser.get().body());
  }
  std::string pending;
  // The parser keeps a reference to it.
  auto print_lines = [&](std::uint64_t, boost::beast::string_view data, boost::beast::error_code&) {
    pending.append(data.data(), data.size());
    std::size_t start = 0;
    for (auto end = pending.find('\n'); end != std::string::npos;
         start = end + 1, end = pending.find('\n', start)) {
      const std::string line = pending.substr(start, end - start);
      const auto event = raw ? json() : json::parse(line, nullptr, false);
      std::cout << (raw || event.is_discarded()
                        ? line
                        : skouter::ctl::eventLine(event, skouter::ctl::Clock::kLocal))
                << std::endl;
    }
    pending.erase(0, start);
    return data.size();
  };
  parser.on_chunk_body(print_lines);
  // Until the daemon hangs up: a read error means the same.
  boost::beast::error_code error;
  while (!error && !parser.is_done()) http::read_some(socket, buffer, parser, error);
  throw std::runtime_error("skouterd closed the event stream (did it stop or restart?)");
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
  for (const auto& line : skouter::ctl::statusLines(status)) std::cout << line << "\n";
}

std::string isoTime(std::int64_t seconds_since_epoch) {
  const std::time_t time = seconds_since_epoch;
  std::tm utc{};
  gmtime_r(&time, &utc);
  std::ostringstream text;
  text << std::put_time(&utc, "%Y-%m-%dT%H:%M:%SZ");
  return text.str();
}

// "3 late: learned for api.example.com, expired 12 s ago" (the latest), or "-".
std::string late(const json& record) {
  const std::string latest = skouter::ctl::lateConnectionText(record);
  if (latest.empty()) return "-";
  return scalar(record["late_count"]) + " late: " + latest;
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
                    isoTime(record["last_seen"].get<std::int64_t>()), late(record)});
  }
  printTable({"IDENTITY", "DESTINATION", "PORT", "NAMES", "VERDICT", "COUNT", "FIRST SEEN",
              "LAST SEEN", "LATE"},
             rows);
  if (!audit.contains("denied_queries") || audit["denied_queries"].empty()) return;
  // Queries never left the node: a workload with many distinct names at a steady rate
  // is writing data into them.
  rows.clear();
  for (const auto& denied : audit["denied_queries"]) {
    std::string names;
    for (const auto& name : denied["latest_names"])
      names += (names.empty() ? "" : ",") + scalar(name);
    char rate[32];
    std::snprintf(rate, sizeof(rate), "%.1f", denied["per_minute"].get<double>());
    rows.push_back({scalar(denied["identity"]), scalar(denied["workload"]),
                    scalar(denied["denied"]), rate, names,
                    isoTime(denied["last_seen"].get<std::int64_t>())});
  }
  std::cout << "\nDenied queries:\n";
  printTable({"IDENTITY", "WORKLOAD", "DENIED", "PER MINUTE", "LATEST NAMES", "LAST SEEN"}, rows);
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
    // A daemon before late connections sends neither.
    if (record.contains("late") && record["late"].is_object()) {
      const json& late = record["late"];
      flow.late_count = record.value("late_count", std::uint64_t{0});
      flow.late_expired_ago_s = late.value("max_expired_ago_s", std::uint64_t{0});
      flow.late_open_for_s = late.value("max_open_for_s", std::uint64_t{0});
      if (flow.names.empty()) flow.names = late["names"].get<std::vector<std::string>>();
    }
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
  std::set<std::string> value_flags;
  for (const auto& [ignored, flags] : kCommandFlags) value_flags.insert(flags.begin(), flags.end());
  std::map<std::string, std::string> values;  // of the flags in kCommandFlags
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto equals = arg.find('=');
    const std::string name = arg.starts_with("--") ? arg.substr(2, equals - 2) : "";
    if ((arg == "--socket" || arg == "-o") && i + 1 < argc) {
      (arg == "--socket" ? socket_path : format) = argv[++i];
    } else if (value_flags.count(name)) {
      if (equals != std::string::npos) {
        values[name] = arg.substr(equals + 1);
      } else if (i + 1 < argc) {
        values[name] = argv[++i];
      } else {
        std::cerr << "skouterctl: --" << name << " needs a value\n";
        return 2;
      }
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
      command != "explain" && command != "health" && command != "ready" && command != "monitor") {
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
  const std::string invoked = subcommand.empty() ? command : command + " " + subcommand;
  const auto applicable = kCommandFlags.find(invoked);
  for (const auto& [key, value] : values) {
    if (applicable == kCommandFlags.end() || !applicable->second.count(key)) {
      std::cerr << "skouterctl: --" << key << " does not apply to " << invoked << "\n";
      return 2;
    }
  }
  const auto valueOf = [&values](const std::string& key) {
    const auto found = values.find(key);
    return found == values.end() ? std::string() : found->second;
  };
  skouter::ctl::EntryFilter entry_filter{valueOf("name"), valueOf("identity"), std::nullopt};
  auto entry_sort = skouter::ctl::EntrySort::kWorkload;
  if (command == "entries") {
    if (values.count("sort")) {
      const auto sort = skouter::ctl::parseEntrySort(valueOf("sort"));
      if (!sort) {
        std::cerr << "skouterctl: --sort must be workload, ip, name or expiry\n";
        return 2;
      }
      entry_sort = *sort;
    }
    if (values.count("expiring-within")) {
      const std::string text = valueOf("expiring-within");
      char* end = nullptr;
      const double seconds = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0' || !(seconds >= 0)) {
        std::cerr << "skouterctl: --expiring-within: '" << text << "' is not a number of seconds\n";
        return 2;
      }
      entry_filter.expiring_within_s = seconds;
    }
  }
  const std::string type = valueOf("type");
  if (command == "monitor" && values.count("type") && !skouter::daemon::isEventType(type)) {
    std::cerr << "skouterctl: --type must be " << skouter::daemon::kEventTypeList << "\n";
    return 2;
  }
  try {
    std::string target = "/v1/" + (command == "monitor" ? std::string("events") : command);
    // The other commands' flags are the client's own.
    if (command == "explain" || command == "monitor") {
      std::vector<std::pair<std::string, std::string>> parameters;
      for (const auto* key :
           {"src", "dst", "port", "proto", "sni", "identity", "verdict", "type"}) {
        if (values.count(key)) parameters.emplace_back(key, valueOf(key));
      }
      if (!parameters.empty()) target += "?" + queryOf(parameters);
    }
    if (command == "monitor") monitor(socket_path, target, format == "json");
    json body = get(socket_path, target);
    if (command == "entries") body = skouter::ctl::selectEntries(body, entry_filter, entry_sort);
    if (subcommand == "suggest") {
      std::cout << suggestionFrom(body, valueOf("name"));
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
