#!/usr/bin/env bash
# Regenerates the DNS answers that tests/unit/answer_handler_test.cc reads.
#
#   capture.sh [all|captured|crafted] [OUTDIR]     (default: all, this directory)
#
# captured (needs root): brings up the e2e lab "cap" (tests/e2e/lab.sh), sends
#   one UDP query per file from the cap-node namespace to the lab's unbound
#   (198.51.100.53 / 2001:db8:1::53; nothing else is ever contacted), writes the
#   raw response (the UDP payload, wire format) to NAME-TYPE.bin, then tears the
#   lab down. frame-v4-*.bin / frame-v6-*.bin are whole Ethernet frames of an
#   answer as an AF_PACKET socket on the node's uplink (cap-up) received them:
#   the veth hands them over with checksum offload pending, so their UDP
#   checksum field holds only the pseudo-header sum (the script checks that the
#   kernel flagged them TP_STATUS_CSUMNOTREADY). Offsets: IP at 14, UDP at 34
#   (v4) / 54 (v6). Each query has a fixed id; the lab's unbound caches and counts
#   TTLs down, so every name/type is asked once, in the order below, and the TTLs
#   are those of the zone (tests/e2e/lab/lab.zone.in) unless noted.
#
# crafted (no lab, no root): hand-built messages the lab's unbound would never
#   send (wrong header bits, loops, records of unrelated owners...), each
#   documented where it is built below.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE
readonly LAB_SH="$HERE/../../../e2e/lab.sh"
readonly LAB="${SKOUTER_CAPTURE_LAB:-cap}"
readonly PYTHON="${SKOUTER_LAB_PYTHON:-python3}"

WHAT="${1:-all}"
OUT="${2:-$HERE}"
case "$WHAT" in all | captured | crafted) ;; *)
  echo "usage: capture.sh [all|captured|crafted] [OUTDIR]" >&2
  exit 2
  ;;
esac
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

capture() {
  [[ $EUID -eq 0 ]] || {
    echo "capture.sh: capturing needs root (network namespaces)" >&2
    exit 1
  }
  bash "$LAB_SH" up "$LAB"
  trap 'bash "$LAB_SH" down "$LAB"' EXIT
  bash "$LAB_SH" exec "$LAB" node "$PYTHON" - "$OUT" "$LAB-up" <<'PY'
import socket, struct, sys

out, uplink = sys.argv[1], sys.argv[2]
RESOLVER4, RESOLVER6 = "198.51.100.53", "2001:db8:1::53"
A, AAAA, CNAME, OPT = 1, 28, 5, 41
NOERROR, NXDOMAIN = 0, 3


def wire_name(name):
    # Labels as given: the case of the question is kept (DNS 0x20).
    return b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"


def make_query(qid, name, qtype, edns):
    # RD set; with edns an OPT record: UDP size 1232, version 0, no flags, no options.
    msg = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 1 if edns else 0)
    msg += wire_name(name) + struct.pack("!HH", qtype, 1)
    if edns:
        msg += b"\0" + struct.pack("!HHIH", OPT, 1232, 0, 0)
    return msg


def check(answer, query, rcode, ancount):
    qid, flags, _, an, _, _ = struct.unpack("!HHHHHH", answer[:12])
    assert qid == struct.unpack("!H", query[:2])[0], "id mismatch"
    assert flags & 0x8000, "not a response"
    assert flags & 0xF == rcode, f"rcode {flags & 0xF}, expected {rcode}"
    assert an == ancount, f"{an} answers, expected {ancount}"


def ask(qid, name, qtype, rcode, ancount, edns=False):
    query = make_query(qid, name, qtype, edns)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.connect((RESOLVER4, 53))
        s.send(query)
        answer = s.recv(65535)
    check(answer, query, rcode, ancount)
    return answer


def save(file, data):
    with open(f"{out}/{file}", "wb") as f:
        f.write(data)
    print(f"  {file}: {len(data)} bytes")


