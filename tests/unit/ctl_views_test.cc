// What skouterctl prints of the admin API's JSON: `entries` filters and orders,
// `monitor` lines, the `status` screen.
#include "daemon/ctl_views.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace skouter::ctl {
namespace {

using nlohmann::json;
using Lines = std::vector<std::string>;

const json kEntries = json::parse(R"([
  {"identity": 1, "workload": "host", "ip": "203.0.113.20", "names": ["github.com"],
   "expires_in_s": 299.0, "ports": "443/TCP", "rule": "web/rules[0]"},
  {"identity": 1, "workload": "host", "ip": "203.0.113.10",
   "names": ["example.com", "WWW.Example.com."], "expires_in_s": 12.5, "ports": "any port",
   "rule": "example/rules[0]"},
  {"identity": 1, "workload": "host", "ip": "10.0.10.0/24", "names": [], "expires_in_s": null,
   "ports": "any port", "rule": "example/rules[2]"},
  {"identity": 300, "workload": "shop/web-0", "ip": "203.0.113.9", "names": ["example.com"],
   "expires_in_s": 297.2, "ports": "any port", "rule": "shop/web/rules[0]"},
  {"identity": 300, "workload": "shop/web-0", "ip": "2001:db8::10",
   "names": ["api.example.com"], "expires_in_s": 40, "ports": "any port",
   "rule": "shop/web/rules[0]"},
  {"identity": 17, "workload": "backup/job-1", "ip": "203.0.113.100", "names": ["s3.example.net"],
   "expires_in_s": 5, "ports": "443/TCP", "rule": "backup/s3/rules[0]"}
])");

// Each selected entry as "WORKLOAD IP".
Lines selected(const EntryFilter& filter, EntrySort sort = EntrySort::kWorkload) {
  Lines lines;
  for (const auto& entry : selectEntries(kEntries, filter, sort)) {
    lines.push_back(entry["workload"].get<std::string>() + " " + entry["ip"].get<std::string>());
  }
  return lines;
}

TEST(SelectEntriesTest, FiltersByNameIdentityAndExpiry) {
  struct Case {
    EntryFilter filter;
    Lines entries;
  };
  const Case cases[] = {
      {{"github.com", "", {}}, {"host 203.0.113.20"}},
      {{"GitHub.COM.", "", {}}, {"host 203.0.113.20"}},
      {{"www.example.com", "", {}}, {"host 203.0.113.10"}},
      {{"example.com", "", {}}, {"host 203.0.113.10", "shop/web-0 203.0.113.9"}},
      // A wildcard matches names below it, not the name itself, as in a policy.
      {{"*.example.com", "", {}}, {"host 203.0.113.10", "shop/web-0 2001:db8::10"}},
      {{"*.com", "", {}},
       {"host 203.0.113.10", "host 203.0.113.20", "shop/web-0 203.0.113.9",
        "shop/web-0 2001:db8::10"}},
      {{"hub.com", "", {}}, {}},
      {{"", "300", {}}, {"shop/web-0 203.0.113.9", "shop/web-0 2001:db8::10"}},
      {{"", "shop/web-0", {}}, {"shop/web-0 203.0.113.9", "shop/web-0 2001:db8::10"}},
      {{"", "host", {}}, {"host 10.0.10.0/24", "host 203.0.113.10", "host 203.0.113.20"}},
      {{"", "30", {}}, {}},
      // Entries that never expire never expire within anything.
      {{"", "", 40.0},
       {"host 203.0.113.10", "backup/job-1 203.0.113.100", "shop/web-0 2001:db8::10"}},
      {{"", "", 0.0}, {}},
      {{"example.com", "host", 20.0}, {"host 203.0.113.10"}},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(selected(c.filter), c.entries)
        << "name=" << c.filter.name << " identity=" << c.filter.identity
        << " within=" << c.filter.expiring_within_s.value_or(-1);
  }
}

