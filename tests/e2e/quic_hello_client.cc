// skouter_quic_hello: a QUIC client's first flight for the e2e tests, to check what
// the firewall does with a QUIC flow naming a given server. It sends client Initial
// packets whose CRYPTO frames carry a ClientHello, then waits for any datagram back:
//
//   skouter_quic_hello --connect ADDR [--port 443] (--server-name NAME | --no-server-name)
//                      [--split] [--version 1|2] [--wait-ms 1000]
//
// --split pads the ClientHello to about 2500 bytes and sends it in two Initial
// datagrams (CRYPTO offsets 0 and N), as clients do with large post-quantum key shares.
// Prints "sent N datagrams; reply: yes|no"; exits 0 on a reply, 1 without one, 2 on a
// usage or socket error. ADDR is an IPv4 or IPv6 address.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tls/client_hello.h"
#include "tls/quic_initial.h"

namespace {

namespace tls = skouter::tls;

constexpr std::size_t kSplitHelloBytes = 2500;

struct Options {
  std::string address;
  int port = 443;
  std::optional<std::string> server_name;
  bool no_server_name = false;
  bool split = false;
  std::uint32_t version = tls::kQuicVersion1;
  int wait_ms = 1000;
};

int usage(const char* problem) {
  std::fprintf(stderr,
               "skouter_quic_hello: %s\nusage: skouter_quic_hello --connect ADDR [--port 443] "
               "(--server-name NAME | --no-server-name) [--split] [--version 1|2] "
               "[--wait-ms 1000]\n",
               problem);
  return 2;
}

bool parseNumber(const char* text, int low, int high, int& value) {
  char* end = nullptr;
  const long parsed = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || parsed < low || parsed > high) return false;
  value = static_cast<int>(parsed);
  return true;
}

// False with `problem` set on a bad command line.
bool parseOptions(int argc, char** argv, Options& options, const char*& problem) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const bool has_value = i + 1 < argc;
    int version = 0;
    if (flag == "--no-server-name") {
      options.no_server_name = true;
    } else if (flag == "--split") {
      options.split = true;
    } else if (!has_value) {
      problem = "unknown option or missing value";
      return false;
    } else if (flag == "--connect") {
      options.address = argv[++i];
    } else if (flag == "--server-name") {
      options.server_name = argv[++i];
    } else if (flag == "--port") {
      if (!parseNumber(argv[++i], 1, 65535, options.port)) return problem = "bad --port", false;
    } else if (flag == "--wait-ms") {
      if (!parseNumber(argv[++i], 0, 600000, options.wait_ms))
        return problem = "bad --wait-ms", false;
    } else if (flag == "--version") {
      if (!parseNumber(argv[++i], 1, 2, version)) return problem = "bad --version", false;
      options.version = version == 1 ? tls::kQuicVersion1 : tls::kQuicVersion2;
    } else {
      problem = "unknown option";
      return false;
    }
  }
  if (options.address.empty()) return problem = "--connect is required", false;
  if (options.server_name.has_value() == options.no_server_name) {
    return problem = "give one of --server-name and --no-server-name", false;
  }
  return true;
}

std::vector<std::uint8_t> randomBytes(std::size_t count) {
  std::random_device device;
  std::vector<std::uint8_t> bytes(count);
  for (std::uint8_t& byte : bytes) byte = static_cast<std::uint8_t>(device());
  return bytes;
}

// The ClientHello, padded to about kSplitHelloBytes for --split.
std::vector<std::uint8_t> clientHello(const Options& options) {
  tls::ClientHelloOptions hello{.server_name = options.server_name};
  if (options.split) {
    const std::size_t unpadded = tls::buildClientHello(hello).size();
    // 4 bytes of the padding extension's header.
    hello.padding = kSplitHelloBytes > unpadded + 4 ? kSplitHelloBytes - unpadded - 4 : 1;
  }
  return tls::buildClientHello(hello);
}

std::vector<std::vector<std::uint8_t>> datagrams(const Options& options) {
  const std::vector<std::uint8_t> hello = clientHello(options);
  tls::QuicInitialOptions initial{
      .version = options.version, .dcid = randomBytes(8), .scid = randomBytes(8)};
  const std::size_t first_part = options.split ? hello.size() / 2 : hello.size();
  initial.crypto.assign(hello.begin(), hello.begin() + first_part);
  std::vector<std::vector<std::uint8_t>> out{tls::buildQuicInitial(initial)};
  if (options.split) {
    initial.packet_number = 1;
    initial.crypto_offset = first_part;
    initial.crypto.assign(hello.begin() + first_part, hello.end());
    out.push_back(tls::buildQuicInitial(initial));
  }
  return out;
}

// The server's socket address, or false for text that is no IP address.
bool socketAddress(const Options& options, sockaddr_storage& address, socklen_t& length) {
  std::memset(&address, 0, sizeof address);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&address);
  if (inet_pton(AF_INET, options.address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(options.port));
    length = sizeof *v4;
    return true;
  }
  if (inet_pton(AF_INET6, options.address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(options.port));
    length = sizeof *v6;
    return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  const char* problem = nullptr;
  if (!parseOptions(argc, argv, options, problem)) return usage(problem);
  sockaddr_storage server{};
  socklen_t server_length = 0;
  if (!socketAddress(options, server, server_length)) return usage("--connect is no IP address");

  const int fd = socket(server.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    std::perror("skouter_quic_hello: socket");
    return 2;
  }
  std::size_t sent = 0;
  for (const std::vector<std::uint8_t>& datagram : datagrams(options)) {
    if (sendto(fd, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&server),
               server_length) < 0) {
      std::perror("skouter_quic_hello: sendto");
      close(fd);
      return 2;
    }
    ++sent;
  }
  pollfd waiting{.fd = fd, .events = POLLIN, .revents = 0};
  const bool reply = poll(&waiting, 1, options.wait_ms) == 1 && (waiting.revents & POLLIN) != 0;
  close(fd);
  std::printf("sent %zu datagrams; reply: %s\n", sent, reply ? "yes" : "no");
  return reply ? 0 : 1;
}
