#include <gtest/gtest.h>

#include "kubernetes/reflector.h"

namespace skouter::kubernetes {
namespace {

using nlohmann::json;

std::string podEvent(const std::string& type, const std::string& name,
                     const std::string& resource_version, const std::string& phase = "Running") {
  return json{
      {"type", type},
      {"object",
       {{"kind", "Pod"},
        {"apiVersion", "v1"},
        {"metadata", {{"name", name}, {"namespace", "web"}, {"resourceVersion", resource_version}}},
        {"status", {{"phase", phase}}}}}}
      .dump();
}

std::string keysOf(const ReflectorObjects& objects) {
  std::string keys;
  for (const auto& [key, object] : objects) keys += key + " ";
  return keys;
}

TEST(ApplyWatchEvent, AddedModifiedAndDeletedChangeTheObjects) {
  ReflectorObjects objects;
  auto event = applyWatchEvent(podEvent("ADDED", "a", "10"), objects);
  EXPECT_EQ(event.type, WatchEventType::kAdded);
  EXPECT_EQ(event.key, "web/a");
  EXPECT_EQ(event.resource_version, "10");
  EXPECT_EQ(event.error, "");
  applyWatchEvent(podEvent("ADDED", "b", "11"), objects);
  EXPECT_EQ(keysOf(objects), "web/a web/b ");

  event = applyWatchEvent(podEvent("MODIFIED", "a", "12", "Succeeded"), objects);
  EXPECT_EQ(event.type, WatchEventType::kModified);
  EXPECT_EQ(event.resource_version, "12");
  EXPECT_EQ(objects.at("web/a")["status"]["phase"], "Succeeded");
  EXPECT_EQ(objects.at("web/a")["metadata"]["resourceVersion"], "12");

  event = applyWatchEvent(podEvent("DELETED", "a", "13"), objects);
  EXPECT_EQ(event.type, WatchEventType::kDeleted);
  EXPECT_EQ(event.key, "web/a");
  EXPECT_EQ(event.resource_version, "13");
  EXPECT_EQ(keysOf(objects), "web/b ");
}

TEST(ApplyWatchEvent, AResumedWatchMayRepeatOrMissObjects) {
  ReflectorObjects objects;
  applyWatchEvent(podEvent("ADDED", "a", "10"), objects);
  // ADDED for a known object replaces it; MODIFIED for an unknown one adds it.
  EXPECT_EQ(applyWatchEvent(podEvent("ADDED", "a", "14", "Failed"), objects).type,
            WatchEventType::kAdded);
  EXPECT_EQ(objects.at("web/a")["status"]["phase"], "Failed");
  EXPECT_EQ(applyWatchEvent(podEvent("MODIFIED", "c", "15"), objects).type,
            WatchEventType::kModified);
  // DELETED for an unknown object is no error.
  EXPECT_EQ(applyWatchEvent(podEvent("DELETED", "gone", "16"), objects).type,
            WatchEventType::kDeleted);
  EXPECT_EQ(keysOf(objects), "web/a web/c ");
}

TEST(ApplyWatchEvent, ClusterScopedObjectsAreKeyedByName) {
  ReflectorObjects objects;
  const auto event = applyWatchEvent(
      R"json({"type":"ADDED","object":{"kind":"Namespace","apiVersion":"v1",
          "metadata":{"name":"web","resourceVersion":"3","labels":{"team":"a"}}}})json",
      objects);
  EXPECT_EQ(event.key, "web");
  EXPECT_EQ(objects.at("web")["metadata"]["labels"]["team"], "a");
}

TEST(ApplyWatchEvent, BookmarksCarryOnlyAResourceVersion) {
  ReflectorObjects objects;
  applyWatchEvent(podEvent("ADDED", "a", "10"), objects);
  const auto event = applyWatchEvent(
      R"json({"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1",
          "metadata":{"resourceVersion":"42"}}})json",
      objects);
  EXPECT_EQ(event.type, WatchEventType::kBookmark);
  EXPECT_EQ(event.resource_version, "42");
  EXPECT_EQ(event.key, "");
  EXPECT_EQ(keysOf(objects), "web/a ");
  EXPECT_EQ(objects.at("web/a")["metadata"]["resourceVersion"], "10");
}

TEST(ApplyWatchEvent, Error410MeansExpired) {
  ReflectorObjects objects;
  applyWatchEvent(podEvent("ADDED", "a", "10"), objects);
  const auto event = applyWatchEvent(
      R"json({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},
          "status":"Failure","message":"too old resource version: 5 (9)",
          "reason":"Expired","code":410
}
})json",
      objects);
  EXPECT_EQ(event.type, WatchEventType::kExpired);
  EXPECT_EQ(event.error, "code 410 (Expired): too old resource version: 5 (9)");
  EXPECT_EQ(keysOf(objects), "web/a ");  // kept until a relist replaces them
}

