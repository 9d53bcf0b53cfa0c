#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "kubernetes/api_server_config.h"

namespace skouter::kubernetes {
namespace {

// Runs `load` and returns the ConfigError's message, or "no error".
template <typename Load>
std::string errorOf(Load load) {
  try {
    load();
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "no error";
}

class TempDirTest : public testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/skouter-kubernetes-config-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const auto path = std::filesystem::path(dir_) / name;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path.string();
  }

  std::string dir_;
};

// Sets (or unsets, with nullopt) environment variables for one test and restores them.
class ScopedEnvironment {
 public:
  void set(const std::string& name, std::optional<std::string> value) {
    if (!saved_.contains(name)) {
      const char* old = getenv(name.c_str());
      saved_[name] = old ? std::optional<std::string>(old) : std::nullopt;
    }
    if (value) {
      setenv(name.c_str(), value->c_str(), 1);
    } else {
      unsetenv(name.c_str());
    }
  }
  ~ScopedEnvironment() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

class InClusterConfigTest : public TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    environment_.set("KUBERNETES_SERVICE_HOST", "10.96.0.1");
    environment_.set("KUBERNETES_SERVICE_PORT", "443");
  }
  ScopedEnvironment environment_;
};

TEST_F(InClusterConfigTest, ReadsTheServiceAccountAndTheEnvironment) {
  const auto token_file = write("token", "service-account-token\n");
  write("ca.crt", "cluster CA PEM\n");
  const auto config = inClusterConfig(dir_);
  EXPECT_EQ(config.host, "10.96.0.1");
  EXPECT_EQ(config.port, "443");
  EXPECT_EQ(config.token_file, token_file);
  EXPECT_EQ(config.token, "");  // read from token_file at each connection
  EXPECT_EQ(config.ca_pem, "cluster CA PEM\n");
  EXPECT_FALSE(config.insecure_skip_tls_verify);
  EXPECT_EQ(config.origin, "in-cluster");
}

TEST_F(InClusterConfigTest, TakesAnIpv6ServiceHostWithOrWithoutBrackets) {
  write("token", "t");
  write("ca.crt", "ca");
  environment_.set("KUBERNETES_SERVICE_HOST", "fd00:10:96::1");
  environment_.set("KUBERNETES_SERVICE_PORT", "6443");
  EXPECT_EQ(inClusterConfig(dir_).host, "fd00:10:96::1");
  EXPECT_EQ(inClusterConfig(dir_).port, "6443");
  environment_.set("KUBERNETES_SERVICE_HOST", "[fd00:10:96::1]");
  EXPECT_EQ(inClusterConfig(dir_).host, "fd00:10:96::1");
}

TEST_F(InClusterConfigTest, SaysWhatIsMissing) {
  write("ca.crt", "ca");
  EXPECT_EQ(errorOf([&] { inClusterConfig(dir_); }),
            "in-cluster configuration: the service account token " + dir_ +
                "/token is missing or empty (is automountServiceAccountToken off?)");
  write("token", "t");
  std::filesystem::remove(dir_ + "/ca.crt");
  EXPECT_EQ(errorOf([&] { inClusterConfig(dir_); }),
            "in-cluster configuration: the cluster CA " + dir_ + "/ca.crt is missing or empty");
  write("ca.crt", "ca");
  environment_.set("KUBERNETES_SERVICE_PORT", std::nullopt);
  EXPECT_EQ(errorOf([&] { inClusterConfig(dir_); }),
            "not running in a cluster: KUBERNETES_SERVICE_PORT is not set; use --kubeconfig");
  environment_.set("KUBERNETES_SERVICE_HOST", std::nullopt);
  EXPECT_EQ(errorOf([&] { inClusterConfig(dir_); }),
            "not running in a cluster: KUBERNETES_SERVICE_HOST is not set; use --kubeconfig");
}

using KubeconfigTest = TempDirTest;

