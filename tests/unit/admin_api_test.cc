// The admin API's route table: dispatch by path and method, the 404 page built from the
// table's help texts, and query strings as clients send them.
#include "daemon/admin_api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace skouter::daemon {
namespace {
namespace http = boost::beast::http;
using nlohmann::json;

HttpRequest get(const std::string& target, http::verb method = http::verb::get) {
  return HttpRequest{method, target, 11};
}

// Two routes; the second echoes its parameters.
AdminApi twoRoutes() {
  return AdminApi({
      {http::verb::get, "/v1/health", "liveness",
       [](const HttpRequest& request, const QueryParameters&) {
         return jsonReply(request, http::status::ok, R"({"ok":true})");
       }},
      {http::verb::get, "/v1/echo", "?a=...: the parameters back",
       [](const HttpRequest& request, const QueryParameters& parameters) {
         return jsonReply(request, http::status::ok, json(parameters).dump());
       }},
  });
}

TEST(AdminApiTest, EachPathGoesToItsRoute) {
  const auto api = twoRoutes();
  const auto health = api.handle(get("/v1/health"));
  EXPECT_EQ(health.response.result(), http::status::ok);
  EXPECT_EQ(health.response.body(), R"({"ok":true})");
  EXPECT_EQ(health.response[http::field::content_type], "application/json");
  EXPECT_EQ(health.stream, nullptr);
}

TEST(AdminApiTest, QueryParametersArriveDecoded) {
  const auto echo = twoRoutes().handle(get("/v1/echo?dst=2001%3Adb8%3A%3A1&name=a+b&flag&x=%zz"));
  EXPECT_EQ(json::parse(echo.response.body()),
            (json{{"dst", "2001:db8::1"}, {"name", "a b"}, {"flag", ""}, {"x", "%zz"}}));
}

TEST(AdminApiTest, AnUnknownPathListsEveryRouteWithItsHelp) {
  const auto missing = twoRoutes().handle(get("/v1/nothing?x=1"));
  EXPECT_EQ(missing.response.result(), http::status::not_found);
  EXPECT_EQ(json::parse(missing.response.body()),
            (json{{"error", "no such endpoint: /v1/nothing"},
                  {"endpoints",
                   {{"/v1/health", "liveness"}, {"/v1/echo", "?a=...: the parameters back"}}}}));
}

TEST(AdminApiTest, AnotherMethodOnAKnownPathIsNotAllowed) {
  const auto posted = twoRoutes().handle(get("/v1/health", http::verb::post));
  EXPECT_EQ(posted.response.result(), http::status::method_not_allowed);
  EXPECT_EQ(json::parse(posted.response.body())["error"], "/v1/health is served to GET only");
}

TEST(AdminApiTest, ABadRequestSaysWhyAndHowTheRouteIsUsed) {
  const auto reply =
      badRequest(get("/v1/explain"), "dst: 'x' is not an IP address", "/v1/explain?dst=ADDR");
  EXPECT_EQ(reply.response.result(), http::status::bad_request);
  EXPECT_EQ(json::parse(reply.response.body()),
            (json{{"error", "dst: 'x' is not an IP address"}, {"usage", "/v1/explain?dst=ADDR"}}));
}

}  // namespace
}  // namespace skouter::daemon