TEST(ApplyWatchEvent, OtherErrorsAreErrors) {
  ReflectorObjects objects;
  const auto event = applyWatchEvent(
      R"json({"type":"ERROR","object":{"kind":"Status","status":"Failure",
          "message":"etcd is unhappy","reason":"InternalError","code":500}})json",
      objects);
  EXPECT_EQ(event.type, WatchEventType::kError);
  EXPECT_EQ(event.error, "code 500 (InternalError): etcd is unhappy");
}

TEST(ApplyWatchEvent, GarbageLinesChangeNothingAndSayWhy) {
  ReflectorObjects objects;
  applyWatchEvent(podEvent("ADDED", "a", "10"), objects);
  const ReflectorObjects before = objects;
  const std::pair<std::string, std::string> cases[] = {
      {"", "not a JSON object: ''"},
      {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"na", "not a JSON object: "},
      {"[1,2]", "not a JSON object: '[1,2]'"},
      {R"json({"type":"ADDED"})json", "a watch event without an object: '{\"type\":\"ADDED\"}'"},
      {R"json({"type":"ADDED","object":"web/a"})json", "a watch event without an object: "},
      {R"json({"type":"RENAMED","object":{"metadata":{"name":"a"}}})json",
       "unknown watch event type 'RENAMED'"},
      {R"json({"object":{"metadata":{"name":"a"}}})json", "unknown watch event type ''"},
      {R"json({"type":"DELETED","object":{"metadata":{"namespace":"web"}}})json",
       "DELETED event for an object without metadata.name"},
  };
  for (const auto& [line, error] : cases) {
    const auto event = applyWatchEvent(line, objects);
    EXPECT_EQ(event.type, WatchEventType::kInvalid) << line;
    EXPECT_EQ(event.error.substr(0, error.size()), error) << line;
    EXPECT_EQ(objects, before) << line;
  }
}

TEST(ApplyWatchEvent, AVeryLongGarbageLineIsShortenedInTheError) {
  ReflectorObjects objects;
  const auto event = applyWatchEvent(std::string(10000, 'x'), objects);
  EXPECT_EQ(event.type, WatchEventType::kInvalid);
  EXPECT_LT(event.error.size(), 200u);
}

TEST(ParseList, KeysItemsAndFillsTheirKindAndApiVersion) {
  const auto list = parseList(R"json({"kind":"EgressList","apiVersion":"egress.skouter/v1alpha1",
      "metadata":{"resourceVersion":"77"},
      "items":[{"metadata":{"name":"e1","namespace":"web"},"spec":{}},
               {"kind":"Egress","apiVersion":"egress.skouter/v1alpha1",
                "metadata":{"name":"e2","namespace":"db"}}]})json");
  EXPECT_EQ(list.error, "");
  EXPECT_EQ(list.resource_version, "77");
  EXPECT_EQ(keysOf(list.objects), "db/e2 web/e1 ");
  EXPECT_EQ(list.objects.at("web/e1")["kind"], "Egress");
  EXPECT_EQ(list.objects.at("web/e1")["apiVersion"], "egress.skouter/v1alpha1");
  EXPECT_TRUE(list.objects.at("web/e1").contains("spec"));
}

TEST(ParseList, AnEmptyListHasNoObjects) {
  for (const char* body : {R"json({"kind":"PodList","apiVersion":"v1","metadata":
                                {"resourceVersion":"5"},"items":[]})json",
                           R"json({"kind":"PodList","apiVersion":"v1","metadata":
                                {"resourceVersion":"5"},"items":null})json"}) {
    const auto list = parseList(body);
    EXPECT_EQ(list.error, "") << body;
    EXPECT_EQ(list.resource_version, "5");
    EXPECT_TRUE(list.objects.empty());
  }
}

TEST(ParseList, RejectsWhatIsNotAList) {
  EXPECT_EQ(parseList("<html>").error, "not a list: '<html>'");
  EXPECT_EQ(parseList(R"json({"items":{}})json").error, "not a list: '{\"items\":{}}'");
  EXPECT_EQ(parseList(R"json({"kind":"PodList","items":[]})json").error,
            "a list without metadata.resourceVersion");
  const auto nameless = parseList(
      R"json({"kind":"PodList","metadata":{"resourceVersion":"1"},"items":[{"metadata":{}}]})json");
  EXPECT_EQ(nameless.error, R"json(a list item without metadata.name: '{"metadata":{}}')json");
  EXPECT_TRUE(nameless.objects.empty());
}

}  // namespace
}  // namespace skouter::kubernetes
