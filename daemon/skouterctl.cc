// skouterctl: asks a running skouterd over its admin socket and prints the answer as
// an aligned table or as JSON.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/version.h"

namespace {
namespace http = boost::beast::http;
using nlohmann::json;

constexpr const char* kUsage =
    "Usage: skouterctl [--socket PATH] COMMAND [-o table|json]\n"
    "\n"
    "Commands:\n"
    "  status    version, interfaces, trusted resolvers, entry counts, counters\n"
    "  entries   every allowed address: identity, ip, names, expiry, rule\n"
    "  policies  the loaded Egress documents, their source and what they select\n"
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
    throw std::runtime_error("skouterd answered " + std::to_string(response.result_int()) + ": " +
                             (body.is_object() && body.contains("error")
                                  ? body["error"].get<std::string>()
                                  : response.body()));
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
    rows.push_back({scalar(entry["identity"]), scalar(entry["ip"]), names.empty() ? "-" : names,
                    expires, scalar(entry["rule"])});
  }
  printTable({"IDENTITY", "IP", "NAMES", "EXPIRES IN", "RULE"}, rows);
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
                    selects.empty() ? "-" : selects, std::to_string(policy["rules"].size())});
  }
  printTable({"EGRESS", "SOURCE", "SELECTS", "RULES"}, rows);
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

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path = "/run/skouter/skouterd.sock";
  std::string format = "table";
  std::string command;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--socket" || arg == "-o") && i + 1 < argc) {
      (arg == "--socket" ? socket_path : format) = argv[++i];
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
  if (command != "status" && command != "entries" && command != "policies") {
    std::cerr << (command.empty() ? "skouterctl: no command\n"
                                  : "skouterctl: unknown command '" + command + "'\n")
              << kUsage;
    return 2;
  }
  if (format != "table" && format != "json") {
    std::cerr << "skouterctl: -o must be table or json\n";
    return 2;
  }
  try {
    const json body = get(socket_path, "/v1/" + command);
    if (format == "json") {
      std::cout << body.dump(2) << "\n";
    } else if (command == "entries") {
      printEntries(body);
    } else if (command == "policies") {
      printPolicies(body);
    } else {
      printStatus(body);
    }
  } catch (const std::exception& error) {
    std::cerr << "skouterctl: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
