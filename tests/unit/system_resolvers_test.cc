#include "resolver/system_resolvers.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace skouter::resolver {
namespace {

std::string textOf(const std::vector<ResolverAddress>& servers) {
  std::string text;
  for (const auto& server : servers) text += server.toString() + " ";
  return text;
}

TEST(ParseResolverAddress, AcceptsEveryDocumentedForm) {
  EXPECT_EQ(parseResolverAddress("198.51.100.53")->toString(), "198.51.100.53:53");
  EXPECT_EQ(parseResolverAddress("198.51.100.53:5353")->toString(), "198.51.100.53:5353");
  EXPECT_EQ(parseResolverAddress("2001:db8::53")->toString(), "[2001:db8::53]:53");
  EXPECT_EQ(parseResolverAddress("[2001:db8::53]")->toString(), "[2001:db8::53]:53");
  EXPECT_EQ(parseResolverAddress("[2001:db8::53]:5353")->toString(), "[2001:db8::53]:5353");
}

TEST(ParseResolverAddress, RejectsBadInput) {
  for (const char* bad : {"", "resolver", "198.51.100.53:", "198.51.100.53:0",
                          "198.51.100.53:65536", "198.51.100.53:x", "[2001:db8::53",
                          "[2001:db8::53]53", "[198.51.100]:53", "198.51.100.300"}) {
    EXPECT_FALSE(parseResolverAddress(bad)) << bad;
  }
}

class SystemNameserversTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/skouter-resolvers-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const auto path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  std::string dir_;
};

TEST_F(SystemNameserversTest, ReadsEveryNameserverOfResolvConf) {
  const auto conf = write(
      "resolv.conf", "search example.com\nnameserver 198.51.100.53\nnameserver 2001:db8::53\n");
  std::string note;
  EXPECT_EQ(textOf(systemNameservers(note, conf, dir_ + "/absent")),
            "198.51.100.53:53 [2001:db8::53]:53 ");
  EXPECT_EQ(note, "");
}

TEST_F(SystemNameserversTest, TrustsTheUpstreamOfALocalStubResolver) {
  const auto conf = write("resolv.conf", "nameserver 127.0.0.53\noptions edns0\n");
  const auto upstream = write("upstream.conf", "nameserver 203.0.113.53\n");
  std::string note;
  EXPECT_EQ(textOf(systemNameservers(note, conf, upstream)), "203.0.113.53:53 ");
  EXPECT_NE(note.find("local stub resolver"), std::string::npos) << note;
}

TEST_F(SystemNameserversTest, RefusesOnlyLoopbackResolvers) {
  const auto conf = write("resolv.conf", "nameserver 127.0.0.53\n");
  std::string note;
  try {
    systemNameservers(note, conf, dir_ + "/absent");
    FAIL() << "a loopback-only configuration must be refused";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("--trusted-dns"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace skouter::resolver