TEST(SelectEntriesTest, SortsByWorkloadIpNameOrExpiry) {
  struct Case {
    const char* sort;
    Lines entries;
  };
  const Case cases[] = {
      // The host first, then pods by name; addresses numerically, IPv4 first.
      {"workload",
       {"host 10.0.10.0/24", "host 203.0.113.10", "host 203.0.113.20", "backup/job-1 203.0.113.100",
        "shop/web-0 203.0.113.9", "shop/web-0 2001:db8::10"}},
      {"ip",
       {"host 10.0.10.0/24", "shop/web-0 203.0.113.9", "host 203.0.113.10", "host 203.0.113.20",
        "backup/job-1 203.0.113.100", "shop/web-0 2001:db8::10"}},
      // By each entry's alphabetically first name; entries without one last.
      {"name",
       {"shop/web-0 2001:db8::10", "host 203.0.113.10", "shop/web-0 203.0.113.9",
        "host 203.0.113.20", "backup/job-1 203.0.113.100", "host 10.0.10.0/24"}},
      // Soonest first; never last.
      {"expiry",
       {"backup/job-1 203.0.113.100", "host 203.0.113.10", "shop/web-0 2001:db8::10",
        "shop/web-0 203.0.113.9", "host 203.0.113.20", "host 10.0.10.0/24"}},
  };
  for (const auto& c : cases) {
    const auto sort = parseEntrySort(c.sort);
    ASSERT_TRUE(sort) << c.sort;
    EXPECT_EQ(selected({}, *sort), c.entries) << c.sort;
  }
  EXPECT_FALSE(parseEntrySort("size"));
}

TEST(SelectEntriesTest, KeepsEveryFieldOfWhatItSelects) {
  const json entries = selectEntries(kEntries, {"github.com", "", {}}, EntrySort::kWorkload);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0], kEntries[0]);
}

TEST(EventLineTest, OneReadableLinePerEvent) {
  struct Case {
    const char* event;
    const char* line;
  };
  const Case cases[] = {
      {R"({"time":"2026-11-26T22:31:05.123Z","type":"flow","verdict":"denied","identity":1,
           "workload":"host","source":"192.0.2.10","destination":"198.51.100.7","port":443,
           "protocol":"TCP","names":["github.com"]})",
       "22:31:05.123 DENIED   host  192.0.2.10 -> 198.51.100.7:443/tcp  (github.com)"},
      {R"({"time":"2026-11-26T22:31:05.124Z","type":"flow","verdict":"audited","identity":300,
           "workload":"shop/web-0","source":"2001:db8::5","destination":"2001:db8::7",
           "port":53,"protocol":"udp","names":["a.example","b.example"]})",
       "22:31:05.124 AUDITED  shop/web-0  2001:db8::5 -> [2001:db8::7]:53/udp  "
       "(a.example, b.example)"},
      {R"({"time":"2026-11-26T22:31:05.125Z","type":"flow","verdict":"denied","identity":1,
           "workload":"host","source":"192.0.2.10","destination":"198.51.100.8","port":0,
           "protocol":"ICMP","names":[]})",
       "22:31:05.125 DENIED   host  192.0.2.10 -> 198.51.100.8/icmp"},
      {R"({"time":"2026-11-26T22:31:05.126Z","type":"flow","verdict":"denied","identity":42,
           "source":"192.0.2.10","destination":"198.51.100.8","port":80,"protocol":"TCP"})",
       "22:31:05.126 DENIED   identity 42  192.0.2.10 -> 198.51.100.8:80/tcp"},
      // A late connection: the address was learned for the workload and expired.
      {R"({"time":"2026-11-26T22:31:05.127Z","type":"flow","verdict":"denied","identity":1,
           "workload":"host","source":"192.0.2.10","destination":"203.0.113.30","port":80,
           "protocol":"tcp","names":["short.example"],
           "late":{"names":["short.example"],"rule":"lab/rules[0]","expired_ago_s":12,
                   "open_for_s":3}})",
       "22:31:05.127 DENIED   host  192.0.2.10 -> 203.0.113.30:80/tcp  (short.example)  late "
       "connection: learned for short.example, expired 12 s ago"},
      {R"({"time":"2026-11-26T22:31:05.120Z","type":"dns","verdict":"allowed","identity":1,
           "workload":"host","client":"192.0.2.10","name":"github.com","qtype":"A",
           "addresses":["198.51.100.7"],"rule":"ns/name/rules[0]"})",
       "22:31:05.120 DNS ALLOWED host github.com A -> 198.51.100.7 [ns/name/rules[0]]"},
      {R"({"time":"2026-11-26T22:31:05.121Z","type":"dns","verdict":"denied","identity":1,
           "workload":"host","client":"192.0.2.10","name":"evil.example","qtype":"AAAA",
           "addresses":["2001:db8::66","2001:db8::67"],"rule":null})",
       "22:31:05.121 DNS DENIED host evil.example AAAA -> 2001:db8::66, 2001:db8::67"},
      {R"({"time":"2026-11-26T22:31:05.122Z","type":"dns","verdict":"question_mismatch",
           "identity":1,"workload":"host","client":"192.0.2.10","name":"a.example",
           "qtype":"A","addresses":[],"rule":null})",
       "22:31:05.122 DNS QUESTION_MISMATCH host a.example A"},
      {R"({"time":"2026-11-26T22:31:06.000Z","type":"policy","result":"applied",
           "reason":"SIGHUP","error":null})",
       "22:31:06.000 POLICY applied (SIGHUP)"},
      {R"({"time":"2026-11-26T22:31:06.500Z","type":"policy","result":"failed",
           "reason":"file change","error":"web.yaml: unknown field 'domain'"})",
       "22:31:06.500 POLICY failed (file change): web.yaml: unknown field 'domain'"},
      {R"({"time":"2026-11-26T22:31:07.000Z","type":"lost","count":12})",
       "22:31:07.000 LOST 12 events (monitor fell behind)"},
      {R"({"time":"2026-11-26T22:31:07.001Z","type":"lost","count":1})",
       "22:31:07.001 LOST 1 event (monitor fell behind)"},
      // A newer daemon's event still shows, as it came.
      {R"({"time":"2026-11-26T22:31:08.000Z","type":"pod","pod":"shop/web-2"})",
       R"(22:31:08.000 POD {"pod":"shop/web-2"})"},
      {R"({"type":"lost","count":2})", "--:--:--.--- LOST 2 events (monitor fell behind)"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(eventLine(json::parse(c.event), Clock::kUtc), c.line);
  }
}

