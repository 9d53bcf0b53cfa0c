// The Kubernetes API client, Reflector and EventRecorder against the API server test
// double (tests/e2e/lab/kube_api_double.py) on 127.0.0.1, over real HTTPS.
//
// The reflector runs on `io_`, which only runs while a test waits on it; the test talks
// to the double (stats, test controls, reading back events) through a second client on
// `control_io_`. So a test can make something happen at the double while the reflector
// is provably not looking, e.g. between the end of one watch and the start of the next.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "kubernetes/api_client.h"
#include "kubernetes/event_recorder.h"
#include "kubernetes/reflector.h"

#ifndef SKOUTER_KUBE_API_DOUBLE
#error "the build must define SKOUTER_KUBE_API_DOUBLE"
#endif

namespace skouter::kubernetes {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr auto kDeadline = 20s;

std::string readFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// Replaces a file at once, so the double never reads half of it.
void writeFileAtomically(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".partial";
  std::ofstream(temporary) << text;
  std::filesystem::rename(temporary, path);
}

void makeCertificate(const std::string& directory) {
  const std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
      "-subj /CN=kube-api-double -addext subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost "
      "-keyout '" +
      directory + "/key.pem' -out '" + directory + "/cert.pem' 2>'" + directory + "/openssl.log'";
  ASSERT_EQ(std::system(command.c_str()), 0) << readFile(directory + "/openssl.log");
}

// One run of the double; stopped (SIGTERM) when destroyed.
class DoubleProcess {
 public:
  DoubleProcess(const std::string& directory, const std::string& listen, const std::string& token) {
    int output[2];
    if (pipe2(output, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    log_path_ = directory + "/double.log";
    const std::vector<std::string> arguments = {"/usr/bin/python3",
                                                SKOUTER_KUBE_API_DOUBLE,
                                                "--objects",
                                                directory + "/objects",
                                                "--listen",
                                                listen,
                                                "--cert",
                                                directory + "/cert.pem",
                                                "--key",
                                                directory + "/key.pem",
                                                "--token",
                                                token,
                                                "--bookmark-interval",
                                                "0.2",
                                                "--poll-interval",
                                                "0.05"};
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      dup2(output[1], STDOUT_FILENO);
      dup2(log, STDERR_FILENO);
      std::vector<char*> argv;
      for (const auto& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(output[1]);
    stdout_ = output[0];
    port_ = waitUntilListening();
  }

  ~DoubleProcess() {
    stop(SIGTERM);
    close(stdout_);
  }

  const std::string& port() const { return port_; }

  void stop(int signal_number) {
    if (reaped_) return;
    kill(pid_, signal_number);
    for (int i = 0; i < 500; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        reaped_ = true;
        return;
      }
      std::this_thread::sleep_for(10ms);
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    reaped_ = true;
  }

 private:
  // The port of the `listening on HOST:PORT` line.
  std::string waitUntilListening() {
    std::string output;
    const auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd ready{stdout_, POLLIN, 0};
      if (poll(&ready, 1, 100) <= 0) continue;
      char buffer[256];
      const ssize_t n = read(stdout_, buffer, sizeof buffer);
      if (n <= 0) break;
      output.append(buffer, n);
      const auto line_end = output.find('\n');
      if (line_end == std::string::npos) continue;
      const std::string line = output.substr(0, line_end);
      const std::string prefix = "listening on ";
      if (line.rfind(prefix, 0) != 0) break;
      return line.substr(line.rfind(':') + 1);
    }
    stop(SIGKILL);
    throw std::runtime_error("the API double did not start: '" + output + "'; its log:\n" +
                             readFile(log_path_));
  }

  pid_t pid_ = -1;
  int stdout_ = -1;
  bool reaped_ = false;
  std::string port_;
  std::string log_path_;
};

class KubernetesClientTest : public testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/skouter-kubernetes-client-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    std::filesystem::create_directory(dir_ + "/objects");
    makeCertificate(dir_);
    writeFileAtomically(dir_ + "/token", "token-1\n");
    double_ = std::make_unique<DoubleProcess>(dir_, "127.0.0.1:0", "token-1");
    client_ = std::make_unique<ApiClient>(io_, config());
    control_ = std::make_unique<ApiClient>(control_io_, config());
  }

