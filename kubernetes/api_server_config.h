// Where the Kubernetes API server is and how to authenticate to it: from the pod's
// service account (in-cluster) or from a kubeconfig file, as kubectl reads them.
#pragma once

#include <stdexcept>
#include <string>

namespace skouter::kubernetes {

struct ApiServerConfig {
  std::string host;  // name or literal IP (IPv6 without brackets)
  std::string port = "443";
  // Prepended to every request target: a server URL such as
  // https://rancher.example/k8s/clusters/c-1 serves the API below a path.
  std::string path_prefix;
  std::string ca_pem;  // PEM of the CA(s) to trust; empty: system store
  bool insecure_skip_tls_verify = false;
  // The name the server's certificate is checked against (and sent as SNI) when it is
  // not `host`: kubeconfig `tls-server-name`.
  std::string tls_server_name;
  std::string token;  // a fixed bearer token (kubeconfig `token`)
  // Read at each connection, so a rotated token (service-account tokens rotate about
  // hourly) is used as soon as it is written; wins over `token` when both are set.
  std::string token_file;
  std::string client_certificate_pem, client_key_pem;  // kubeconfig client cert auth
  std::string origin;  // "in-cluster" or "kubeconfig /path (context ctx)"
};

class ConfigError : public std::runtime_error {
 public:
  using runtime_error::runtime_error;
};

// KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT from the environment, token and ca.crt
// from `secrets_dir`. Throws ConfigError naming what is missing ("not running in a cluster:
// KUBERNETES_SERVICE_HOST is not set; use --kubeconfig").
ApiServerConfig inClusterConfig(
    const std::string& secrets_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// A kubeconfig file: current-context (or `context`), its cluster (server https://host:port,
// certificate-authority or certificate-authority-data, insecure-skip-tls-verify,
// tls-server-name) and user (token, tokenFile, client-certificate(-data),
// client-key(-data)). Relative paths are relative to the kubeconfig's directory. Throws
// ConfigError naming the file and field.
ApiServerConfig loadKubeconfig(const std::string& path, const std::string& context = "");

}  // namespace skouter::kubernetes