const json kStatus = json::parse(R"({
  "version": "0.1.0", "uptime_s": 7384, "layout_version": 5,
  "takeover": {"took_over": true, "previous_layout_version": 5, "migrated": false,
               "migration": null, "gap_ms": 180, "entries_taken_over": 42},
  "attach_points": [
    {"interface": "eth0", "hooks": ["uplink_egress", "uplink_ingress"],
     "attachment": [{"hook": "ingress", "mode": "tcx", "first": true},
                    {"hook": "egress", "mode": "tcx", "first": true}]},
    {"interface": "lxc1a2b", "hooks": ["pod_ingress", "pod_egress"], "pod": "shop/web-0",
     "attachment": [{"hook": "ingress", "mode": "tcx", "first": false},
                    {"hook": "egress", "mode": "tc", "first": true}]},
    {"interface": "lxc3c4d", "hooks": ["pod_ingress", "pod_egress"], "pod": "shop/web-1"}],
  "forwarded": {"judged_as_host": ["lo", "docker0"], "transit": ["eth0", "flannel.1"],
                "pod_interfaces": 3, "pod_interfaces_guarded": true},
  "tables": [
    {"name": "allowed_ips", "entries": 120, "capacity": 65536, "fill_ratio": 0.00183},
    {"name": "flows", "entries": 61000, "capacity": 65536, "fill_ratio": 0.93},
    {"name": "trusted_resolvers", "entries": 2, "capacity": 64, "fill_ratio": 0.0312}],
  "rings": [
    {"name": "answers", "used_bytes": 0, "size_bytes": 4194304, "fill_ratio": 0.0},
    {"name": "events", "used_bytes": 4096, "size_bytes": 262144, "fill_ratio": 0.015625}],
  "events": {"subscribers": 1, "rate_limit": 1000, "rate_limited": 3, "dropped_slow": 0},
  "bpffs": "/sys/fs/bpf/skouter", "interfaces": ["eth0"],
  "trusted_resolvers": ["192.0.2.53:53", "[2001:db8::53]:53"],
  "host_policed": true, "ready": true,
  "pods": [
    {"pod": "shop/web-0", "identity": 300, "interface": "lxc1a2b", "problem": null},
    {"pod": "shop/web-1", "identity": 301, "interface": "lxc3c4d",
     "problem": "the identities map is full"}],
  "kubernetes": {"api_server": "10.96.0.1:443", "origin": "in-cluster", "node": "node-1",
    "synced": true,
    "egresses": {"objects": 3, "lists": 1, "watches": 2, "errors": 0, "last_error": null},
    "pods": {"objects": 12, "lists": 1, "watches": 2, "errors": 1,
             "last_error": "watch: connection reset"}},
  "audit": {"active": false, "flag": false, "egresses": [], "records": 0, "forgotten": 0},
  "policies": [
    {"name": "web", "source": "/etc/skouter/policy.d/web.yaml", "selects_this_node": true},
    {"name": "db", "source": "/etc/skouter/policy.d/db.yaml", "selects_this_node": false}],
  "policy_reloads": {"applied": 4, "failed": 1},
  "last_policy_error": "x.yaml: document 1: unknown field 'domain'",
  "heartbeat_age_ms": 12, "entries": {"learned": 120, "static": 4},
  "counters": {
    "datapath": {"egress_allowed_flow": 1000, "egress_allowed_learned": 200,
                 "egress_allowed_static": 30, "egress_allowed_resolver": 4,
                 "egress_allowed_control": 0, "egress_fail_open": 0, "egress_denied": 50,
                 "egress_port_denied": 6, "pod_unknown_source": 0, "egress_audited": 0,
                 "egress_expired": 9, "dns_answer_unsolicited": 2, "dns_answer_failsafe": 0,
                 "dns_answer_over_quota": 3},
    "answers": {"allowed": 300, "denied": 12, "malformed": 0, "question_mismatch": 0,
                "dropped_install_failed": 0}}
})");

