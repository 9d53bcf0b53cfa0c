#include "daemon/ctl_views.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <set>
#include <tuple>

#include "common/ip_address.h"

namespace skouter::ctl {

using nlohmann::json;

namespace {

std::string lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string uppercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

// A field as text: strings as they are, numbers as written, anything else `fallback`.
std::string text(const json& object, const char* key, const std::string& fallback = "-") {
  if (!object.is_object() || !object.contains(key)) return fallback;
  const json& value = object[key];
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number()) return value.dump();
  return fallback;
}

std::uint64_t count(const json& object, const char* key) {
  if (!object.is_object() || !object.contains(key) || !object[key].is_number()) return 0;
  return object[key].get<std::uint64_t>();
}

bool has(const json& object, const char* key) {
  return object.is_object() && object.contains(key) && !object[key].is_null();
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string joined;
  for (const auto& item : items) joined += (joined.empty() ? "" : separator) + item;
  return joined;
}

std::vector<std::string> strings(const json& object, const char* key) {
  std::vector<std::string> items;
  if (!object.is_object() || !object.contains(key) || !object[key].is_array()) return items;
  for (const auto& item : object[key]) {
    if (item.is_string()) items.push_back(item.get<std::string>());
  }
  return items;
}

// --- entries ---------------------------------------------------------------------------

std::string withoutRootDot(std::string name) {
  if (!name.empty() && name.back() == '.') name.pop_back();
  return lowercase(std::move(name));
}

bool nameMatches(const std::string& pattern, const std::string& name) {
  if (pattern == "*") return true;
  if (pattern.starts_with("*.")) {
    const std::string_view suffix = std::string_view(pattern).substr(1);  // ".example.com"
    return name.size() > suffix.size() && name.ends_with(suffix);
  }
  return name == pattern;
}

bool passes(const json& entry, const EntryFilter& filter) {
  if (!filter.name.empty()) {
    const std::string pattern = withoutRootDot(filter.name);
    const auto names = strings(entry, "names");
    if (std::none_of(names.begin(), names.end(), [&](const std::string& name) {
          return nameMatches(pattern, withoutRootDot(name));
        })) {
      return false;
    }
  }
  if (!filter.identity.empty()) {
    const bool numeric = filter.identity.find_first_not_of("0123456789") == std::string::npos;
    if (numeric ? text(entry, "identity") != filter.identity
                : text(entry, "workload") != filter.identity) {
      return false;
    }
  }
  if (filter.expiring_within_s) {
    if (!entry.contains("expires_in_s") || !entry["expires_in_s"].is_number()) return false;
    if (entry["expires_in_s"].get<double>() > *filter.expiring_within_s) return false;
  }
  return true;
}

// What entries are ordered by, computed once per entry rather than per comparison.
struct SortKeys {
  explicit SortKeys(const json& entry) : entry(&entry) {
    workload = text(entry, "workload", "");
    not_host = workload != "host";
    ip_text = text(entry, "ip", "");
    const auto prefix = IpPrefix::parse(ip_text);
    unparseable_ip = !prefix;
    if (prefix) {
      ip = prefix->address;
      prefix_length = prefix->length;
    }
    for (const auto& name : strings(entry, "names")) {
      const std::string normalized = withoutRootDot(name);
      if (first_name.empty() || normalized < first_name) first_name = normalized;
    }
    no_name = first_name.empty();
    never_expires = !entry.contains("expires_in_s") || !entry["expires_in_s"].is_number();
    if (!never_expires) expires_in_s = entry["expires_in_s"].get<double>();
  }

  // The host before the pods, which go by name.
  auto byWorkload() const { return std::tie(not_host, workload); }
  // Addresses and prefixes in numeric order, IPv4 first; anything unparseable after them.
  auto byIp() const { return std::tie(unparseable_ip, ip, prefix_length, ip_text); }
  // The alphabetically first of the entry's names; entries without one go last.
  auto byName() const { return std::tie(no_name, first_name); }
  // The soonest first; entries that never expire last.
  auto byExpiry() const { return std::tie(never_expires, expires_in_s); }