# Plain answers: (file, id, question, type, rcode, answer records, EDNS).
for file, qid, name, qtype, rcode, ancount, edns in [
    ("example.com-A.bin", 0x5301, "example.com", A, NOERROR, 1, False),
    ("example.com-AAAA.bin", 0x5302, "example.com", AAAA, NOERROR, 1, False),
    ("de.wikipedia.org-A.bin", 0x5303, "de.wikipedia.org", A, NOERROR, 1, False),
    ("de.wikipedia.org-AAAA.bin", 0x5304, "de.wikipedia.org", AAAA, NOERROR, 1, False),
    # alias -> edge.cdn.test -> origin.cdn.test: unbound chases the chain and
    # answers with the two CNAMEs and the address record.
    ("alias.wikipedia.org-A.bin", 0x5305, "alias.wikipedia.org", A, NOERROR, 3, False),
    # Asked second: the CNAMEs come from unbound's cache (TTL may be below 300).
    ("alias.wikipedia.org-AAAA.bin", 0x5306, "alias.wikipedia.org", AAAA, NOERROR, 3, False),
    ("multi.wikipedia.org-A.bin", 0x5307, "multi.wikipedia.org", A, NOERROR, 4, False),
    ("short.wikipedia.org-A.bin", 0x5308, "short.wikipedia.org", A, NOERROR, 1, False),
    # NXDOMAIN, with the root SOA in the authority section.
    ("missing.wikipedia.org-A.bin", 0x5309, "missing.wikipedia.org", A, NXDOMAIN, 0, False),
    ("blocked.test-A.bin", 0x530A, "blocked.test", A, NOERROR, 1, False),
    # Contains an allowed name but is not under it (suffix-matching bugs).
    ("wikipedia.org.attacker.test-A.bin", 0x530B, "wikipedia.org.attacker.test", A, NOERROR, 1,
     False),
    # DNS 0x20: unbound echoes the question's case; asked after example.com A,
    # so the answer comes from the cache (TTL may be below 300).
    ("mixed-case-example.com-A.bin", 0x530C, "ExAmPlE.CoM", A, NOERROR, 1, False),
    # EDNS: the answer carries an OPT record in its additional section.
    ("httpbin.org-A-edns.bin", 0x530D, "httpbin.org", A, NOERROR, 1, True),
]:
    save(file, ask(qid, name, qtype, rcode, ancount, edns))

# Whole frames as the node's uplink receives them.
ETH_P_ALL, SOL_PACKET, PACKET_AUXDATA, TP_STATUS_CSUMNOTREADY = 3, 263, 8, 1 << 3


def capture_frame(file, qid, name, qtype, family, server):
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    raw.bind((uplink, 0))
    raw.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    raw.settimeout(3)
    query = make_query(qid, name, qtype, False)
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.connect((server, 53))
        port = s.getsockname()[1]
        s.send(query)
        l3, l4 = (14, 34) if family == socket.AF_INET else (14, 54)
        while True:
            frame, ancdata, _, _ = raw.recvmsg(65535, socket.CMSG_SPACE(20))
            ethertype = struct.unpack("!H", frame[12:14])[0]
            if ethertype != (0x0800 if family == socket.AF_INET else 0x86DD):
                continue
            if frame[l3 + (9 if family == socket.AF_INET else 6)] != 17:
                continue
            sport, dport = struct.unpack("!HH", frame[l4:l4 + 4])
            if sport == 53 and dport == port and frame[l4 + 8:l4 + 10] == query[:2]:
                break
        s.recv(65535)
    raw.close()
    status = 0
    for level, kind, data in ancdata:
        if level == SOL_PACKET and kind == PACKET_AUXDATA:
            status = struct.unpack("I", data[:4])[0]
    assert status & TP_STATUS_CSUMNOTREADY, "the veth completed the checksum; expected offload"
    check(frame[l4 + 8:], query, NOERROR, 1)
    save(file, frame)