TEST(StatusLinesTest, OneScreenOfWhatMatters) {
  const Lines expected = {
      "skouterd 0.1.0 (layout 5), up 2h 3m 4s, ready",
      "state        took over the state of the previous daemon (layout 5, 42 entries, gap 180 "
      "ms)",
      "attached     eth0: uplink_egress, uplink_ingress (tcx, first)",
      "             lxc1a2b (shop/web-0): pod_ingress, pod_egress (ingress tcx/egress tc; another "
      "program runs first at ingress)",
      "             lxc3c4d (shop/web-1): pod_ingress, pod_egress",
      "forwarded    as the host: lo, docker0; transit: eth0, flannel.1; 3 pod interfaces (all "
      "guarded)",
      "resolvers    192.0.2.53:53, [2001:db8::53]:53",
      "heartbeat    12 ms ago",
      "entries      120 learned, 4 static",
      "packets      1234 allowed, 56 denied, 0 audited",
      "dns answers  300 allowed, 12 denied, 2 unsolicited, 3 dropped (over a workload's ring "
      "share)",
      "tables       allowed_ips          120 / 65536    0.2%",
      "             flows              61000 / 65536   93.0%  nearly full",
      "             trusted_resolvers      2 / 64       3.1%",
      "rings        answers      0 B of 4.0 MiB      0.0%",
      "             events   4.0 KiB of 256.0 KiB    1.6%",
      "events       1 subscriber; limit 1000/s per CPU, 3 rate limited; 0 dropped for slow "
      "readers",
      "policy       2 Egress (1 not for this node); reloads: 4 applied, 1 failed",
      "             last error: x.yaml: document 1: unknown field 'domain'",
      "pods         2 policed, 1 with a problem",
      "             shop/web-1: the identities map is full",
      "kubernetes   10.96.0.1:443 as node node-1, synced; 15 objects, 1 error",
      "             pods: watch: connection reset",
  };
  EXPECT_EQ(statusLines(kStatus), expected);
}

std::string stateLine(const json& takeover) {
  json status = {{"version", "0.1.0"}, {"takeover", takeover}};
  const auto lines = statusLines(status);
  return lines.size() > 1 ? lines[1] : "";
}

TEST(StatusLinesTest, SaysHowTheDaemonStarted) {
  EXPECT_EQ(stateLine({{"took_over", false},
                       {"previous_layout_version", nullptr},
                       {"migrated", false},
                       {"gap_ms", nullptr},
                       {"entries_taken_over", 0}}),
            "state        started fresh");
  EXPECT_EQ(stateLine({{"took_over", true},
                       {"previous_layout_version", 4},
                       {"migrated", true},
                       {"migration", "migrated pinned state from layout 4 to 5: counters reset"},
                       {"gap_ms", 2500},
                       {"entries_taken_over", 7}}),
            "state        migrated from layout 4 (7 entries, gap 2500 ms)");
  // A previous daemon that never wrote its configuration nor beat.
  EXPECT_EQ(stateLine({{"took_over", true},
                       {"previous_layout_version", nullptr},
                       {"migrated", false},
                       {"gap_ms", nullptr},
                       {"entries_taken_over", 0}}),
            "state        took over the state of the previous daemon (0 entries)");
}