TEST_F(KubeconfigTest, ReadsTheCurrentContextWithFilesRelativeToTheKubeconfig) {
  write("config/pki/ca.crt", "CA PEM");
  write("config/pki/client.crt", "client cert PEM");
  write("config/pki/client.key", "client key PEM");
  const auto path = write("config/kubeconfig", R"(
apiVersion: v1
kind: Config
current-context: main
contexts:
  - name: other
    context: {cluster: other, user: other}
  - name: main
    context: {cluster: lab, user: admin, namespace: kube-system}
clusters:
  - name: other
    cluster: {server: "https://192.0.2.99"}
  - name: lab
    cluster:
      server: https://kube.example:6443
      certificate-authority: pki/ca.crt
users:
  - name: other
    user: {token: other-token}
  - name: admin
    user:
      token: admin-token
      client-certificate: pki/client.crt
      client-key: pki/client.key
)");
  const auto config = loadKubeconfig(path);
  EXPECT_EQ(config.host, "kube.example");
  EXPECT_EQ(config.port, "6443");
  EXPECT_EQ(config.path_prefix, "");
  EXPECT_EQ(config.ca_pem, "CA PEM");
  EXPECT_FALSE(config.insecure_skip_tls_verify);
  EXPECT_EQ(config.token, "admin-token");
  EXPECT_EQ(config.token_file, "");
  EXPECT_EQ(config.client_certificate_pem, "client cert PEM");
  EXPECT_EQ(config.client_key_pem, "client key PEM");
  EXPECT_EQ(config.origin, "kubeconfig " + path + " (context main)");
}

TEST_F(KubeconfigTest, ReadsDataFieldsAndAnExplicitContext) {
  const auto path = write("kubeconfig", R"(
current-context: file-based
contexts:
  - {name: file-based, context: {cluster: files, user: files}}
  - {name: inline, context: {cluster: inline, user: inline}}
clusters:
  - name: files
    cluster: {server: "https://192.0.2.10", certificate-authority: /nonexistent/ca.crt}
  - name: inline
    cluster:
      server: https://[2001:db8::1]:8443/
      # Wrapped base64, as some tools write it.
      certificate-authority-data: |
        Y2EgZnJvbSBk
        YXRhCg==
      tls-server-name: kubernetes.default
users:
  - name: files
    user: {token: t}
  - name: inline
    user:
      client-certificate-data: Y2xpZW50IGNlcnQgZnJvbSBkYXRhCg==
      client-key-data: Y2xpZW50IGtleSBmcm9tIGRhdGEK
)");
  const auto config = loadKubeconfig(path, "inline");
  EXPECT_EQ(config.host, "2001:db8::1");
  EXPECT_EQ(config.port, "8443");
  EXPECT_EQ(config.path_prefix, "");
  EXPECT_EQ(config.tls_server_name, "kubernetes.default");
  EXPECT_EQ(config.ca_pem, "ca from data\n");
  EXPECT_EQ(config.client_certificate_pem, "client cert from data\n");
  EXPECT_EQ(config.client_key_pem, "client key from data\n");
  EXPECT_EQ(config.token, "");
  EXPECT_EQ(config.origin, "kubeconfig " + path + " (context inline)");
}

TEST_F(KubeconfigTest, ReadsATokenFileInsecureServerAndPathPrefix) {
  const auto token_file = write("secrets/token", "rotating-token\n");
  const auto path = write("kubeconfig", R"(
current-context: c
contexts: [{name: c, context: {cluster: c, user: u}}]
clusters:
  - name: c
    cluster: {server: "https://rancher.example/k8s/clusters/c-1/", insecure-skip-tls-verify: true}
users:
  - name: u
    user: {tokenFile: secrets/token}
)");
  const auto config = loadKubeconfig(path);
  EXPECT_EQ(config.host, "rancher.example");
  EXPECT_EQ(config.port, "443");
  EXPECT_EQ(config.path_prefix, "/k8s/clusters/c-1");
  EXPECT_TRUE(config.insecure_skip_tls_verify);
  EXPECT_EQ(config.ca_pem, "");
  EXPECT_EQ(config.token_file, token_file);
}

TEST_F(KubeconfigTest, AContextWithoutUserHasNoCredentials) {
  const auto path = write("kubeconfig", R"(
current-context: c
contexts: [{name: c, context: {cluster: c}}]
clusters: [{name: c, cluster: {server: "https://192.0.2.1:6443"}}]
)");
  const auto config = loadKubeconfig(path);
  EXPECT_EQ(config.host, "192.0.2.1");
  EXPECT_EQ(config.token, "");
  EXPECT_EQ(config.client_certificate_pem, "");
}

