// libFuzzer target for the ClientHello parsers (tls/client_hello.h), which read the
// first bytes of any TLS flow a workload opens. The input is read as a TCP stream
// (parseTlsClientHello) and as a bare handshake message (parseClientHelloMessage),
// and the results are checked against what the daemon relies on: a server name is
// non-empty, at most 253 visible ASCII bytes, lower case, without a trailing dot;
// a decision on a prefix of the stream is final; the record layer changes nothing
// (the message in records of any size parses as the message alone).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "tls/client_hello.h"

namespace {

namespace tls = skouter::tls;

[[noreturn]] void violated(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, condition);
  std::abort();
}
#define FUZZ_CHECK(condition) ((condition) ? (void)0 : violated(#condition, __FILE__, __LINE__))

void checkParse(const tls::HelloParse& parse) {
  const bool failed =
      parse.status == tls::HelloStatus::kNotTls || parse.status == tls::HelloStatus::kMalformed;
  FUZZ_CHECK(failed == !parse.error.empty());
  if (parse.status != tls::HelloStatus::kComplete) {
    FUZZ_CHECK(!parse.info.server_name.has_value());
    return;
  }
  if (!parse.info.server_name) return;
  const std::string& name = *parse.info.server_name;
  FUZZ_CHECK(!name.empty() && name.size() <= 253 && name.back() != '.');
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    FUZZ_CHECK(byte >= 0x21 && byte <= 0x7e && !(byte >= 'A' && byte <= 'Z'));
  }
}

bool sameResult(const tls::HelloParse& a, const tls::HelloParse& b) {
  return a.status == b.status && a.info.server_name == b.info.server_name &&
         a.info.encrypted_client_hello == b.info.encrypted_client_hello;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> input(data, size);

  const tls::HelloParse stream = tls::parseTlsClientHello(input);
  checkParse(stream);
  const tls::HelloParse half = tls::parseTlsClientHello(input.first(size / 2));
  checkParse(half);
  if (half.status != tls::HelloStatus::kNeedMore) FUZZ_CHECK(sameResult(half, stream));

  const tls::HelloParse message = tls::parseClientHelloMessage(input);
  checkParse(message);
  FUZZ_CHECK(message.status != tls::HelloStatus::kNotTls);
  const std::size_t record_payload = size == 0 ? 1 : 1 + data[0] % 64;
  const tls::HelloParse in_records =
      tls::parseTlsClientHello(tls::inTlsRecords(input, record_payload));
  FUZZ_CHECK(sameResult(in_records, message));
  return 0;
}