TEST(StatusLinesTest, MigrationSaysWhatWasLost) {
  const auto lines =
      statusLines({{"takeover",
                    {{"took_over", true},
                     {"previous_layout_version", 4},
                     {"migrated", true},
                     {"migration", "migrated pinned state from layout 4 to 5: counters reset"}}}});
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[2], "             migrated pinned state from layout 4 to 5: counters reset");
}

TEST(StatusLinesTest, AnOlderDaemonsStatusShowsWhatItHas) {
  const json status = json::parse(R"({
    "version": "0.0.9", "uptime_s": 45, "took_over_pinned_state": false,
    "interfaces": ["eth0", "eth1"], "trusted_resolvers": [], "ready": false,
    "pods": [], "kubernetes": null, "heartbeat_age_ms": 3,
    "policy_reloads": {"applied": 1, "failed": 0}, "last_policy_error": null,
    "entries": {"learned": 0, "static": 2},
    "counters": {"datapath": {"egress_denied": 5}, "answers": {"allowed": 1, "denied": 0}}
  })");
  const Lines expected = {
      "skouterd 0.0.9, up 45s, NOT READY",
      "state        started fresh",
      "interfaces   eth0, eth1",
      "resolvers    none",
      "heartbeat    3 ms ago",
      "entries      0 learned, 2 static",
      "packets      0 allowed, 5 denied, 0 audited",
      "dns answers  1 allowed, 0 denied",
      "policy       reloads: 1 applied, 0 failed",
  };
  EXPECT_EQ(statusLines(status), expected);
}

TEST(StatusLinesTest, ManyPodsStayOnOneScreen) {
  json status = kStatus;
  status["attach_points"] = json::array({kStatus["attach_points"][0]});
  status["pods"] = json::array();
  for (int i = 0; i < 60; ++i) {
    const std::string pod = "shop/web-" + std::to_string(i);
    status["attach_points"].push_back({{"interface", "lxc" + std::to_string(i)},
                                       {"hooks", {"pod_ingress", "pod_egress"}},
                                       {"pod", pod}});
    status["pods"].push_back(
        {{"pod", pod}, {"identity", 300 + i}, {"problem", i % 2 ? json("no interface") : json()}});
  }
  const auto lines = statusLines(status);
  EXPECT_LE(lines.size(), 40u);
  EXPECT_NE(std::find(lines.begin(), lines.end(),
                      "             60 pod interfaces: pod_ingress, pod_egress"),
            lines.end());
  EXPECT_NE(std::find(lines.begin(), lines.end(), "pods         60 policed, 30 with a problem"),
            lines.end());
  EXPECT_NE(std::find(lines.begin(), lines.end(), "             ... and 25 more"), lines.end());
}

TEST(StatusLinesTest, AuditModeIsShownWhenActive) {
  json status = {{"audit", {{"active", true}, {"flag", true}, {"egresses", json::array()}}}};
  EXPECT_EQ(statusLines(status).back(), "audit        on: nothing is dropped (--audit)");
  status["audit"] = {{"active", true}, {"flag", false}, {"egresses", {"web", "db"}}};
  EXPECT_EQ(statusLines(status).back(), "audit        on for Egress web, db");
}

TEST(StatusLinesTest, LateConnectionsAreShownOnceThereAreAny) {
  json status = {{"late_connections", {{"total", 0}, {"by_workload", json::object()}}}};
  for (const auto& line : statusLines(status)) EXPECT_FALSE(line.starts_with("late")) << line;
  status["late_connections"] = {{"total", 5}, {"by_workload", {{"host", 3}, {"shop/web-0", 2}}}};
  EXPECT_EQ(statusLines(status).back(),
            "late         5 late connections (host 3, shop/web-0 2); see skouterctl audit");
}

}  // namespace
}  // namespace skouter::ctl
