// What the admin API shows: JSON bodies (and the Prometheus text), each a function of
// the daemon's read-only view.
#pragma once

#include <string>
#include <vector>

#include "daemon/admin_api.h"
#include "daemon/daemon_view.h"

namespace skouter::daemon {

// skouterd's admin API, one entry per route: the views below; /v1/events subscribes
// to `events`.
std::vector<AdminRoute> adminRoutes(const DaemonView& view, EventHub& events);

// GET /v1/status.
std::string statusJson(const DaemonView& view);
// GET /v1/entries: learned addresses (names, expiry, ports, rule), then static ones, as
// one JSON array made in pieces of kEntriesPerPiece entries, one entry a line.
BodyPiece entriesBody(const DaemonView& view);
inline constexpr std::size_t kEntriesPerPiece = 1000;
// GET /v1/policies: every Egress in force and the workloads it selects.
std::string policiesJson(const DaemonView& view);
// GET /v1/audit: the flows denied or audited, one record per destination.
std::string auditJson(const DaemonView& view);
// GET /v1/explain: the verdict a new connection `parameters` describes would get. On
// a parameter that is missing or wrong, returns "" and says why in `error`.
std::string explainJson(const DaemonView& view, QueryParameters parameters, std::string& error);

// Every metric, in the Prometheus text format (metrics_view.cc).
std::string metricsText(const DaemonView& view);
// GET /metrics as the metrics endpoint serves it; 404 for anything else.
HttpResponse metricsResponse(const DaemonView& view, const HttpRequest& request);

}  // namespace skouter::daemon