  void TearDown() override {
    control_.reset();
    client_.reset();
    double_.reset();
    if (HasFailure()) std::cerr << "API double log:\n" << readFile(dir_ + "/double.log");
    std::filesystem::remove_all(dir_);
  }

  ApiServerConfig config() const {
    ApiServerConfig config;
    config.host = "127.0.0.1";
    config.port = double_->port();
    config.ca_pem = readFile(dir_ + "/cert.pem");
    config.token_file = dir_ + "/token";
    config.origin = "test";
    return config;
  }

  void restartDouble(const std::string& token) {
    const std::string port = double_->port();
    double_.reset();
    double_ = std::make_unique<DoubleProcess>(dir_, "127.0.0.1:" + port, token);
  }

  // Runs `io` until `done` or the deadline; false at the deadline.
  static bool runUntil(boost::asio::io_context& io, const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      if (io.stopped()) io.restart();
      if (io.run_one_for(20ms) == 0) std::this_thread::sleep_for(5ms);
    }
    return true;
  }

  bool waitFor(const std::function<bool()>& done) { return runUntil(io_, done); }

  // Runs what is ready on io_ without waiting.
  void pollIo() {
    if (io_.stopped()) io_.restart();
    io_.poll();
  }

  static ApiResponse call(boost::asio::io_context& io, ApiClient& client, const std::string& method,
                          const std::string& target, const std::string& body = "") {
    std::optional<ApiResponse> response;
    const auto done = [&](ApiResponse received) { response = std::move(received); };
    if (method == "POST") {
      client.post(target, body, done);
    } else {
      client.get(target, done);
    }
    if (!runUntil(io, [&] { return response.has_value(); })) {
      ADD_FAILURE() << method << " " << target << " got no answer";
      return {};
    }
    return *response;
  }

  // A request on the reflector's client (runs io_).
  ApiResponse request(const std::string& method, const std::string& target,
                      const std::string& body = "") {
    return call(io_, *client_, method, target, body);
  }

  // A request to the double that leaves io_ alone.
  json control(const std::string& method, const std::string& target) {
    const auto response = call(control_io_, *control_, method, target);
    EXPECT_EQ(response.error, "");
    EXPECT_EQ(response.status, 200u) << response.body;
    return json::parse(response.body, nullptr, false);
  }

  void writeObjects(const std::string& file, const std::string& yaml) {
    writeFileAtomically(dir_ + "/objects/" + file, yaml);
  }

  // Waits until the double has turned the files into a resourceVersion beyond `version`.
  void waitForDoubleVersionAbove(unsigned long version) {
    ASSERT_TRUE(runUntil(control_io_, [&] {
      return std::stoul(control("GET", "/_double/stats")["resource_version"].get<std::string>()) >
             version;
    }));
  }

  unsigned long doubleVersion() {
    return std::stoul(control("GET", "/_double/stats")["resource_version"].get<std::string>());
  }

  boost::asio::io_context io_;
  boost::asio::io_context control_io_;
  std::string dir_;
  std::unique_ptr<DoubleProcess> double_;
  std::unique_ptr<ApiClient> client_;
  std::unique_ptr<ApiClient> control_;
};

std::string pod(const std::string& name, const std::string& node, const std::string& version) {
  return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name +
         "\n  namespace: web\n  labels: {version: '" + version + "'}\nspec:\n  nodeName: " + node +
         "\n---\n";
}

// key -> labels.version of every object.
std::map<std::string, std::string> versionsOf(const Reflector::Objects& objects) {
  std::map<std::string, std::string> versions;
  for (const auto& [key, object] : objects) {
    versions[key] = object["metadata"]["labels"].value("version", "");
  }
  return versions;
}

using Versions = std::map<std::string, std::string>;

