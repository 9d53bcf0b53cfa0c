// skouterd's admin API: a table of routes, each a method and path with its help text
// and a handler. The routes themselves (over the daemon's read-only view) are one
// table in admin_views.cc: adding a route is adding one entry there, and the 404 page
// lists them all from the same table. Pure: no socket (admin_server.h speaks HTTP).
#pragma once

#include <boost/beast/http.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/event_stream.h"

namespace skouter::daemon {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

// The next piece of a body made as it is sent; nullopt after the last.
using BodyPiece = std::function<std::optional<std::string>()>;

// The answer to one request: a response; or (with `stream` set) an endless chunked
// response of newline-delimited JSON fed by the subscription; or (with `pieces` set)
// a chunked response whose body is made one piece per write, so that a large one is
// never held whole and the event loop goes on between its pieces.
struct AdminReply {
  HttpResponse response;
  std::shared_ptr<EventSubscription> stream;
  BodyPiece pieces;
};

HttpResponse jsonResponse(const HttpRequest& request, boost::beast::http::status status,
                          const std::string& body);
AdminReply jsonReply(const HttpRequest& request, boost::beast::http::status status,
                     const std::string& body);
// 400 with the error and how the route is used.
AdminReply badRequest(const HttpRequest& request, const std::string& error,
                      const std::string& usage);

// A query string's parameters, decoded ("%3A" is ':', '+' a space).
using QueryParameters = std::map<std::string, std::string>;
QueryParameters queryParameters(const std::string& query);

struct AdminRoute {
  boost::beast::http::verb method;
  std::string path;
  std::string help;  // what it answers, with its parameters
  std::function<AdminReply(const HttpRequest& request, const QueryParameters& parameters)> handle;
};

class AdminApi {
 public:
  explicit AdminApi(std::vector<AdminRoute> routes) : routes_(std::move(routes)) {}

  // The route's reply; 405 for a path served with another method, 404 (listing the
  // routes) for any other path.
  AdminReply handle(const HttpRequest& request) const;
  const std::vector<AdminRoute>& routes() const { return routes_; }

 private:
  std::vector<AdminRoute> routes_;
};

}  // namespace skouter::daemon