TEST_F(KubeconfigTest, ErrorsNameTheFileAndTheField) {
  const std::string prefix = "kubeconfig " + dir_ + "/kubeconfig: ";
  const auto load = [&](const std::string& text, const std::string& context = "") {
    write("kubeconfig", text);
    return errorOf([&] { loadKubeconfig(dir_ + "/kubeconfig", context); });
  };
  const std::string good_contexts = "contexts: [{name: c, context: {cluster: c, user: u}}]\n";
  const std::string good_users = "users: [{name: u, user: {token: t}}]\n";
  const auto with_cluster = [&](const std::string& cluster) {
    return "current-context: c\n" + good_contexts + "clusters: [{name: c, cluster: " + cluster +
           "}]\n" + good_users;
  };
  const auto with_user = [&](const std::string& user) {
    return "current-context: c\n" + good_contexts +
           "clusters: [{name: c, cluster: {server: 'https://192.0.2.1'}}]\n" +
           "users: [{name: u, user: " + user + "}]\n";
  };

  EXPECT_EQ(errorOf([&] { loadKubeconfig(dir_ + "/absent"); }),
            "kubeconfig " + dir_ + "/absent: cannot be read");
  EXPECT_EQ(load("clusters: [\n"),
            prefix + "is not valid YAML: end of sequence flow not found (line 2)");
  EXPECT_EQ(load("- a list\n"), prefix + "is not a kubeconfig (expected a mapping at the top)");
  EXPECT_EQ(load(good_contexts), prefix + "current-context is not set; name a context to use");
  EXPECT_EQ(load(with_cluster("{server: 'https://192.0.2.1'}"), "missing"),
            prefix + "context 'missing' is not in contexts");
  EXPECT_EQ(load("current-context: c\ncontexts: [{name: c, context: {user: u}}]\n"),
            prefix + "contexts[name=c].context.cluster is missing");
  EXPECT_EQ(load("current-context: c\n" + good_contexts + good_users),
            prefix + "cluster 'c' is not in clusters");
  EXPECT_EQ(load(with_cluster("{certificate-authority-data: Y2E=}")),
            prefix + "clusters[name=c].cluster.server is missing");
  EXPECT_EQ(load(with_cluster("{server: 'http://192.0.2.1:8080'}")),
            prefix +
                "clusters[name=c].cluster.server 'http://192.0.2.1:8080' is not an https:// URL "
                "(plain http is not supported)");
  EXPECT_EQ(load(with_cluster("{server: 'https://192.0.2.1:http'}")),
            prefix +
                "clusters[name=c].cluster.server 'https://192.0.2.1:http' has an invalid "
                "port 'http'");
  EXPECT_EQ(load(with_cluster("{server: 'https://[2001:db8::1:6443'}")),
            prefix +
                "clusters[name=c].cluster.server 'https://[2001:db8::1:6443' has an "
                "unclosed '['");
  EXPECT_EQ(
      load(with_cluster("{server: 'https://192.0.2.1', certificate-authority: ca.pem}")),
      prefix + "clusters[name=c].cluster.certificate-authority: cannot read " + dir_ + "/ca.pem");
  EXPECT_EQ(load(with_cluster("{server: 'https://192.0.2.1', certificate-authority-data: '*'}")),
            prefix + "clusters[name=c].cluster.certificate-authority-data is not valid base64");
  EXPECT_EQ(load(with_cluster("{server: 'https://192.0.2.1', insecure-skip-tls-verify: maybe}")),
            prefix + "clusters[name=c].cluster.insecure-skip-tls-verify is not true or false");
  EXPECT_EQ(load("current-context: c\n" + good_contexts +
                 "clusters: [{name: c, cluster: {server: 'https://192.0.2.1'}}]\n"),
            prefix + "user 'u' is not in users");
  EXPECT_EQ(load(with_user("{tokenFile: token}")),
            prefix + "users[name=u].user.tokenFile: cannot read " + dir_ + "/token");
  EXPECT_EQ(load(with_user("{client-certificate-data: Y2E=}")),
            prefix +
                "users[name=u].user needs both client-certificate and client-key (only "
                "one is set)");
  EXPECT_EQ(load(with_user("{exec: {command: aws}}")),
            prefix +
                "users[name=u].user.exec is not supported; use token, tokenFile or "
                "client-certificate/client-key");
}

}  // namespace
}  // namespace skouter::kubernetes