TEST_F(KubernetesClientTest, GetsAndPostsWithTheBearerToken) {
  writeObjects("pods.yaml", pod("a", "n1", "1"));
  ASSERT_TRUE(waitFor(
      [&] { return request("GET", "/api/v1/pods").body.find("\"a\"") != std::string::npos; }));

  const auto got = request("GET", "/api/v1/namespaces/web/pods/a");
  EXPECT_EQ(got.error, "");
  EXPECT_EQ(got.status, 200u);
  const json pod_object = json::parse(got.body);
  EXPECT_EQ(pod_object["metadata"]["name"], "a");
  EXPECT_EQ(pod_object["spec"]["nodeName"], "n1");

  const auto missing = request("GET", "/api/v1/namespaces/web/pods/nobody");
  EXPECT_EQ(missing.error, "");
  EXPECT_EQ(missing.status, 404u);
  EXPECT_EQ(json::parse(missing.body)["reason"], "NotFound");

  const auto posted = request("POST", "/api/v1/namespaces/web/events",
                              R"({"metadata":{"name":"e1"},"reason":"Test","message":"hello"})");
  EXPECT_EQ(posted.error, "");
  EXPECT_EQ(posted.status, 201u) << posted.body;
  EXPECT_EQ(json::parse(posted.body)["metadata"]["namespace"], "web");
}

TEST_F(KubernetesClientTest, AWrongTokenIsStatus401) {
  auto wrong = config();
  wrong.token_file.clear();
  wrong.token = "not-the-token";
  ApiClient client(io_, wrong);
  const auto response = call(io_, client, "GET", "/api/v1/pods");
  EXPECT_EQ(response.error, "");
  EXPECT_EQ(response.status, 401u);
  EXPECT_EQ(json::parse(response.body)["reason"], "Unauthorized");
}

TEST_F(KubernetesClientTest, TheServerCertificateIsCheckedAgainstTheCaAndTheHost) {
  std::filesystem::create_directory(dir_ + "/other");
  makeCertificate(dir_ + "/other");
  auto other_ca = config();
  other_ca.ca_pem = readFile(dir_ + "/other/cert.pem");
  ApiClient untrusting(io_, other_ca);
  const auto untrusted = call(io_, untrusting, "GET", "/api/v1/pods");
  EXPECT_EQ(untrusted.status, 0u);
  EXPECT_EQ(untrusted.error.rfind("TLS handshake with 127.0.0.1:" + double_->port() +
                                      " failed: the server's certificate is not trusted",
                                  0),
            0u)
      << untrusted.error;

  auto other_name = config();
  other_name.tls_server_name = "kube.example";
  ApiClient misnaming(io_, other_name);
  const auto misnamed = call(io_, misnaming, "GET", "/api/v1/pods");
  EXPECT_NE(misnamed.error.find("(it does not name 'kube.example')"), std::string::npos)
      << misnamed.error;

  // By name (SNI and a DNS SAN): localhost is in the certificate.
  auto by_name = config();
  by_name.host = "localhost";
  ApiClient named(io_, by_name);
  const auto ok = call(io_, named, "GET", "/api/v1/pods");
  EXPECT_EQ(ok.error, "");
  EXPECT_EQ(ok.status, 200u);
}

TEST_F(KubernetesClientTest, ReachesAServerAtAnIpv6Address) {
  DoubleProcess ipv6_double(dir_, "[::1]:0", "token-1");
  auto ipv6 = config();
  ipv6.host = "::1";
  ipv6.port = ipv6_double.port();
  ApiClient client(io_, ipv6);
  const auto response = call(io_, client, "GET", "/api/v1/namespaces");
  EXPECT_EQ(response.error, "");
  EXPECT_EQ(response.status, 200u);
}

TEST_F(KubernetesClientTest, AServerThatNeverCompletesTheHandshakeTimesOut) {
  // The kernel accepts the TCP connection into the backlog; nobody speaks TLS.
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  auto silent = config();
  silent.port = std::to_string(ntohs(address.sin_port));
  ApiClientTimeouts timeouts;
  timeouts.connect = 300ms;
  ApiClient client(io_, silent, timeouts);
  const auto response = call(io_, client, "GET", "/api/v1/pods");
  close(listener);
  EXPECT_EQ(response.error,
            "timed out after 0.3 s connecting to 127.0.0.1:" + silent.port + " (TCP and TLS)");
  EXPECT_EQ(response.status, 0u);
}

TEST_F(KubernetesClientTest, AnInvalidCaIsAConfigError) {
  auto bad = config();
  bad.ca_pem = "not a certificate";
  EXPECT_THROW(ApiClient(io_, bad), ConfigError);
}

