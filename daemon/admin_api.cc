#include "daemon/admin_api.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "daemon/json_text.h"

namespace skouter::daemon {
namespace http = boost::beast::http;
using nlohmann::json;

namespace {

// A query string value as sent: "%3A" for ':' and '+' for a space. A malformed escape
// stays as it is and fails the value's own validation.
std::string percentDecoded(const std::string& text) {
  std::string decoded;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      decoded += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() &&
               std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      decoded += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      decoded += text[i];
    }
  }
  return decoded;
}

}  // namespace

HttpResponse jsonResponse(const HttpRequest& request, http::status status,
                          const std::string& body) {
  HttpResponse response{status, request.version()};
  response.set(http::field::content_type, "application/json");
  response.body() = body;
  return response;
}

AdminReply jsonReply(const HttpRequest& request, http::status status, const std::string& body) {
  return {jsonResponse(request, status, body), nullptr, {}};
}

AdminReply badRequest(const HttpRequest& request, const std::string& error,
                      const std::string& usage) {
  return jsonReply(request, http::status::bad_request,
                   jsonText(json{{"error", error}, {"usage", usage}}));
}

QueryParameters queryParameters(const std::string& query) {
  QueryParameters parameters;
  for (std::size_t start = 0; start <= query.size();) {
    const auto end = std::min(query.find('&', start), query.size());
    const std::string pair = query.substr(start, end - start);
    const auto equals = pair.find('=');
    if (!pair.empty()) {
      parameters[percentDecoded(pair.substr(0, equals))] =
          equals == std::string::npos ? "" : percentDecoded(pair.substr(equals + 1));
    }
    start = end + 1;
  }
  return parameters;
}

AdminReply AdminApi::handle(const HttpRequest& request) const {
  const std::string target(request.target());
  const auto question_mark = target.find('?');
  const std::string path = target.substr(0, question_mark);
  const auto route = std::find_if(routes_.begin(), routes_.end(),
                                  [&path](const AdminRoute& route) { return route.path == path; });
  if (route == routes_.end()) {
    json endpoints = json::object();
    for (const auto& known : routes_) endpoints[known.path] = known.help;
    return jsonReply(
        request, http::status::not_found,
        jsonText(json{{"error", "no such endpoint: " + path}, {"endpoints", endpoints}}));
  }
  if (request.method() != route->method) {
    return jsonReply(
        request, http::status::method_not_allowed,
        jsonText(json{{"error", path + " is served to " +
                                    std::string(http::to_string(route->method)) + " only"}}));
  }
  return route->handle(
      request,
      queryParameters(question_mark == std::string::npos ? "" : target.substr(question_mark + 1)));
}

}  // namespace skouter::daemon
