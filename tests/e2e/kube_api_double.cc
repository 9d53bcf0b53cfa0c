#include "kube_api_double.h"

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#ifndef SKOUTER_E2E_SOURCE_DIR
#error "the build must define SKOUTER_E2E_SOURCE_DIR"
#endif

namespace skouter::e2e {
namespace {

constexpr const char* kToken = "e2e-token-5b7f";
constexpr const char* kAddress = "127.0.0.1:6443";

std::string base64(const std::string& data) {
  static const char* const kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const unsigned n = (static_cast<unsigned char>(data[i]) << 16) |
                       (static_cast<unsigned char>(data[i + 1]) << 8) |
                       static_cast<unsigned char>(data[i + 2]);
    out += {kAlphabet[n >> 18], kAlphabet[(n >> 12) & 63], kAlphabet[(n >> 6) & 63],
            kAlphabet[n & 63]};
  }
  if (i + 1 == data.size()) {
    const unsigned n = static_cast<unsigned char>(data[i]) << 16;
    out += {kAlphabet[n >> 18], kAlphabet[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == data.size()) {
    const unsigned n = (static_cast<unsigned char>(data[i]) << 16) |
                       (static_cast<unsigned char>(data[i + 1]) << 8);
    out += {kAlphabet[n >> 18], kAlphabet[(n >> 12) & 63], kAlphabet[(n >> 6) & 63], '='};
  }
  return out;
}

std::string readFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace

KubeApiDouble::KubeApiDouble(const Lab& lab) : lab_(lab) {
  char pattern[] = "/tmp/skouter-e2e-kube-XXXXXX";
  if (!mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
  directory_ = pattern;
  objects_ = directory_ + "/objects";
  std::filesystem::create_directory(objects_);
  const auto openssl =
      runCommand({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                  "/CN=kube-api-double", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                  "-keyout", directory_ + "/key.pem", "-out", directory_ + "/cert.pem"},
                 std::chrono::seconds(20));
  if (!openssl.ok()) throw std::runtime_error("openssl req: " + openssl.describe());

  kubeconfig_ = directory_ + "/kubeconfig";
  std::ofstream(kubeconfig_) << "apiVersion: v1\n"
                                "kind: Config\n"
                                "current-context: lab\n"
                                "clusters:\n"
                                "- name: lab\n"
                                "  cluster:\n"
                                "    server: https://"
                             << kAddress << "\n"
                             << "    certificate-authority-data: "
                             << base64(readFile(directory_ + "/cert.pem")) << "\n"
                             << "users:\n"
                                "- name: skouterd\n"
                                "  user:\n"
                                "    token: "
                             << kToken << "\n"
                             << "contexts:\n"
                                "- name: lab\n"
                                "  context: {cluster: lab, user: skouterd}\n";

  start();
}

void KubeApiDouble::stop() {
  if (process_) process_->stop();
}

void KubeApiDouble::start() {
  if (process_) process_->stop();
  process_ = lab_.startBackground(
      "node", std::string("exec /usr/bin/python3 ") + SKOUTER_E2E_SOURCE_DIR +
                  "/tests/e2e/lab/kube_api_double.py --objects " + objects_ + " --listen " +
                  kAddress + " --cert " + directory_ + "/cert.pem --key " + directory_ +
                  "/key.pem --token " + kToken);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (process_->output().find("listening on") == std::string::npos) {
    if (!process_->running() || std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("the API server double did not start:\n" + process_->output());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

KubeApiDouble::~KubeApiDouble() {
  if (process_) process_->stop();
  std::error_code ignored;
  std::filesystem::remove_all(directory_, ignored);
}

void KubeApiDouble::write(const std::string& file_name, const std::string& yaml) const {
  // Written aside and renamed, so the double never reads half a file.
  const std::string temporary = directory_ + "/" + file_name + ".tmp";
  std::ofstream(temporary) << yaml;
  std::filesystem::rename(temporary, objects_ + "/" + file_name);
}

void KubeApiDouble::remove(const std::string& file_name) const {
  std::filesystem::remove(objects_ + "/" + file_name);
}

nlohmann::json KubeApiDouble::request(const std::string& method, const std::string& path) const {
  const auto result = lab_.run(
      "node", "curl -sS --max-time 5 --cacert " + directory_ + "/cert.pem -X " + method +
                  " -H 'Authorization: Bearer " + kToken + "' 'https://" + kAddress + path + "'");
  if (!result.ok()) throw std::runtime_error(method + " " + path + ": " + result.describe());
  return nlohmann::json::parse(result.out);
}

nlohmann::json KubeApiDouble::get(const std::string& path) const { return request("GET", path); }
nlohmann::json KubeApiDouble::post(const std::string& path) const { return request("POST", path); }

std::string KubeApiDouble::log() const { return process_ ? process_->output() : ""; }

}  // namespace skouter::e2e