TEST_F(KubernetesClientTest, ARotatedTokenFileIsReadForTheNextRequest) {
  EXPECT_EQ(request("GET", "/api/v1/pods").status, 200u);
  restartDouble("token-2");
  // The file still holds token-1: the client sends what the file says.
  EXPECT_EQ(request("GET", "/api/v1/pods").status, 401u);
  writeFileAtomically(dir_ + "/token", "token-2\n");
  EXPECT_EQ(request("GET", "/api/v1/pods").status, 200u);
}

TEST_F(KubernetesClientTest, AWatchDeliversLinesAndEndsCleanly) {
  writeObjects("pods.yaml", pod("a", "n1", "1") + pod("b", "n1", "1"));
  ASSERT_TRUE(waitFor(
      [&] { return json::parse(request("GET", "/api/v1/pods").body)["items"].size() == 2; }));
  std::vector<std::string> lines;
  std::optional<ApiResponse> end;
  const auto stream = client_->watch(
      "/api/v1/pods?watch=true&timeoutSeconds=1",
      [&](std::string_view line) { lines.emplace_back(line); },
      [&](ApiResponse response) { end = std::move(response); });
  ASSERT_TRUE(waitFor([&] { return end.has_value(); }));
  EXPECT_EQ(end->error, "");
  EXPECT_EQ(end->status, 200u);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(json::parse(lines[0])["type"], "ADDED");
  EXPECT_EQ(json::parse(lines[1])["object"]["metadata"]["name"], "b");
}

TEST_F(KubernetesClientTest, ACancelledWatchNeverCallsDone) {
  bool done_called = false;
  auto stream = client_->watch(
      "/api/v1/pods?watch=true", [](std::string_view) {}, [&](ApiResponse) { done_called = true; });
  const auto open_watches = [&] {
    pollIo();
    return control("GET", "/_double/stats")["open_watches"]["pods"].get<int>();
  };
  ASSERT_TRUE(runUntil(control_io_, [&] { return open_watches() == 1; }));
  stream.reset();
  ASSERT_TRUE(runUntil(control_io_, [&] { return open_watches() == 0; }));
  pollIo();
  EXPECT_FALSE(done_called);
}

TEST_F(KubernetesClientTest, AReflectorListsThenFollowsTheWatch) {
  writeObjects("pods.yaml",
               pod("a", "n1", "1") + pod("b", "n1", "1") + pod("elsewhere", "n2", "1"));
  waitForDoubleVersionAbove(3);
  int changes = 0;
  Reflector pods(io_, *client_, "/api/v1/pods", "fieldSelector=spec.nodeName%3Dn1",
                 [&] { ++changes; });
  pods.start();
  ASSERT_TRUE(waitFor([&] { return pods.synced(); }));
  EXPECT_EQ(versionsOf(pods.objects()), (Versions{{"web/a", "1"}, {"web/b", "1"}}));
  // Listed items get their kind back, like watched ones.
  EXPECT_EQ(pods.objects().at("web/a")["kind"], "Pod");
  EXPECT_EQ(pods.objects().at("web/a")["apiVersion"], "v1");
  ASSERT_TRUE(waitFor([&] { return changes >= 1; }));

  // Modified, added, deleted, and moved onto and off the node.
  int changes_before = changes;
  writeObjects("pods.yaml",
               pod("a", "n1", "2") + pod("c", "n1", "1") + pod("elsewhere", "n1", "1"));
  ASSERT_TRUE(waitFor([&] {
    return versionsOf(pods.objects()) ==
           Versions{{"web/a", "2"}, {"web/c", "1"}, {"web/elsewhere", "1"}};
  }));
  ASSERT_TRUE(waitFor([&] { return changes > changes_before; }));
  changes_before = changes;
  writeObjects("pods.yaml", pod("a", "n2", "2") + pod("c", "n1", "1"));
  ASSERT_TRUE(waitFor([&] { return versionsOf(pods.objects()) == Versions{{"web/c", "1"}}; }));
  ASSERT_TRUE(waitFor([&] { return changes > changes_before; }));
  EXPECT_EQ(pods.stats().lists, 1u);
  EXPECT_EQ(pods.stats().expired, 0u);
  EXPECT_EQ(pods.stats().errors, 0u) << pods.stats().last_error;
  EXPECT_GE(pods.stats().events, 5u);
}