capture_frame("frame-v4-github.com-A.bin", 0x5320, "github.com", A, socket.AF_INET, RESOLVER4)
capture_frame("frame-v6-github.com-AAAA.bin", 0x5321, "github.com", AAAA, socket.AF_INET6,
              RESOLVER6)
PY
}

craft() {
  "$PYTHON" - "$OUT" <<'PY'
import struct, sys

out = sys.argv[1]
A, AAAA, CNAME = 1, 28, 5
IN = 1


def name(text):
    # Uncompressed, labels exactly as written.
    return b"".join(bytes([len(l)]) + l.encode() for l in text.rstrip(".").split(".")) + b"\0"


def header(qid, flags, qd, an, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def question(text, qtype):
    return name(text) + struct.pack("!HH", qtype, IN)


def rr(owner, rtype, ttl, rdata):
    owner = owner if isinstance(owner, bytes) else name(owner)
    return owner + struct.pack("!HHIH", rtype, IN, ttl, len(rdata)) + rdata


def a(owner, address, ttl=300):
    return rr(owner, A, ttl, bytes(int(x) for x in address.split(".")))


def cname(owner, target, ttl=300):
    return rr(owner, CNAME, ttl, name(target))


RESPONSE = 0x8180  # QR, RD, RA, NOERROR
files = {}

# QR=0 (a query) although it carries an answer record: must not be read as an answer.
files["crafted-qr0-with-answer.bin"] = (
    header(0x6301, 0x0100, 1, 1) + question("example.com", A) + a("example.com", "203.0.113.10"))

# Two questions (example.com A and AAAA) with an answer for the first.
files["crafted-two-questions.bin"] = (
    header(0x6302, RESPONSE, 2, 1) + question("example.com", A) + question("example.com", AAAA) +
    a("example.com", "203.0.113.10"))

# No question at all, with an answer record.
files["crafted-no-question.bin"] = header(0x6303, RESPONSE, 0, 1) + a("example.com", "203.0.113.10")

# example.com A answer cut two bytes into the A record's four data bytes.
files["crafted-truncated.bin"] = (
    header(0x6304, RESPONSE, 1, 1) + question("example.com", A) +
    a("example.com", "203.0.113.10"))[:-2]

# The lab's alias chain listed backwards: the address first, the question's CNAME last.
files["crafted-chain-out-of-order.bin"] = (
    header(0x6305, RESPONSE, 1, 3) + question("alias.wikipedia.org", A) +
    a("origin.cdn.test", "203.0.113.40") + cname("edge.cdn.test", "origin.cdn.test") +
    cname("alias.wikipedia.org", "edge.cdn.test"))

# Eight CNAMEs c1.cdn.test -> ... -> c8.cdn.test, in reverse order, then the address:
# following the chain needs one pass over the records per link.
chain = ["long.wikipedia.org"] + [f"c{i}.cdn.test" for i in range(1, 9)]
records = [cname(chain[i], chain[i + 1]) for i in reversed(range(len(chain) - 1))]
files["crafted-chain-reversed-long.bin"] = (
    header(0x6306, RESPONSE, 1, len(records) + 1) + question("long.wikipedia.org", A) +
    b"".join(records) + a("c8.cdn.test", "203.0.113.48"))

# The chain in mixed case: owners and targets differ from each other only in case.
files["crafted-chain-mixed-case.bin"] = (
    header(0x6307, RESPONSE, 1, 3) + question("alias.wikipedia.org", A) +
    cname("ALIAS.Wikipedia.ORG", "EDGE.CDN.TEST") + cname("Edge.Cdn.Test", "origin.CDN.test") +
    a("ORIGIN.cdn.TEST", "203.0.113.40"))

# de.wikipedia.org A, plus records of owners the question does not lead to:
#   github.com A 203.0.113.20                      (unrelated owner)
#   blocked.test CNAME de.wikipedia.org, blocked.test A 203.0.113.21
#                                                  (a CNAME *into* the chain)
#   github.com CNAME evil.cdn.test, evil.cdn.test A 203.0.113.66
#                                                  (a chain starting elsewhere)
files["crafted-unrelated-owner.bin"] = (
    header(0x6308, RESPONSE, 1, 6) + question("de.wikipedia.org", A) +
    a("github.com", "203.0.113.20") + a("de.wikipedia.org", "203.0.113.12") +
    cname("blocked.test", "de.wikipedia.org") + a("blocked.test", "203.0.113.21") +
    cname("github.com", "evil.cdn.test") + a("evil.cdn.test", "203.0.113.66"))

# de.wikipedia.org A 203.0.113.12 in the answer; the additional section repeats the
# question's name with another address (203.0.113.99) and adds github.com: only the
# answer section vouches for the question.
files["crafted-additional-section.bin"] = (
    header(0x6309, RESPONSE, 1, 1, 0, 2) + question("de.wikipedia.org", A) +
    a("de.wikipedia.org", "203.0.113.12") + a("de.wikipedia.org", "203.0.113.99") +
    a("github.com", "203.0.113.20"))

# CNAME loop: loop.wikipedia.org -> a.cdn.test -> b.cdn.test -> loop.wikipedia.org,
# with b.cdn.test A 203.0.113.60 (reachable from the question) and, for good
# measure, x.cdn.test CNAME x.cdn.test (a self-loop of an unrelated owner).
files["crafted-cname-loop.bin"] = (
    header(0x630A, RESPONSE, 1, 5) + question("loop.wikipedia.org", A) +
    cname("loop.wikipedia.org", "a.cdn.test") + cname("a.cdn.test", "b.cdn.test") +
    cname("b.cdn.test", "loop.wikipedia.org") + cname("x.cdn.test", "x.cdn.test") +
    a("b.cdn.test", "203.0.113.60"))

# Compression pointer loops (RFC 1035 4.1.4 pointers at offsets; the header is 12 bytes).
# The question's name is a pointer to itself: offset 12 holds C0 0C.
files["crafted-compression-self-loop.bin"] = (
    header(0x630B, RESPONSE, 1, 0) + b"\xc0\x0c" + struct.pack("!HH", A, IN))
# The question is example.com A (offsets 12..28: 13 bytes of name, type, class). The
# answer record's owner at offset 29 points to 31, whose bytes point back to 29.
q = question("example.com", A)
owner_at = 12 + len(q)
loop = struct.pack("!HH", 0xC000 | (owner_at + 2), 0xC000 | owner_at)
files["crafted-compression-loop.bin"] = (
    header(0x630C, RESPONSE, 1, 1) + q + loop + struct.pack("!HIH", IN, 300, 4) +
    bytes([203, 0, 113, 10]))

# The single label "example.com" (11 bytes, one of them a dot) under the root: the
# name example\.com., not example.com.
dotted = b"\x0bexample.com\x00"
files["crafted-dotted-label.bin"] = (
    header(0x630D, RESPONSE, 1, 1) + dotted + struct.pack("!HH", A, IN) +
    rr(dotted, A, 300, bytes([203, 0, 113, 10])))

# TTLs with the most significant bit set (RFC 2181 section 8: to be read as zero)
# next to the largest valid TTL: example.com A 203.0.113.10 TTL 0x80000000,
# A 203.0.113.11 TTL 0xffffffff, A 203.0.113.12 TTL 0x7fffffff.
files["crafted-ttl-msb.bin"] = (
    header(0x630E, RESPONSE, 1, 3) + question("example.com", A) +
    a("example.com", "203.0.113.10", 0x80000000) + a("example.com", "203.0.113.11", 0xFFFFFFFF) +
    a("example.com", "203.0.113.12", 0x7FFFFFFF))

for file, data in files.items():
    with open(f"{out}/{file}", "wb") as f:
        f.write(data)
    print(f"  {file}: {len(data)} bytes")
PY
}

if [[ "$WHAT" != crafted ]]; then
  echo "capture.sh: capturing answers of lab $LAB into $OUT"
  (capture)
fi
if [[ "$WHAT" != captured ]]; then
  echo "capture.sh: crafting answers into $OUT"
  craft
fi