  const json* entry;
  bool not_host = true;
  std::string workload;
  bool unparseable_ip = true;
  IpAddress ip;
  unsigned prefix_length = 0;
  std::string ip_text;
  bool no_name = true;
  std::string first_name;
  bool never_expires = true;
  double expires_in_s = 0;
};

}  // namespace

std::optional<EntrySort> parseEntrySort(std::string_view text) {
  if (text == "workload") return EntrySort::kWorkload;
  if (text == "ip") return EntrySort::kIp;
  if (text == "name") return EntrySort::kName;
  if (text == "expiry") return EntrySort::kExpiry;
  return std::nullopt;
}

json selectEntries(const json& entries, const EntryFilter& filter, EntrySort sort) {
  std::vector<SortKeys> selected;
  if (entries.is_array()) {
    for (const auto& entry : entries) {
      if (passes(entry, filter)) selected.emplace_back(entry);
    }
  }
  const auto before = [sort](const SortKeys& a, const SortKeys& b) {
    switch (sort) {
      case EntrySort::kIp:
        return std::tuple_cat(a.byIp(), a.byWorkload()) < std::tuple_cat(b.byIp(), b.byWorkload());
      case EntrySort::kName:
        return std::tuple_cat(a.byName(), a.byWorkload(), a.byIp()) <
               std::tuple_cat(b.byName(), b.byWorkload(), b.byIp());
      case EntrySort::kExpiry:
        return std::tuple_cat(a.byExpiry(), a.byWorkload(), a.byIp()) <
               std::tuple_cat(b.byExpiry(), b.byWorkload(), b.byIp());
      case EntrySort::kWorkload:
        break;
    }
    return std::tuple_cat(a.byWorkload(), a.byIp()) < std::tuple_cat(b.byWorkload(), b.byIp());
  };
  std::stable_sort(selected.begin(), selected.end(), before);
  json sorted = json::array();
  for (const auto& keys : selected) sorted.push_back(*keys.entry);
  return sorted;
}

// --- monitor ---------------------------------------------------------------------------

namespace {

// "22:31:05.123" of "2026-11-26T22:31:05.123Z"; a time that is not in that form shows
// as dashes rather than as a wrong time.
std::string timeOfDay(const json& event, Clock clock) {
  const std::string time = text(event, "time", "");
  std::tm utc{};
  int milliseconds = 0;
  if (time.size() != 24 ||
      std::sscanf(time.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &utc.tm_year, &utc.tm_mon,
                  &utc.tm_mday, &utc.tm_hour, &utc.tm_min, &utc.tm_sec, &milliseconds) != 7) {
    return "--:--:--.---";
  }
  std::tm shown = utc;
  if (clock == Clock::kLocal) {
    utc.tm_year -= 1900;
    utc.tm_mon -= 1;
    const std::time_t seconds = timegm(&utc);
    localtime_r(&seconds, &shown);
  }
  char line[32];
  std::snprintf(line, sizeof(line), "%02d:%02d:%02d.%03d", shown.tm_hour % 100, shown.tm_min % 100,
                shown.tm_sec % 100, milliseconds % 1000);
  return line;
}

std::string workloadOf(const json& event) {
  if (has(event, "workload")) return text(event, "workload");
  return "identity " + text(event, "identity", "?");
}

// "198.51.100.7:443/tcp", "[2001:db8::7]:443/tcp", "198.51.100.7/icmp"
std::string destinationOf(const json& event) {
  const std::string address = text(event, "destination", "?");
  const std::string protocol = lowercase(text(event, "protocol", "?"));
  if (count(event, "port") == 0) return address + "/" + protocol;
  const bool v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + text(event, "port") + "/" + protocol;
}

std::string flowLine(const json& event) {
  std::string verdict = uppercase(text(event, "verdict", "?"));
  verdict.resize(std::max<std::size_t>(verdict.size(), 8), ' ');
  const auto names = strings(event, "names");
  const std::string late = lateConnectionText(event);
  return verdict + " " + workloadOf(event) + "  " + text(event, "source", "?") + " -> " +
         destinationOf(event) + (names.empty() ? "" : "  (" + join(names, ", ") + ")") +
         (late.empty() ? "" : "  late connection: " + late);
}

std::string dnsLine(const json& event) {
  const auto addresses = strings(event, "addresses");
  return "DNS " + uppercase(text(event, "verdict", "?")) + " " + workloadOf(event) + " " +
         text(event, "name", "?") + " " + text(event, "qtype", "?") +
         (addresses.empty() ? "" : " -> " + join(addresses, ", ")) +
         (has(event, "rule") ? " [" + text(event, "rule") + "]" : "");
}

// "SNI DENIED web/api  198.51.100.2 -> 203.0.113.5:443/tls  other.example (learned for
// api.example: not_learned_for_address)"
std::string serverNameLine(const json& event) {
  const std::string name = has(event, "server_name") ? text(event, "server_name") : "(no name)";
  const auto names = strings(event, "names");
  const bool ech = event.is_object() && event.contains("encrypted_client_hello") &&
                   event["encrypted_client_hello"].is_boolean() &&
                   event["encrypted_client_hello"].get<bool>();
  return "SNI " + uppercase(text(event, "verdict", "?")) + " " + workloadOf(event) + "  " +
         text(event, "source", "?") + " -> " + destinationOf(event) + "  " + name +
         (ech ? " (outer name, ECH)" : "") + " (learned for " +
         (names.empty() ? std::string("no name") : join(names, ", ")) + ": " +
         text(event, "reason", "?") + ")";
}

// "QUERY DENIED web/api  198.51.100.2 -> 192.0.2.53  x1.evil.test TXT (name_not_allowed)"
std::string queryLine(const json& event) {
  return "QUERY " + uppercase(text(event, "verdict", "?")) + " " + workloadOf(event) + "  " +
         text(event, "client", "?") + " -> " + text(event, "resolver", "?") + "  " +
         text(event, "name", "?") + " " + text(event, "qtype", "?") + " (" +
         text(event, "reason", "?") + ")" +
         (has(event, "rule") ? " [" + text(event, "rule") + "]" : "");
}

std::string policyLine(const json& event) {
  return "POLICY " + text(event, "result", "?") +
         (has(event, "reason") ? " (" + text(event, "reason") + ")" : "") +
         (has(event, "error") ? ": " + text(event, "error") : "");
}

std::string lostLine(const json& event) {
  const auto lost = count(event, "count");
  return "LOST " + std::to_string(lost) + (lost == 1 ? " event" : " events") +
         " (monitor fell behind)";
}

}  // namespace

