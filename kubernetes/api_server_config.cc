#include "kubernetes/api_server_config.h"

#include <yaml-cpp/yaml.h>

#include <array>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace skouter::kubernetes {
namespace {

// Returns false when the file cannot be opened; `contents` is then untouched.
bool readFile(const std::string& path, std::string& contents) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return false;
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) return false;
  contents = text.str();
  return true;
}

// Whitespace (line breaks of a wrapped value) is skipped, as Go's decoder for
// kubeconfig data fields does. Returns false on any other non-alphabet character.
bool decodeBase64(const std::string& text, std::string& decoded) {
  static const auto kValues = [] {
    std::array<int, 256> values;
    values.fill(-1);
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (std::size_t i = 0; i < alphabet.size(); ++i) {
      values[static_cast<unsigned char>(alphabet[i])] = static_cast<int>(i);
    }
    return values;
  }();
  decoded.clear();
  unsigned accumulator = 0;
  int bits = 0;
  bool padding = false;
  for (const unsigned char c : text) {
    if (std::isspace(c)) continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    if (padding || kValues[c] < 0) return false;
    accumulator = (accumulator << 6) | static_cast<unsigned>(kValues[c]);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      decoded += static_cast<char>((accumulator >> bits) & 0xff);
    }
  }
  return true;
}

std::string trimmed(const std::string& text) {
  const auto begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  const auto end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

class KubeconfigReader {
 public:
  explicit KubeconfigReader(std::string path)
      : path_(std::move(path)), directory_(std::filesystem::path(path_).parent_path()) {}

  ApiServerConfig read(const std::string& requested_context) {
    std::string text;
    if (!readFile(path_, text)) fail("cannot be read");
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& error) {
      fail("is not valid YAML: " + error.msg + " (line " + std::to_string(error.mark.line + 1) +
           ")");
    }
    if (!root.IsMap()) fail("is not a kubeconfig (expected a mapping at the top)");

    std::string context_name = requested_context;
    if (context_name.empty()) {
      context_name = optionalString(root, "current-context", "current-context");
      if (context_name.empty()) {
        fail("current-context is not set; name a context to use");
      }
    }
    const YAML::Node context = namedEntry(root, "contexts", "context", context_name);
    const std::string context_field = "contexts[name=" + context_name + "].context";
    const std::string cluster_name = requiredString(context, "cluster", context_field);
    const std::string user_name = optionalString(context, "user", context_field);

    ApiServerConfig config;
    config.origin = "kubeconfig " + path_ + " (context " + context_name + ")";
    readCluster(namedEntry(root, "clusters", "cluster", cluster_name),
                "clusters[name=" + cluster_name + "].cluster", config);
    if (!user_name.empty()) {
      readUser(namedEntry(root, "users", "user", user_name), "users[name=" + user_name + "].user",
               config);
    }
    return config;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw ConfigError("kubeconfig " + path_ + ": " + what);
  }

  // The `kind` member of the list entry named `name` in root[list] (contexts, clusters,
  // users all have this shape).
  YAML::Node namedEntry(const YAML::Node& root, const std::string& list, const std::string& kind,
                        const std::string& name) const {
    const YAML::Node entries = root[list];
    if (entries && !entries.IsSequence()) fail(list + " is not a list");
    if (entries) {
      for (const auto& entry : entries) {
        if (!entry.IsMap()) continue;
        const YAML::Node entry_name = entry["name"];
        if (!entry_name || !entry_name.IsScalar() || entry_name.Scalar() != name) continue;
        const YAML::Node value = entry[kind];
        if (!value || !value.IsMap()) {
          fail(list + "[name=" + name + "]." + kind + " is missing or not a mapping");
        }
        return value;
      }
    }
    fail(kind + " '" + name + "' is not in " + list);
  }

  std::string optionalString(const YAML::Node& map, const std::string& key,
                             const std::string& field) const {
    const YAML::Node value = map[key];
    if (!value || value.IsNull()) return "";
    if (!value.IsScalar()) fail(field + " is not a string");
    return value.Scalar();
  }

  std::string requiredString(const YAML::Node& map, const std::string& key,
                             const std::string& parent) const {
    const std::string value = optionalString(map, key, parent + "." + key);
    if (value.empty()) fail(parent + "." + key + " is missing");
    return value;
  }

  bool optionalBool(const YAML::Node& map, const std::string& key, const std::string& field) const {
    const YAML::Node value = map[key];
    if (!value || value.IsNull()) return false;
    bool result = false;
    if (!value.IsScalar() || !YAML::convert<bool>::decode(value, result)) {
      fail(field + " is not true or false");
    }
    return result;
  }

  std::string resolvedPath(const std::string& path) const {
    const std::filesystem::path file(path);
    return file.is_absolute() ? path : (directory_ / file).string();
  }

  // `key` (a file name) or `key`-data (base64 of its contents), whichever is set.
  std::string fileOrData(const YAML::Node& map, const std::string& key,
                         const std::string& parent) const {
    const std::string data = optionalString(map, key + "-data", parent + "." + key + "-data");
    if (!data.empty()) {
      std::string decoded;
      if (!decodeBase64(data, decoded)) fail(parent + "." + key + "-data is not valid base64");
      return decoded;
    }
    const std::string file = optionalString(map, key, parent + "." + key);
    if (file.empty()) return "";
    const std::string resolved = resolvedPath(file);
    std::string contents;
    if (!readFile(resolved, contents)) {
      fail(parent + "." + key + ": cannot read " + resolved);
    }
    return contents;
  }

  void readCluster(const YAML::Node& cluster, const std::string& field,
                   ApiServerConfig& config) const {
    const std::string server = requiredString(cluster, "server", field);
    parseServer(server, field + ".server", config);
    config.ca_pem = fileOrData(cluster, "certificate-authority", field);
    config.insecure_skip_tls_verify =
        optionalBool(cluster, "insecure-skip-tls-verify", field + ".insecure-skip-tls-verify");
    config.tls_server_name = optionalString(cluster, "tls-server-name", field + ".tls-server-name");
    if (!optionalString(cluster, "proxy-url", field + ".proxy-url").empty()) {
      fail(field + ".proxy-url is set, but connecting through a proxy is not supported");
    }
  }

  // https://host[:port][/path], host a name, an IPv4 address or [an IPv6 address].
  void parseServer(const std::string& server, const std::string& field,
                   ApiServerConfig& config) const {
    const std::string scheme = "https://";
    if (server.rfind(scheme, 0) != 0) {
      fail(field + " '" + server + "' is not an https:// URL (plain http is not supported)");
    }
    std::string rest = server.substr(scheme.size());
    const auto path_start = rest.find('/');
    if (path_start != std::string::npos) {
      config.path_prefix = rest.substr(path_start);
      while (!config.path_prefix.empty() && config.path_prefix.back() == '/') {
        config.path_prefix.pop_back();
      }
      rest.resize(path_start);
    }
    std::string port;
    if (!rest.empty() && rest.front() == '[') {
      const auto close = rest.find(']');
      if (close == std::string::npos) fail(field + " '" + server + "' has an unclosed '['");
      config.host = rest.substr(1, close - 1);
      const std::string after = rest.substr(close + 1);
      if (!after.empty()) {
        if (after.front() != ':') fail(field + " '" + server + "' has junk after ']'");
        port = after.substr(1);
      }
    } else {
      const auto colon = rest.find(':');
      config.host = rest.substr(0, colon);
      if (colon != std::string::npos) port = rest.substr(colon + 1);
    }
    if (config.host.empty()) fail(field + " '" + server + "' has no host");
    if (!port.empty()) {
      const bool digits = port.find_first_not_of("0123456789") == std::string::npos;
      if (!digits || port.size() > 5 || std::stoul(port) == 0 || std::stoul(port) > 65535) {
        fail(field + " '" + server + "' has an invalid port '" + port + "'");
      }
      config.port = port;
    }
  }

  void readUser(const YAML::Node& user, const std::string& field, ApiServerConfig& config) const {
    config.token = optionalString(user, "token", field + ".token");
    const std::string token_file = optionalString(user, "tokenFile", field + ".tokenFile");
    if (!token_file.empty()) {
      config.token_file = resolvedPath(token_file);
      std::string token;
      if (!readFile(config.token_file, token)) {
        fail(field + ".tokenFile: cannot read " + config.token_file);
      }
    }
    config.client_certificate_pem = fileOrData(user, "client-certificate", field);
    config.client_key_pem = fileOrData(user, "client-key", field);
    if (config.client_certificate_pem.empty() != config.client_key_pem.empty()) {
      fail(field + " needs both client-certificate and client-key (only one is set)");
    }
    const bool has_credentials = !config.token.empty() || !config.token_file.empty() ||
                                 !config.client_certificate_pem.empty();
    for (const char* unsupported : {"exec", "auth-provider"}) {
      if (user[unsupported] && !has_credentials) {
        fail(field + "." + unsupported +
             " is not supported; use token, tokenFile or client-certificate/client-key");
      }
    }
  }

  std::string path_;
  std::filesystem::path directory_;
};

}  // namespace

