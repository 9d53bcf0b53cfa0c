#!/usr/bin/env python3
"""Packets a hostile workload sends, for the skouter e2e attack tests.

Every subcommand sends one kind of packet (--count times, --interval seconds apart)
and prints one line per packet sent; the payload is the attack's marker, which the
tests then look for in a capture on the world side of the uplink. Standard library
only: raw sockets, IP_HDRINCL and AF_PACKET, so it needs CAP_NET_RAW (root in the
lab's namespaces).

  udp        an ordinary UDP datagram from a chosen source address/port
             (broadcast, link-local multicast on --device, TTL/hop limit)
  icmp       a raw ICMP or ICMPv6 message of any type and code; --id/--seq fill the
             four bytes after the checksum (echo identifier and sequence)
  ns         an ICMPv6 neighbour solicitation (hop limit 255) for --target, sent to
             --dst, the marker in an option
  igmp       a raw IGMP message (protocol 2) with a chosen TTL
  spoof-udp  a UDP datagram with a forged source address (header included)
  tcp-syn    a bare TCP SYN from a chosen source address and port (header included)
  frame      an Ethernet frame with N 802.1Q tags (VLAN 0) around an IPv4 UDP
             datagram, written with AF_PACKET on --device
  ping       an ICMP/ICMPv6 echo request that waits for its reply (exit 1 without
             one): a positive control, since the lab has no ping(8)
  dns-query  a DNS query with a chosen id and source port, the name's case as given;
             --bad-checksum writes it whole with a wrong UDP checksum; --wait prints
             the answer it gets (or "no answer")
  dns-answer a DNS answer from any source (a resolver's address), with a chosen id,
             question (case and class as given) and one address

A packet the local stack refuses on the way out (a tc or netfilter drop makes some
sends fail with ENOBUFS or EPERM) is reported as "dropped on the way out" and does not
fail the command: whether anything arrived is for the capture to say. Exit status 1
means the packet could not be sent at all (a bind, a bad address).

Examples:
  attack.py udp --sport 68 --dst 203.0.113.99 --dport 67 --payload SKOUTER-ATTACK-1
  attack.py icmp --dst 2001:db8:100::99 --type 1 --code 0 --payload SKOUTER-ATTACK-2
  attack.py frame --device eth0 --dst-mac 02:00:00:00:00:01 --tags 3 \\
      --src 192.0.2.10 --dst 203.0.113.20 --dport 9 --payload SKOUTER-ATTACK-3
"""

import argparse
import errno
import ipaddress
import os
import socket
import struct
import sys
import time

IPPROTO_IGMP = 2
ICMPV6_NEIGHBOUR_SOLICITATION = 135
ETH_P_IP = 0x0800
ETH_P_8021Q = 0x8100
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
IP_MULTICAST_IF = getattr(socket, "IP_MULTICAST_IF", 32)
IPV6_MULTICAST_IF = getattr(socket, "IPV6_MULTICAST_IF", 17)
IPV6_UNICAST_HOPS = getattr(socket, "IPV6_UNICAST_HOPS", 16)
IPV6_MULTICAST_HOPS = getattr(socket, "IPV6_MULTICAST_HOPS", 18)
IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)
IPV6_FREEBIND = 78


def is_v6(address):
    return ipaddress.ip_address(address).version == 6


def checksum(data):
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def pseudo_header(src, dst, protocol, length):
    s = ipaddress.ip_address(src).packed
    d = ipaddress.ip_address(dst).packed
    if len(s) == 4:
        return s + d + struct.pack("!BBH", 0, protocol, length)
    return s + d + struct.pack("!IxxxB", length, protocol)


def udp_segment(src, dst, sport, dport, payload):
    length = 8 + len(payload)
    header = struct.pack("!HHHH", sport, dport, length, 0)
    total = checksum(pseudo_header(src, dst, socket.IPPROTO_UDP, length) + header + payload)
    # 0 means "no checksum" in UDP; a computed 0 is sent as all ones.
    return struct.pack("!HHHH", sport, dport, length, total or 0xFFFF) + payload


def tcp_syn_segment(src, dst, sport, dport, sequence):
    # data offset 5 (no options), SYN, window 64240
    header = struct.pack("!HHIIBBHHH", sport, dport, sequence, 0, 5 << 4, 0x02, 64240, 0, 0)
    total = checksum(pseudo_header(src, dst, socket.IPPROTO_TCP, len(header)) + header)
    return header[:16] + struct.pack("!H", total) + header[18:]


