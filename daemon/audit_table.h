// What policy denied, flow by flow: in audit mode the flows it let through anyway, in
// enforce mode the ones it dropped. Kept per destination, port and protocol with a
// count and first and last sighting, so an operator can see what a workload needs
// (`skouterctl audit`) and turn it into policy (`skouterctl audit suggest`). Bounded:
// when full, the destination seen least recently is forgotten.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "common/ip_address.h"
#include "daemon/expired_addresses.h"
#include "daemon/flow_verdict.h"

namespace skouter::daemon {

// A flow policy denied, as the datapath reports it on the events ring: dropped
// (kDenied), or let through by audit mode (kAudited).
struct FlowEvent {
  std::uint32_t identity = 0;
  IpAddress source;
  IpAddress destination;
  std::uint8_t protocol = 0;  // IANA number
  std::uint16_t port = 0;     // destination port; 0 without ports
  FlowVerdict verdict = FlowVerdict::kDenied;
};

struct AuditRecord {
  FlowEvent flow;                  // the latest sighting's source and verdict
  std::vector<std::string> names;  // names answers gave the destination, as last seen
  std::uint64_t count = 0;
  std::chrono::system_clock::time_point first_seen;
  std::chrono::system_clock::time_point last_seen;
  // Sightings that were late connections (the address was learned for the workload and
  // had expired), the latest of them, and the longest time past the expiry: what
  // `audit suggest` proposes a rule's minTTL from.
  std::uint64_t late_count = 0;
  std::optional<LateConnection> late;
  std::uint64_t max_expired_ago_s = 0;
  std::uint32_t max_open_for_s = 0;
};

class AuditTable {
 public:
  explicit AuditTable(std::size_t capacity) : capacity_(capacity) {}

  // True when the flow's destination, port and protocol are new to the table.
  // `late`: the flow is a late connection.
  bool record(const FlowEvent& flow, std::vector<std::string> names,
              std::chrono::system_clock::time_point now,
              const std::optional<LateConnection>& late = std::nullopt);
  // Most recently seen first.
  std::vector<AuditRecord> records() const;
  std::size_t size() const { return records_.size(); }
  std::uint64_t forgotten() const { return forgotten_; }

 private:
  using Key = std::tuple<std::uint32_t, IpAddress, std::uint8_t, std::uint16_t>;
  struct Entry {
    AuditRecord record;
    std::list<Key>::iterator recency;
  };
  std::size_t capacity_;
  std::map<Key, Entry> records_;
  std::list<Key> least_recent_first_;
  std::uint64_t forgotten_ = 0;
};

}  // namespace skouter::daemon
