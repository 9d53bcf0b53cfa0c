// libFuzzer target for the QUIC Initial reader (tls/quic_initial.h), which opens any
// UDP datagram a workload sends to a QUIC port. The input is read two ways:
//  - as a datagram for decryptQuicInitials; what it yields goes through CryptoStream
//    and parseClientHelloMessage as the daemon will use them;
//  - after its first byte, as frames in a correctly protected client Initial
//    (buildQuicInitial), so the frame parser is reached without breaking AES-GCM:
//    such a packet is either kOk or kMalformed, never undecryptable.
// Checked: a failure carries no CRYPTO data and a reason; a success has a version the
// keys exist for, a DCID of at most 20 bytes and fragments within the varint range;
// the reassembled stream never exceeds kMaxClientHelloBytes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "tls/client_hello.h"
#include "tls/quic_initial.h"

namespace {

namespace tls = skouter::tls;

[[noreturn]] void violated(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, condition);
  std::abort();
}
#define FUZZ_CHECK(condition) ((condition) ? (void)0 : violated(#condition, __FILE__, __LINE__))

void checkParse(const tls::QuicInitialParse& parse) {
  if (parse.status != tls::QuicStatus::kOk) {
    FUZZ_CHECK(parse.crypto.empty() && !parse.error.empty());
    return;
  }
  FUZZ_CHECK(parse.version == tls::kQuicVersion1 || parse.version == tls::kQuicVersion2);
  FUZZ_CHECK(parse.dcid.size() <= tls::kMaxConnectionIdBytes);
  tls::CryptoStream stream;
  for (const tls::CryptoFragment& fragment : parse.crypto) {
    FUZZ_CHECK(fragment.offset <= (std::uint64_t{1} << 62) - 1 - fragment.data.size());
    stream.add(fragment);
  }
  FUZZ_CHECK(stream.contiguous().size() <= tls::kMaxClientHelloBytes);
  tls::parseClientHelloMessage(stream.contiguous());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> input(data, size);
  checkParse(tls::decryptQuicInitials(input));

  if (size == 0) return 0;
  const tls::QuicInitialParse framed = tls::decryptQuicInitials(tls::buildQuicInitial(
      {.version = (data[0] & 1) != 0 ? tls::kQuicVersion2 : tls::kQuicVersion1,
       .dcid = std::vector<std::uint8_t>(data[0] % 21, 0x5a),
       .more_frames = std::vector<std::uint8_t>(input.begin() + 1, input.end())}));
  checkParse(framed);
  FUZZ_CHECK(framed.status == tls::QuicStatus::kOk || framed.status == tls::QuicStatus::kMalformed);
  return 0;
}