def ip_packet(src, dst, protocol, l4, ttl=64):
    """A whole IPv4 or IPv6 packet around `l4`."""
    if is_v6(src):
        return (
            struct.pack("!IHBB", 6 << 28, len(l4), protocol, ttl)
            + ipaddress.ip_address(src).packed
            + ipaddress.ip_address(dst).packed
            + l4
        )
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(l4),
        0x5C0A,
        0x4000,  # don't fragment
        ttl,
        protocol,
        0,
        ipaddress.ip_address(src).packed,
        ipaddress.ip_address(dst).packed,
    )
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:] + l4


def send_header_included(packet, dst):
    """Sends a packet whose IP header the caller wrote (any source address)."""
    family = socket.AF_INET6 if is_v6(dst) else socket.AF_INET
    # IPPROTO_RAW implies IP_HDRINCL (IPv4) and its IPv6 counterpart.
    with socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_RAW) as s:
        s.sendto(packet, (dst, 0))


def repeat(args, send):
    for i in range(args.count):
        if i:
            time.sleep(args.interval)
        try:
            send()
        except OSError as e:
            if e.errno not in (errno.ENOBUFS, errno.EPERM):
                raise
            print(f"{args.command} {i + 1}/{args.count} dropped on the way out: {e}", flush=True)
            continue
        print(f"{args.command} {i + 1}/{args.count} sent", flush=True)


def add_repeat(parser):
    parser.add_argument("--count", type=int, default=1, help="packets to send (default 1)")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between them")


def payload_of(args):
    return args.payload.encode()


def open_socket(family, kind, protocol, args):
    s = socket.socket(family, kind, protocol)
    if getattr(args, "device", None):
        s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, args.device.encode())
    if getattr(args, "src", None) or getattr(args, "sport", None):
        # The world owns whole ranges through local routes: IPv4 binds to any address
        # of them, IPv6 only to addresses an interface has unless the socket may bind
        # freely.
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, IPV6_FREEBIND, 1)
        else:
            s.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
        s.bind((args.src or "", getattr(args, "sport", 0) or 0))
    return s


def set_hops(s, dst, hops, args):
    """TTL or hop limit for unicast and multicast alike, and the multicast interface."""
    if is_v6(dst):
        if hops is not None:
            s.setsockopt(socket.IPPROTO_IPV6, IPV6_UNICAST_HOPS, hops)
            s.setsockopt(socket.IPPROTO_IPV6, IPV6_MULTICAST_HOPS, hops)
        if getattr(args, "device", None) and ipaddress.ip_address(dst).is_multicast:
            index = socket.if_nametoindex(args.device)
            s.setsockopt(socket.IPPROTO_IPV6, IPV6_MULTICAST_IF, struct.pack("@i", index))
    else:
        if hops is not None:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, hops)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, hops)
        if getattr(args, "device", None) and ipaddress.ip_address(dst).is_multicast:
            index = socket.if_nametoindex(args.device)
            s.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_IF, struct.pack("@4s4si", b"", b"", index))


def destination(dst, port, args):
    """The sockaddr tuple; a link-local IPv6 destination needs --device's scope."""
    if not is_v6(dst):
        return (dst, port)
    address = ipaddress.ip_address(dst)
    scoped = address.is_link_local or (address.is_multicast and (address.packed[1] & 0x0F) <= 2)
    scope = socket.if_nametoindex(args.device) if scoped and args.device else 0
    return (dst, port, 0, scope)


def cmd_udp(args):
    family = socket.AF_INET6 if is_v6(args.dst) else socket.AF_INET
    with open_socket(family, socket.SOCK_DGRAM, socket.IPPROTO_UDP, args) as s:
        if args.broadcast:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        set_hops(s, args.dst, args.ttl, args)
        to = destination(args.dst, args.dport, args)
        repeat(args, lambda: s.sendto(payload_of(args), to))


