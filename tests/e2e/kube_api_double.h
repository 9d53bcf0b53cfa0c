// The Kubernetes API server test double (lab/kube_api_double.py) running in a lab's
// node namespace, and a kubeconfig for skouterd to reach it. Objects are ordinary
// Kubernetes YAML files in a directory the double watches.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "lab.h"

namespace skouter::e2e {

class KubeApiDouble {
 public:
  // Makes a certificate, a token and a kubeconfig in a fresh directory and starts the
  // double on 127.0.0.1:6443 in the node namespace; throws if it does not come up.
  explicit KubeApiDouble(const Lab& lab);
  ~KubeApiDouble();

  const std::string& kubeconfigPath() const { return kubeconfig_; }
  // Stops the double (an API server outage) and starts it again on the same address
  // with the same objects.
  void stop();
  void start();
  // Writes (replaces) one file of objects; the double turns the difference into watch
  // events within its poll interval.
  void write(const std::string& file_name, const std::string& yaml) const;
  void remove(const std::string& file_name) const;
  // GET or POST `path` with the bearer token, from the node namespace; the JSON body.
  nlohmann::json get(const std::string& path) const;
  nlohmann::json post(const std::string& path) const;
  std::string log() const;

 private:
  nlohmann::json request(const std::string& method, const std::string& path) const;

  const Lab& lab_;
  std::string directory_;
  std::string objects_;
  std::string kubeconfig_;
  std::unique_ptr<BackgroundProcess> process_;
};

}  // namespace skouter::e2e