ApiServerConfig inClusterConfig(const std::string& secrets_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  if (!host || !*host) {
    throw ConfigError(
        "not running in a cluster: KUBERNETES_SERVICE_HOST is not set; use --kubeconfig");
  }
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!port || !*port) {
    throw ConfigError(
        "not running in a cluster: KUBERNETES_SERVICE_PORT is not set; use --kubeconfig");
  }
  ApiServerConfig config;
  config.host = host;
  if (config.host.size() > 2 && config.host.front() == '[' && config.host.back() == ']') {
    config.host = config.host.substr(1, config.host.size() - 2);
  }
  config.port = port;
  config.origin = "in-cluster";
  config.token_file = (std::filesystem::path(secrets_dir) / "token").string();
  std::string token;
  if (!readFile(config.token_file, token) || trimmed(token).empty()) {
    throw ConfigError("in-cluster configuration: the service account token " + config.token_file +
                      " is missing or empty (is automountServiceAccountToken off?)");
  }
  const std::string ca_file = (std::filesystem::path(secrets_dir) / "ca.crt").string();
  if (!readFile(ca_file, config.ca_pem) || trimmed(config.ca_pem).empty()) {
    throw ConfigError("in-cluster configuration: the cluster CA " + ca_file +
                      " is missing or empty");
  }
  return config;
}

ApiServerConfig loadKubeconfig(const std::string& path, const std::string& context) {
  return KubeconfigReader(path).read(context);
}

}  // namespace skouter::kubernetes