TEST_F(KubernetesClientTest, BookmarksAdvanceTheResourceVersion) {
  Reflector namespaces(io_, *client_, "/api/v1/namespaces", "", [] {});
  namespaces.start();
  ASSERT_TRUE(waitFor([&] { return namespaces.synced(); }));
  const auto listed = std::stoul(namespaces.stats().resource_version);
  // A change to another collection moves the global version; the namespaces watch only
  // learns of it from a bookmark.
  writeObjects("pods.yaml", pod("a", "n1", "1"));
  ASSERT_TRUE(waitFor([&] { return std::stoul(namespaces.stats().resource_version) > listed; }));
  EXPECT_GE(namespaces.stats().bookmarks, 1u);
  EXPECT_EQ(namespaces.stats().events, 0u);
  EXPECT_TRUE(namespaces.objects().empty());
}

TEST_F(KubernetesClientTest, AClosedWatchIsResumedWithoutRelistOrLostEvents) {
  writeObjects("pods.yaml", pod("a", "n1", "1"));
  waitForDoubleVersionAbove(1);
  Reflector pods(io_, *client_, "/api/v1/pods", "", [] {});
  pods.start();
  ASSERT_TRUE(waitFor([&] {
    return pods.synced() && pods.stats().watches == 1 &&
           control("GET", "/_double/stats")["open_watches"]["pods"] == 1;
  }));
  const json before = control("GET", "/_double/stats");

  // While io_ is not run, the reflector cannot re-watch: the change falls in the gap.
  EXPECT_EQ(control("POST", "/_double/close-watches")["closed"], 1);
  ASSERT_TRUE(runUntil(
      control_io_, [&] { return control("GET", "/_double/stats")["open_watches"]["pods"] == 0; }));
  const auto version = doubleVersion();
  writeObjects("pods.yaml", pod("a", "n1", "2") + pod("gap", "n1", "1"));
  waitForDoubleVersionAbove(version + 1);

  ASSERT_TRUE(waitFor([&] {
    return versionsOf(pods.objects()) == Versions{{"web/a", "2"}, {"web/gap", "1"}};
  }));
  const json after = control("GET", "/_double/stats");
  EXPECT_EQ(after["lists"]["pods"], before["lists"]["pods"]);
  EXPECT_GT(after["watches"]["pods"].get<int>(), before["watches"]["pods"].get<int>());
  EXPECT_EQ(pods.stats().lists, 1u);
  EXPECT_EQ(pods.stats().watches, 2u);
  EXPECT_EQ(pods.stats().expired, 0u);
  EXPECT_EQ(pods.stats().errors, 0u) << pods.stats().last_error;
}

TEST_F(KubernetesClientTest, AnExpiredVersionRelistsAndTheStoreMatchesTheFiles) {
  writeObjects("pods.yaml", pod("a", "n1", "1") + pod("b", "n1", "1"));
  waitForDoubleVersionAbove(2);
  Reflector pods(io_, *client_, "/api/v1/pods", "", [] {});
  pods.start();
  ASSERT_TRUE(waitFor([&] {
    return pods.synced() && control("GET", "/_double/stats")["open_watches"]["pods"] == 1;
  }));
  const json before = control("GET", "/_double/stats");

  // Changes the reflector has not seen, then history is compacted past them.
  const auto version = doubleVersion();
  writeObjects("pods.yaml", pod("a", "n1", "3") + pod("c", "n1", "1"));
  waitForDoubleVersionAbove(version + 2);
  EXPECT_EQ(control("POST", "/_double/expire")["expired_watches"], 1);

  ASSERT_TRUE(waitFor([&] { return pods.stats().expired >= 1 && pods.stats().lists >= 2; }));
  ASSERT_TRUE(waitFor([&] {
    return versionsOf(pods.objects()) == Versions{{"web/a", "3"}, {"web/c", "1"}};
  }));
  EXPECT_GT(control("GET", "/_double/stats")["lists"]["pods"].get<int>(),
            before["lists"]["pods"].get<int>());
  EXPECT_EQ(pods.stats().errors, 0u) << pods.stats().last_error;
}