std::string lateConnectionText(const json& record) {
  if (!has(record, "late") || !record["late"].is_object()) return "";
  const json& late = record["late"];
  const auto names = strings(late, "names");
  return "learned for " + (names.empty() ? text(record, "destination", "?") : join(names, ", ")) +
         ", expired " + std::to_string(count(late, "expired_ago_s")) + " s ago";
}

std::string eventLine(const json& event, Clock clock) {
  const std::string type = text(event, "type", "?");
  std::string line;
  if (type == "flow") {
    line = flowLine(event);
  } else if (type == "dns") {
    line = dnsLine(event);
  } else if (type == "server_name") {
    line = serverNameLine(event);
  } else if (type == "dns_query") {
    line = queryLine(event);
  } else if (type == "policy") {
    line = policyLine(event);
  } else if (type == "lost") {
    line = lostLine(event);
  } else {
    json rest = event;
    if (rest.is_object()) {
      rest.erase("time");
      rest.erase("type");
    }
    line = uppercase(type) + " " + rest.dump();
  }
  return timeOfDay(event, clock) + " " + line;
}

// --- status ----------------------------------------------------------------------------

namespace {

constexpr std::size_t kLabelWidth = 13;
// Pods' interfaces are listed one by one up to this many, and counted beyond.
constexpr std::size_t kListedPodInterfaces = 5;
constexpr std::size_t kListedPodProblems = 5;

class Screen {
 public:
  void add(const std::string& label, const std::string& value) {
    std::string line = label;
    line.resize(std::max(kLabelWidth, label.size() + 1), ' ');
    lines_.push_back(line + value);
  }
  // A further line of the label above.
  void more(const std::string& value) { add("", value); }
  std::vector<std::string> lines() && { return std::move(lines_); }