def cmd_icmp(args):
    v6 = is_v6(args.dst)
    family = socket.AF_INET6 if v6 else socket.AF_INET
    protocol = socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
    with open_socket(family, socket.SOCK_RAW, protocol, args) as s:
        set_hops(s, args.dst, args.ttl, args)
        body = struct.pack("!HH", args.id, args.seq) + payload_of(args)
        message = struct.pack("!BBH", args.type, args.code, 0) + body
        if not v6:  # the kernel computes ICMPv6 checksums itself (pseudo-header)
            message = message[:2] + struct.pack("!H", checksum(message)) + message[4:]
        to = destination(args.dst, 0, args)
        repeat(args, lambda: s.sendto(message, to))


def cmd_ns(args):
    with open_socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6, args) as s:
        set_hops(s, args.dst, 255, args)  # RFC 4861: ND messages carry hop limit 255
        marker = payload_of(args)
        # An option of type 14 (Nonce), padded to whole 8-byte units: it carries the
        # marker as any option could.
        option_body = marker + b"\0" * (-(len(marker) + 2) % 8)
        option = struct.pack("!BB", 14, (len(option_body) + 2) // 8) + option_body
        message = (
            struct.pack("!BBHI", ICMPV6_NEIGHBOUR_SOLICITATION, 0, 0, 0)
            + ipaddress.ip_address(args.target or args.dst).packed
            + option
        )
        to = destination(args.dst, 0, args)
        repeat(args, lambda: s.sendto(message, to))


def cmd_igmp(args):
    with open_socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_IGMP, args) as s:
        set_hops(s, args.dst, args.ttl, args)
        # An IGMPv2 membership report (0x16) for --group, the marker after it.
        group = ipaddress.ip_address(args.group or args.dst).packed
        message = struct.pack("!BBH4s", 0x16, 0, 0, group) + payload_of(args)
        message = message[:2] + struct.pack("!H", checksum(message)) + message[4:]
        repeat(args, lambda: s.sendto(message, (args.dst, 0)))


def cmd_spoof_udp(args):
    l4 = udp_segment(args.src, args.dst, args.sport, args.dport, payload_of(args))
    packet = ip_packet(args.src, args.dst, socket.IPPROTO_UDP, l4)
    repeat(args, lambda: send_header_included(packet, args.dst))


def cmd_tcp_syn(args):
    l4 = tcp_syn_segment(args.src, args.dst, args.sport, args.dport, 0x5C0A0001)
    packet = ip_packet(args.src, args.dst, socket.IPPROTO_TCP, l4)
    repeat(args, lambda: send_header_included(packet, args.dst))


DNS_TYPES = {"A": 1, "AAAA": 28}
DNS_CLASSES = {"IN": 1, "CH": 3}


def dns_message(ident, name, qtype, qclass="IN", address=None, ttl=300):
    """A query, or with `address` an answer carrying that one address."""
    wire = b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split("."))
    question = wire + b"\0" + struct.pack("!HH", DNS_TYPES[qtype], DNS_CLASSES[qclass])
    flags = 0x8180 if address else 0x0100  # response, RD, RA / query, RD
    message = struct.pack("!HHHHHH", ident, flags, 1, 1 if address else 0, 0, 0) + question
    if address:
        rdata = ipaddress.ip_address(address).packed
        record = struct.pack("!HHIH", DNS_TYPES[qtype], DNS_CLASSES[qclass], ttl, len(rdata))
        message += b"\xc0\x0c" + record + rdata
    return message


def describe_answer(message):
    ident, flags, qdcount, ancount = struct.unpack("!HHHH", message[:8])
    offset = 12
    for _ in range(qdcount):
        while message[offset]:
            offset += 1 + message[offset]
        offset += 5
    addresses = []
    for _ in range(ancount):
        if message[offset] & 0xC0 == 0xC0:
            offset += 2
        else:
            while message[offset]:
                offset += 1 + message[offset]
            offset += 1
        rtype, _, _, length = struct.unpack("!HHIH", message[offset : offset + 10])
        offset += 10
        if rtype in (1, 28):
            addresses.append(str(ipaddress.ip_address(message[offset : offset + length])))
        offset += length
    return f"answer id={ident} rcode={flags & 0xF} " + " ".join(addresses)


