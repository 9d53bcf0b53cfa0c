// skouter_quic_echo: a stand-in QUIC server for the e2e tests. It logs the server name
// of every client Initial it receives and answers each datagram with "ok", so a test
// can tell what got through the firewall and what a client names:
//
//   skouter_quic_echo --listen ADDR [--port 443] [--log FILE]
//
// One line per datagram, flushed, to FILE (else stdout): "from ADDR sni=S", S being
// the server name; "none" for a ClientHello without one; "incomplete" while a
// ClientHello spread over several datagrams (same sender and connection ID) is not
// whole yet; "undecryptable" for a datagram that is no readable client Initial or
// carries a broken ClientHello. Runs until killed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "tls/client_hello.h"
#include "tls/quic_initial.h"

namespace {

namespace tls = skouter::tls;

// Reassemblies in progress at most; beyond, the first in key order is dropped. Only a test's
// few clients send here.
constexpr std::size_t kMaxPendingHellos = 256;

int usage(const char* problem) {
  std::fprintf(stderr,
               "skouter_quic_echo: %s\nusage: skouter_quic_echo --listen ADDR [--port 443] "
               "[--log FILE]\n",
               problem);
  return 2;
}

std::string addressText(const sockaddr_storage& peer) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (peer.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(peer).sin_addr, text, sizeof text);
  } else if (peer.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(peer).sin6_addr, text, sizeof text);
  }
  return text;
}

std::uint16_t portOf(const sockaddr_storage& peer) {
  return ntohs(peer.ss_family == AF_INET ? reinterpret_cast<const sockaddr_in&>(peer).sin_port
                                         : reinterpret_cast<const sockaddr_in6&>(peer).sin6_port);
}

// What one datagram tells of the sender's server name, reassembling a ClientHello over
// the datagrams of one sender and connection ID.
class HelloLog {
 public:
  std::string serverNameOf(const std::string& sender, std::span<const std::uint8_t> datagram) {
    const tls::QuicInitialParse initial = tls::decryptQuicInitials(datagram);
    if (initial.status != tls::QuicStatus::kOk) return "undecryptable";
    const std::string key = sender + "/" + std::string(initial.dcid.begin(), initial.dcid.end());
    if (pending_.size() >= kMaxPendingHellos && !pending_.contains(key))
      pending_.erase(pending_.begin());
    tls::CryptoStream& stream = pending_[key];
    for (const tls::CryptoFragment& fragment : initial.crypto) stream.add(fragment);
    const tls::HelloParse hello = tls::parseClientHelloMessage(stream.contiguous());
    if (hello.status == tls::HelloStatus::kNeedMore && !stream.overflowed()) return "incomplete";
    pending_.erase(key);
    if (hello.status != tls::HelloStatus::kComplete) return "undecryptable";
    return hello.info.server_name.value_or("none");
  }

 private:
  std::map<std::string, tls::CryptoStream> pending_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string listen_address, log_path;
  int port = 443;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--listen") {
      listen_address = argv[i + 1];
    } else if (flag == "--port") {
      port = std::atoi(argv[i + 1]);
    } else if (flag == "--log") {
      log_path = argv[i + 1];
    } else {
      return usage("unknown option");
    }
  }
  if (argc % 2 == 0) return usage("missing value");
  if (listen_address.empty() || port < 1 || port > 65535) return usage("bad --listen or --port");

  sockaddr_storage local{};
  socklen_t local_length = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&local);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&local);
  if (inet_pton(AF_INET, listen_address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
    local_length = sizeof *v4;
  } else if (inet_pton(AF_INET6, listen_address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port));
    local_length = sizeof *v6;
  } else {
    return usage("--listen is no IP address");
  }
  FILE* log = log_path.empty() ? stdout : std::fopen(log_path.c_str(), "a");
  if (log == nullptr) {
    std::perror("skouter_quic_echo: log");
    return 2;
  }
  const int fd = socket(local.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&local), local_length) != 0) {
    std::perror("skouter_quic_echo: socket");
    return 2;
  }

  HelloLog hellos;
  std::vector<std::uint8_t> buffer(65536);
  static const char kReply[] = "ok";
  for (;;) {
    sockaddr_storage peer{};
    socklen_t peer_length = sizeof peer;
    const ssize_t received = recvfrom(fd, buffer.data(), buffer.size(), 0,
                                      reinterpret_cast<sockaddr*>(&peer), &peer_length);
    if (received < 0) continue;
    const std::string sender = addressText(peer);
    const std::string name = hellos.serverNameOf(
        sender + ":" + std::to_string(portOf(peer)),
        std::span<const std::uint8_t>(buffer).first(static_cast<std::size_t>(received)));
    std::fprintf(log, "from %s sni=%s\n", sender.c_str(), name.c_str());
    std::fflush(log);
    sendto(fd, kReply, sizeof kReply - 1, 0, reinterpret_cast<sockaddr*>(&peer), peer_length);
  }
}