 private:
  std::vector<std::string> lines_;
};

std::string duration(std::uint64_t seconds) {
  const std::uint64_t days = seconds / 86400, hours = seconds / 3600 % 24,
                      minutes = seconds / 60 % 60, rest = seconds % 60;
  if (days > 0) {
    return std::to_string(days) + "d " + std::to_string(hours) + "h " + std::to_string(minutes) +
           "m";
  }
  if (hours > 0) {
    return std::to_string(hours) + "h " + std::to_string(minutes) + "m " + std::to_string(rest) +
           "s";
  }
  if (minutes > 0) return std::to_string(minutes) + "m " + std::to_string(rest) + "s";
  return std::to_string(rest) + "s";
}

// "1 error", "2 errors"
std::string counted(std::uint64_t number, const std::string& noun) {
  return std::to_string(number) + " " + noun + (number == 1 ? "" : "s");
}

std::string percent(double ratio) {
  char text[16];
  std::snprintf(text, sizeof(text), "%.1f%%", ratio * 100.0);
  return text;
}

std::string bytes(std::uint64_t size) {
  char text[32];
  if (size < 1024) {
    std::snprintf(text, sizeof(text), "%llu B", static_cast<unsigned long long>(size));
  } else if (size < 1024 * 1024) {
    std::snprintf(text, sizeof(text), "%.1f KiB", static_cast<double>(size) / 1024.0);
  } else {
    std::snprintf(text, sizeof(text), "%.1f MiB", static_cast<double>(size) / (1024.0 * 1024.0));
  }
  return text;
}

std::string padLeft(const std::string& text, std::size_t width) {
  return std::string(width > text.size() ? width - text.size() : 0, ' ') + text;
}

std::string padRight(std::string text, std::size_t width) {
  text.resize(std::max(width, text.size()), ' ');
  return text;
}

double ratioOf(const json& item, std::uint64_t used, std::uint64_t capacity) {
  if (item.contains("fill_ratio") && item["fill_ratio"].is_number()) {
    return item["fill_ratio"].get<double>();
  }
  return capacity == 0 ? 0.0 : static_cast<double>(used) / static_cast<double>(capacity);
}

std::string header(const json& status) {
  std::string line = "skouterd " + text(status, "version", "?");
  if (has(status, "layout_version")) line += " (layout " + text(status, "layout_version") + ")";
  if (has(status, "uptime_s")) line += ", up " + duration(count(status, "uptime_s"));
  if (status.contains("ready") && status["ready"].is_boolean()) {
    line += status["ready"].get<bool>() ? ", ready" : ", NOT READY";
  }
  return line;
}

void addState(Screen& screen, const json& status) {
  if (!has(status, "takeover")) {
    if (status.contains("took_over_pinned_state") &&
        status["took_over_pinned_state"].is_boolean()) {
      screen.add("state", status["took_over_pinned_state"].get<bool>()
                              ? "took over the state of the previous daemon"
                              : "started fresh");
    }
    return;
  }
  const json& takeover = status["takeover"];
  if (!takeover.is_object()) return;
  const bool migrated = takeover.value("migrated", false);
  if (!migrated && !takeover.value("took_over", false)) {
    screen.add("state", "started fresh");
    return;
  }
  std::vector<std::string> details;
  if (!migrated && has(takeover, "previous_layout_version")) {
    details.push_back("layout " + text(takeover, "previous_layout_version"));
  }
  if (has(takeover, "entries_taken_over")) {
    details.push_back(text(takeover, "entries_taken_over") + " entries");
  }
  if (has(takeover, "gap_ms")) details.push_back("gap " + text(takeover, "gap_ms") + " ms");
  const std::string what =
      migrated ? "migrated from layout " + text(takeover, "previous_layout_version", "?")
               : "took over the state of the previous daemon";
  screen.add("state", what + (details.empty() ? "" : " (" + join(details, ", ") + ")"));
  if (migrated && has(takeover, "migration")) screen.more(text(takeover, "migration"));
}

// "tcx, first", "tc, first", or what differs by hook: "tcx; another program runs first
// at ingress". Empty from a daemon that does not report it.
std::string attachmentText(const json& point) {
  if (!point.contains("attachment") || !point["attachment"].is_array()) return "";
  std::set<std::string> modes;
  std::vector<std::string> behind;
  for (const auto& hook : point["attachment"]) {
    modes.insert(text(hook, "mode"));
    if (!hook.value("first", false) && text(hook, "mode") != "none") {
      behind.push_back(text(hook, "hook"));
    }
  }
  std::string mode;
  for (const auto& hook : point["attachment"]) {
    if (!mode.empty()) mode += "/";
    if (modes.size() > 1) mode += text(hook, "hook") + " ";
    mode += text(hook, "mode");
    if (modes.size() == 1) break;
  }
  return " (" + mode +
         (behind.empty() ? ", first" : "; another program runs first at " + join(behind, ", ")) +
         ")";
}

void addAttachPoints(Screen& screen, const json& status) {
  if (!has(status, "attach_points")) {
    const auto interfaces = strings(status, "interfaces");
    if (status.contains("interfaces")) {
      screen.add("interfaces", interfaces.empty() ? "-" : join(interfaces, ", "));
    }
    return;
  }
  std::vector<std::string> lines;
  std::vector<std::string> pod_lines;
  std::vector<std::string> pod_hooks;
  for (const auto& point : status["attach_points"]) {
    const auto hooks = strings(point, "hooks");
    if (has(point, "pod")) {
      pod_lines.push_back(text(point, "interface") + " (" + text(point, "pod") +
                          "): " + join(hooks, ", ") + attachmentText(point));
      pod_hooks = hooks;
    } else {
      lines.push_back(text(point, "interface") + ": " + join(hooks, ", ") + attachmentText(point));
    }
  }
  if (pod_lines.size() <= kListedPodInterfaces) {
    lines.insert(lines.end(), pod_lines.begin(), pod_lines.end());
  } else {
    lines.push_back(std::to_string(pod_lines.size()) + " pod interfaces: " + join(pod_hooks, ", "));
  }
  if (lines.empty()) lines.push_back("nothing");
  screen.add("attached", lines.front());
  for (std::size_t i = 1; i < lines.size(); ++i) screen.more(lines[i]);
}

// What leaves the uplinks after coming in by another interface.
void addForwarded(Screen& screen, const json& status) {
  if (!has(status, "forwarded")) return;
  const json& forwarded = status["forwarded"];
  std::vector<std::string> parts;
  const auto as_host = strings(forwarded, "judged_as_host");
  if (!as_host.empty()) parts.push_back("as the host: " + join(as_host, ", "));
  const auto transit = strings(forwarded, "transit");
  if (!transit.empty()) parts.push_back("transit: " + join(transit, ", "));
  const auto pods = count(forwarded, "pod_interfaces");
  if (pods > 0) {
    parts.push_back(
        std::to_string(pods) + " pod interface" + (pods == 1 ? "" : "s") +
        (has(forwarded, "pod_interfaces_guarded") && forwarded["pod_interfaces_guarded"].get<bool>()
             ? " (all guarded)"
             : ""));
  }
  screen.add("forwarded", parts.empty() ? "-" : join(parts, "; "));
}

void addCounters(Screen& screen, const json& status) {
  if (!has(status, "counters")) return;
  const json& counters = status["counters"];
  if (has(counters, "datapath")) {
    const json& datapath = counters["datapath"];
    // As skouter_datapath_packets_total groups them.
    std::uint64_t allowed = 0, denied = 0;
    for (const char* name :
         {"egress_allowed_flow", "egress_allowed_learned", "egress_allowed_static",
          "egress_allowed_resolver", "egress_allowed_control", "egress_fail_open"}) {
      allowed += count(datapath, name);
    }
    for (const char* name :
         {"egress_denied", "egress_port_denied", "pod_unknown_source", "pod_spoofed_source",
          "source_routed", "forwarded_unknown_interface"}) {
      denied += count(datapath, name);
    }
    screen.add("packets", std::to_string(allowed) + " allowed, " + std::to_string(denied) +
                              " denied, " + std::to_string(count(datapath, "egress_audited")) +
                              " audited");
  }
  if (has(counters, "answers")) {
    const json& answers = counters["answers"];
    const json datapath = has(counters, "datapath") ? counters["datapath"] : json::object();
    std::string line = std::to_string(count(answers, "allowed")) + " allowed, " +
                       std::to_string(count(answers, "denied")) + " denied";
    // The rest only when it happened: each is a problem worth a look.
    const std::pair<std::uint64_t, const char*> problems[] = {
        {count(answers, "malformed"), "malformed"},
        {count(answers, "question_mismatch"), "question mismatch"},
        {count(answers, "already_answered"), "already answered"},
        {count(answers, "tcp_unmatched"), "unmatched over TCP"},
        {count(answers, "tcp_picked_up"), "TCP segments passed unread"},
        {count(answers, "dropped_install_failed"), "install failed"},
        {count(datapath, "dns_answer_unsolicited"), "unsolicited"},
        {count(datapath, "dns_answer_failsafe"), "passed by failsafe"},
        {count(datapath, "dns_answer_ringbuf_full"), "dropped (overload)"},
        {count(datapath, "dns_answer_over_quota"), "dropped (over a workload's ring share)"},
        {count(datapath, "dns_answer_too_large"), "too large"},
        {has(counters, "verify") ? count(counters["verify"], "unconfirmed") : 0,
         "addresses unconfirmed"},
    };
    for (const auto& [value, what] : problems) {
      if (value > 0) line += ", " + std::to_string(value) + " " + what;
    }
    screen.add("dns answers", line);
  }
}

void addTables(Screen& screen, const json& status) {
  if (!has(status, "tables") || status["tables"].empty()) return;
  std::size_t name_width = 0, entries_width = 0, capacity_width = 0;
  for (const auto& table : status["tables"]) {
    name_width = std::max(name_width, text(table, "name").size());
    entries_width = std::max(entries_width, text(table, "entries").size());
    capacity_width = std::max(capacity_width, text(table, "capacity").size());
  }
  bool first = true;
  for (const auto& table : status["tables"]) {
    const double ratio = ratioOf(table, count(table, "entries"), count(table, "capacity"));
    const std::string line = padRight(text(table, "name"), name_width) + "  " +
                             padLeft(text(table, "entries"), entries_width) + " / " +
                             padRight(text(table, "capacity"), capacity_width) + "  " +
                             padLeft(percent(ratio), 6) + (ratio >= 0.9 ? "  nearly full" : "");
    first ? screen.add("tables", line) : screen.more(line);
    first = false;
  }
}

void addRings(Screen& screen, const json& status) {
  if (!has(status, "rings") || status["rings"].empty()) return;
  std::size_t name_width = 0, used_width = 0, size_width = 0;
  for (const auto& ring : status["rings"]) {
    name_width = std::max(name_width, text(ring, "name").size());
    used_width = std::max(used_width, bytes(count(ring, "used_bytes")).size());
    size_width = std::max(size_width, bytes(count(ring, "size_bytes")).size());
  }
  bool first = true;
  for (const auto& ring : status["rings"]) {
    const auto used = count(ring, "used_bytes"), size = count(ring, "size_bytes");
    const std::string line = padRight(text(ring, "name"), name_width) + "  " +
                             padLeft(bytes(used), used_width) + " of " +
                             padRight(bytes(size), size_width) + "  " +
                             padLeft(percent(ratioOf(ring, used, size)), 6);
    first ? screen.add("rings", line) : screen.more(line);
    first = false;
  }
}

void addEvents(Screen& screen, const json& status) {
  if (!has(status, "events")) return;
  const json& events = status["events"];
  const auto subscribers = count(events, "subscribers");
  const auto limit = count(events, "rate_limit");
  screen.add("events",
             counted(subscribers, "subscriber") + "; " +
                 (limit == 0 ? "no rate limit" : "limit " + std::to_string(limit) + "/s per CPU") +
                 ", " + std::to_string(count(events, "rate_limited")) + " rate limited; " +
                 std::to_string(count(events, "dropped_slow")) + " dropped for slow readers");
}

void addPolicy(Screen& screen, const json& status) {
  std::vector<std::string> parts;
  if (status.contains("policies") && status["policies"].is_array()) {
    std::size_t elsewhere = 0;
    for (const auto& policy : status["policies"]) {
      if (!policy.value("selects_this_node", true)) ++elsewhere;
    }
    parts.push_back(std::to_string(status["policies"].size()) + " Egress" +
                    (elsewhere ? " (" + std::to_string(elsewhere) + " not for this node)" : ""));
  }
  if (has(status, "policy_reloads")) {
    parts.push_back("reloads: " + std::to_string(count(status["policy_reloads"], "applied")) +
                    " applied, " + std::to_string(count(status["policy_reloads"], "failed")) +
                    " failed");
  }
  if (!parts.empty()) screen.add("policy", join(parts, "; "));
  if (has(status, "last_policy_error")) {
    screen.add(parts.empty() ? "policy" : "", "last error: " + text(status, "last_policy_error"));
  }
  if (has(status, "audit") && status["audit"].value("active", false)) {
    const json& audit = status["audit"];
    const auto egresses = strings(audit, "egresses");
    screen.add("audit", audit.value("flag", false) ? "on: nothing is dropped (--audit)"
                                                   : "on for Egress " + join(egresses, ", "));
  }
  // Clients that kept an address past its expiry; shown once there were any.
  if (has(status, "late_connections") && count(status["late_connections"], "total") > 0) {
    const json& late = status["late_connections"];
    std::vector<std::string> workloads;
    if (late.contains("by_workload") && late["by_workload"].is_object()) {
      for (const auto& [workload, n] : late["by_workload"].items()) {
        workloads.push_back(workload + " " + (n.is_number() ? n.dump() : "?"));
      }
    }
    screen.add("late", std::to_string(count(late, "total")) + " late connections (" +
                           join(workloads, ", ") + "); see skouterctl audit");
  }
}

void addPods(Screen& screen, const json& status) {
  if (!status.contains("pods") || !status["pods"].is_array()) return;
  const json& pods = status["pods"];
  if (pods.empty() && !has(status, "kubernetes")) return;
  std::vector<std::string> problems;
  for (const auto& pod : pods) {
    if (has(pod, "problem")) problems.push_back(text(pod, "pod") + ": " + text(pod, "problem"));
  }
  screen.add(
      "pods",
      std::to_string(pods.size()) + " policed" +
          (problems.empty() ? "" : ", " + std::to_string(problems.size()) + " with a problem"));
  for (std::size_t i = 0; i < problems.size() && i < kListedPodProblems; ++i) {
    screen.more(problems[i]);
  }
  if (problems.size() > kListedPodProblems) {
    screen.more("... and " + std::to_string(problems.size() - kListedPodProblems) + " more");
  }
}

void addKubernetes(Screen& screen, const json& status) {
  if (!has(status, "kubernetes")) return;
  const json& kubernetes = status["kubernetes"];
  std::uint64_t objects = 0, errors = 0;
  std::vector<std::string> last_errors;
  for (const auto& [collection, stats] : kubernetes.items()) {
    if (!stats.is_object()) continue;
    objects += count(stats, "objects");
    errors += count(stats, "errors");
    if (has(stats, "last_error")) {
      last_errors.push_back(collection + ": " + text(stats, "last_error"));
    }
  }
  screen.add("kubernetes", text(kubernetes, "api_server") + " as node " + text(kubernetes, "node") +
                               (kubernetes.value("synced", false) ? ", synced" : ", NOT SYNCED") +
                               "; " + counted(objects, "object") + ", " + counted(errors, "error"));
  for (const auto& line : last_errors) screen.more(line);
}

}  // namespace

std::vector<std::string> statusLines(const json& status) {
  Screen screen;
  std::vector<std::string> lines{header(status)};
  addState(screen, status);
  addAttachPoints(screen, status);
  addForwarded(screen, status);
  if (status.contains("trusted_resolvers")) {
    const auto resolvers = strings(status, "trusted_resolvers");
    screen.add("resolvers", resolvers.empty() ? "none" : join(resolvers, ", "));
  }
  if (has(status, "heartbeat_age_ms")) {
    screen.add("heartbeat", text(status, "heartbeat_age_ms") + " ms ago");
  }
  if (has(status, "entries")) {
    screen.add("entries", text(status["entries"], "learned", "0") + " learned, " +
                              text(status["entries"], "static", "0") + " static");
  }
  addCounters(screen, status);
  addTables(screen, status);
  addRings(screen, status);
  addEvents(screen, status);
  addPolicy(screen, status);
  addPods(screen, status);
  addKubernetes(screen, status);
  for (auto& line : std::move(screen).lines()) lines.push_back(std::move(line));
  return lines;
}

}  // namespace skouter::ctl