def cmd_dns_query(args):
    family = socket.AF_INET6 if is_v6(args.dst) else socket.AF_INET
    query = dns_message(args.id, args.name, args.qtype)
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((args.src, args.sport))  # also holds the port for the answer
        if args.bad_checksum:
            l4 = bytearray(udp_segment(args.src, args.dst, args.sport, args.dport, query))
            l4[6] ^= 0x5A
            packet = ip_packet(args.src, args.dst, socket.IPPROTO_UDP, bytes(l4))
            send_header_included(packet, args.dst)
        else:
            s.sendto(query, (args.dst, args.dport))
        print(f"dns-query id={args.id} {args.name} sent", flush=True)
        if args.wait <= 0:
            return 0
        s.settimeout(args.wait)
        try:
            answer, _ = s.recvfrom(4096)
        except socket.timeout:
            print("no answer", flush=True)
            return 0
        print(describe_answer(answer), flush=True)
    return 0


def cmd_dns_answer(args):
    message = dns_message(args.id, args.name, args.qtype, args.qclass, args.address, args.ttl)
    l4 = udp_segment(args.src, args.dst, args.sport, args.dport, message)
    packet = ip_packet(args.src, args.dst, socket.IPPROTO_UDP, l4)
    repeat(args, lambda: send_header_included(packet, args.dst))


def mac_bytes(text):
    return bytes(int(part, 16) for part in text.split(":"))


def cmd_frame(args):
    with open(f"/sys/class/net/{args.device}/address") as f:
        own_mac = mac_bytes(f.read().strip())
    l4 = udp_segment(args.src, args.dst, args.sport, args.dport, payload_of(args))
    packet = ip_packet(args.src, args.dst, socket.IPPROTO_UDP, l4)
    # Each 802.1Q tag: TPID 0x8100, TCI 0 (priority 0, VLAN 0), then the next type.
    frame = mac_bytes(args.dst_mac) + own_mac
    frame += struct.pack("!HH", ETH_P_8021Q, 0) * args.tags + struct.pack("!H", ETH_P_IP)
    frame += packet
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
        s.bind((args.device, 0))
        repeat(args, lambda: s.send(frame))


