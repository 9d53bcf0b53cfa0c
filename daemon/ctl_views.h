// What skouterctl makes of the admin API's JSON: the entries a user asked for, one
// line per event of `monitor`, and the one-screen `status`. Pure functions of the JSON,
// so every format is tested without a daemon; a field an older daemon does not send is
// left out, never an error.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace skouter::ctl {

// `entries --sort`: workload (then address) is the default; expiry puts the soonest
// first and entries that never expire last.
enum class EntrySort { kWorkload, kIp, kName, kExpiry };
std::optional<EntrySort> parseEntrySort(std::string_view text);

struct EntryFilter {
  // An exact name, or "*.example.com" for every name below example.com; any case. An
  // entry matches when one of its names does. Empty: every entry.
  std::string name;
  // An identity number or a workload name ("host", "namespace/pod"). Empty: every entry.
  std::string identity;
  // Entries that expire within this many seconds; entries that never expire do not.
  std::optional<double> expiring_within_s;
};

// The entries of `GET /v1/entries` that pass `filter`, sorted, as a JSON array.
nlohmann::json selectEntries(const nlohmann::json& entries, const EntryFilter& filter,
                             EntrySort sort);

// Which clock `monitor` shows an event's time of day in.
enum class Clock { kUtc, kLocal };

// One line for one event of `GET /v1/events`, without a newline:
//   22:31:05.123 DENIED   host  192.0.2.10 -> 198.51.100.7:443/tcp  (github.com)
//   22:31:05.123 DENIED   host  192.0.2.10 -> 198.51.100.7:443/tcp  (github.com)  late
//                connection: learned for github.com, expired 12 s ago   (one line)
//   22:31:05.120 DNS ALLOWED host github.com A -> 198.51.100.7 [ns/name/rules[0]]
//   22:31:06.001 POLICY applied (SIGHUP)
//   22:31:07.000 LOST 12 events (monitor fell behind)
std::string eventLine(const nlohmann::json& event, Clock clock);

// "learned for api.example.com, expired 12 s ago" of an event's or an audit record's
// "late" object (a late connection); empty when it has none.
std::string lateConnectionText(const nlohmann::json& record);

// `skouterctl status` of `GET /v1/status`: one screen, a label column and its values.
std::vector<std::string> statusLines(const nlohmann::json& status);

}  // namespace skouter::ctl