TEST_F(KubernetesClientTest, AReflectorRecoversWhenTheServerComesBack) {
  writeObjects("pods.yaml", pod("a", "n1", "1") + pod("b", "n1", "1"));
  waitForDoubleVersionAbove(2);
  Reflector pods(io_, *client_, "/api/v1/pods", "", [] {});
  pods.start();
  ASSERT_TRUE(waitFor([&] {
    return pods.synced() && control("GET", "/_double/stats")["open_watches"]["pods"] == 1;
  }));
  const auto lists_before = pods.stats().lists;

  const std::string port = double_->port();
  double_->stop(SIGKILL);
  ASSERT_TRUE(waitFor([&] { return pods.stats().errors >= 3; }));
  EXPECT_NE(pods.stats().last_error.find("connecting to 127.0.0.1:" + port), std::string::npos)
      << pods.stats().last_error;
  // Kept while the server is away.
  EXPECT_EQ(versionsOf(pods.objects()), (Versions{{"web/a", "1"}, {"web/b", "1"}}));

  // A new server with other contents (and a history of its own) on the same port.
  writeObjects("pods.yaml", pod("b", "n1", "2") + pod("c", "n1", "1"));
  double_ = std::make_unique<DoubleProcess>(dir_, "127.0.0.1:" + port, "token-1");
  ASSERT_TRUE(waitFor([&] {
    return versionsOf(pods.objects()) == Versions{{"web/b", "2"}, {"web/c", "1"}};
  }));
  EXPECT_GT(pods.stats().lists, lists_before);
  // And it watches again: a later change arrives as an event.
  const auto events = pods.stats().events;
  writeObjects("pods.yaml", pod("c", "n1", "1"));
  ASSERT_TRUE(waitFor([&] { return versionsOf(pods.objects()) == Versions{{"web/c", "1"}}; }));
  EXPECT_GT(pods.stats().events, events);
}

TEST_F(KubernetesClientTest, TheEventRecorderPostsEventsOnceEach) {
  EventRecorder recorder(*client_, "skouterd", "node-1");
  const ObjectReference egress{"egress.skouter/v1alpha1", "Egress", "web", "allow-example",
                               "uid-1234"};
  recorder.record(egress, "Warning", "InvalidEgress", "spec.rules[0].cidrs[0]: bad");
  recorder.record(egress, "Warning", "InvalidEgress", "spec.rules[0].cidrs[0]: bad");
  recorder.record(egress, "Warning", "InvalidEgress", "spec.rules[1].ips[0]: bad");
  json events;
  ASSERT_TRUE(waitFor([&] {
    events = json::parse(request("GET", "/api/v1/namespaces/web/events").body)["items"];
    return events.size() >= 2;
  }));
  // The repeat was never sent: both sent ones have arrived and nothing else can.
  ASSERT_EQ(events.size(), 2u) << events.dump();
  std::set<std::string> messages;
  for (const json& event : events) {
    messages.insert(event["message"].get<std::string>());
    EXPECT_EQ(event["type"], "Warning");
    EXPECT_EQ(event["reason"], "InvalidEgress");
    EXPECT_EQ(event["count"], 1);
    EXPECT_EQ(event["involvedObject"]["kind"], "Egress");
    EXPECT_EQ(event["involvedObject"]["apiVersion"], "egress.skouter/v1alpha1");
    EXPECT_EQ(event["involvedObject"]["namespace"], "web");
    EXPECT_EQ(event["involvedObject"]["name"], "allow-example");
    EXPECT_EQ(event["involvedObject"]["uid"], "uid-1234");
    EXPECT_EQ(event["source"]["component"], "skouterd");
    EXPECT_EQ(event["source"]["host"], "node-1");
    EXPECT_EQ(event["firstTimestamp"].get<std::string>().size(), 20u);  // 2024-01-02T03:04:05Z
  }
  EXPECT_EQ(messages,
            (std::set<std::string>{"spec.rules[0].cidrs[0]: bad", "spec.rules[1].ips[0]: bad"}));

  // A cluster-scoped object's events go to "default".
  recorder.record({"v1", "Node", "", "node-1", "uid-node"}, "Normal", "Started", "hello");
  ASSERT_TRUE(waitFor([&] {
    return json::parse(request("GET", "/api/v1/namespaces/default/events").body)["items"].size() ==
           1;
  }));
}

}  // namespace
}  // namespace skouter::kubernetes