def cmd_ping(args):
    v6 = is_v6(args.dst)
    family = socket.AF_INET6 if v6 else socket.AF_INET
    protocol = socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
    request_type, reply_type = (128, 129) if v6 else (8, 0)
    identifier = args.id or os.getpid() & 0xFFFF
    with open_socket(family, socket.SOCK_RAW, protocol, args) as s:
        message = struct.pack("!BBHHH", request_type, 0, 0, identifier, 1) + payload_of(args)
        if not v6:
            message = message[:2] + struct.pack("!H", checksum(message)) + message[4:]
        s.sendto(message, destination(args.dst, 0, args))
        deadline = time.monotonic() + args.timeout
        while (left := deadline - time.monotonic()) > 0:
            s.settimeout(left)
            try:
                data, peer = s.recvfrom(65535)
            except socket.timeout:
                break
            icmp = data if v6 else data[(data[0] & 0x0F) * 4 :]  # IPv4 raw sockets see the IP header
            if peer[0] != str(ipaddress.ip_address(args.dst)) or len(icmp) < 8:
                continue
            kind, _, _, got_id, _ = struct.unpack("!BBHHH", icmp[:8])
            if kind == reply_type and got_id == identifier:
                print(f"echo reply from {args.dst}", flush=True)
                return 0
    print(f"ping: no echo reply from {args.dst} within {args.timeout:g} s", flush=True)
    return 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("udp", help="a UDP datagram from a chosen source port")
    p.add_argument("--src", default="", help="local address to bind")
    p.add_argument("--sport", type=int, default=0)
    p.add_argument("--dst", required=True)
    p.add_argument("--dport", type=int, required=True)
    p.add_argument("--payload", required=True)
    p.add_argument("--device", help="SO_BINDTODEVICE, and the scope of link-local destinations")
    p.add_argument("--broadcast", action="store_true", help="SO_BROADCAST")
    p.add_argument("--ttl", type=int, help="TTL or hop limit")
    add_repeat(p)
    p.set_defaults(run=cmd_udp)

    p = sub.add_parser("icmp", help="a raw ICMP or ICMPv6 message")
    p.add_argument("--src", default="", help="source address (bound)")
    p.add_argument("--dst", required=True)
    p.add_argument("--type", type=int, required=True)
    p.add_argument("--code", type=int, default=0)
    p.add_argument("--id", type=int, default=0, help="echo identifier (bytes 4-5)")
    p.add_argument("--seq", type=int, default=0, help="echo sequence (bytes 6-7)")
    p.add_argument("--payload", required=True)
    p.add_argument("--device")
    p.add_argument("--ttl", type=int)
    add_repeat(p)
    p.set_defaults(run=cmd_icmp)

    p = sub.add_parser("ns", help="an ICMPv6 neighbour solicitation, hop limit 255")
    p.add_argument("--src", default="")
    p.add_argument("--dst", required=True)
    p.add_argument("--target", help="the solicited address (default: --dst)")
    p.add_argument("--payload", required=True)
    p.add_argument("--device")
    add_repeat(p)
    p.set_defaults(run=cmd_ns)

    p = sub.add_parser("igmp", help="a raw IGMP message")
    p.add_argument("--src", default="")
    p.add_argument("--dst", required=True)
    p.add_argument("--group", help="the group the report names (default: --dst)")
    p.add_argument("--ttl", type=int, default=1)
    p.add_argument("--payload", required=True)
    p.add_argument("--device", help="the interface for a multicast destination")
    add_repeat(p)
    p.set_defaults(run=cmd_igmp)

    p = sub.add_parser("spoof-udp", help="a UDP datagram with a forged source address")
    p.add_argument("--src", required=True)
    p.add_argument("--sport", type=int, default=40000)
    p.add_argument("--dst", required=True)
    p.add_argument("--dport", type=int, required=True)
    p.add_argument("--payload", required=True)
    add_repeat(p)
    p.set_defaults(run=cmd_spoof_udp)

    p = sub.add_parser("tcp-syn", help="a bare TCP SYN from a chosen address and port")
    p.add_argument("--src", required=True)
    p.add_argument("--sport", type=int, required=True)
    p.add_argument("--dst", required=True)
    p.add_argument("--dport", type=int, required=True)
    add_repeat(p)
    p.set_defaults(run=cmd_tcp_syn)

    p = sub.add_parser("frame", help="an Ethernet frame with N 802.1Q tags around IPv4 UDP")
    p.add_argument("--device", required=True)
    p.add_argument("--dst-mac", required=True)
    p.add_argument("--tags", type=int, default=3)
    p.add_argument("--src", required=True)
    p.add_argument("--sport", type=int, default=40000)
    p.add_argument("--dst", required=True)
    p.add_argument("--dport", type=int, required=True)
    p.add_argument("--payload", required=True)
    add_repeat(p)
    p.set_defaults(run=cmd_frame)

    p = sub.add_parser("ping", help="an echo request that waits for its reply")
    p.add_argument("--src", default="")
    p.add_argument("--dst", required=True)
    p.add_argument("--id", type=int, default=0, help="echo identifier (default: from the pid)")
    p.add_argument("--payload", default="skouter-lab-ping")
    p.add_argument("--device")
    p.add_argument("--timeout", type=float, default=2.0)
    p.set_defaults(run=cmd_ping)

    p = sub.add_parser("dns-query", help="a DNS query with a chosen id and source port")
    p.add_argument("--src", required=True, help="the sender's own address")
    p.add_argument("--sport", type=int, required=True)
    p.add_argument("--dst", required=True)
    p.add_argument("--dport", type=int, default=53)
    p.add_argument("--id", type=int, required=True)
    p.add_argument("--name", required=True, help="sent in the case given")
    p.add_argument("--qtype", choices=DNS_TYPES, default="A")
    p.add_argument("--bad-checksum", action="store_true", help="a wrong UDP checksum")
    p.add_argument("--wait", type=float, default=0, help="seconds to wait for an answer")
    p.set_defaults(run=cmd_dns_query)

    p = sub.add_parser("dns-answer", help="a DNS answer from any source address")
    p.add_argument("--src", required=True, help="the resolver's address")
    p.add_argument("--sport", type=int, default=53)
    p.add_argument("--dst", required=True)
    p.add_argument("--dport", type=int, required=True)
    p.add_argument("--id", type=int, required=True)
    p.add_argument("--name", required=True, help="the question's name, in the case given")
    p.add_argument("--qtype", choices=DNS_TYPES, default="A")
    p.add_argument("--qclass", choices=DNS_CLASSES, default="IN")
    p.add_argument("--address", required=True, help="the one address answered")
    p.add_argument("--ttl", type=int, default=300)
    add_repeat(p)
    p.set_defaults(run=cmd_dns_answer)

    args = parser.parse_args()
    try:
        return args.run(args) or 0
    except OSError as e:
        print(f"attack.py {args.command}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
