#!/usr/bin/env python3
"""A DNS-over-UDP server for the skouter e2e tests of --verify-answers. Standard
library only.

It listens on each --address, port 53, and answers every A or AAAA question with the
--answer addresses of that family (NODATA for other types), echoing the question
exactly as asked (case included, as 0x20 needs). With --per-answer N each answer
carries N of them, the window moving on by one per query: a resolver that rotates
subsets of a large address set. A query from --slow-port is answered only after
--delay seconds, so an accomplice's forged answer can reach the client first.

Prints "listening", then "query NAME TYPE from ADDR:PORT" for each query.
"""

import argparse
import ipaddress
import selectors
import socket
import struct
import threading
import time


def answer(query, addresses, count, ttl):
    ident, flags = struct.unpack("!HH", query[:4])
    end = 12
    while query[end]:
        end += 1 + query[end]
    question = query[12 : end + 5]
    qtype = struct.unpack("!H", question[-4:-2])[0]
    records = b""
    chosen = []
    family = {1: 4, 28: 6}.get(qtype)
    pool = [a for a in addresses if a.version == family]
    if pool:
        start = answer.window % len(pool)
        chosen = [pool[(start + i) % len(pool)] for i in range(min(count or len(pool), len(pool)))]
    for address in chosen:
        rdata = address.packed
        records += b"\xc0\x0c" + struct.pack("!HHIH", qtype, 1, ttl, len(rdata)) + rdata
    header = struct.pack("!HHHHHH", ident, 0x8180 | (flags & 0x0100), 1, len(chosen), 0, 0)
    return header + question + records, question


answer.window = 0


def name_of(question):
    labels, at = [], 0
    while question[at]:
        labels.append(question[at + 1 : at + 1 + question[at]].decode("ascii", "replace"))
        at += 1 + question[at]
    return ".".join(labels), struct.unpack("!H", question[at + 1 : at + 3])[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", action="append", required=True, help="listen on, port 53")
    parser.add_argument("--answer", action="append", required=True, help="an address to answer")
    parser.add_argument("--per-answer", type=int, default=0, help="addresses per answer (0: all)")
    parser.add_argument("--slow-port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--ttl", type=int, default=300)
    args = parser.parse_args()
    addresses = [ipaddress.ip_address(a) for a in args.answer]
    selector = selectors.DefaultSelector()
    for address in args.address:
        v6 = ipaddress.ip_address(address).version == 6
        server = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
        # IP_FREEBIND (15) / IPV6_FREEBIND (78): the world routes the address to itself.
        server.setsockopt(socket.IPPROTO_IPV6 if v6 else socket.IPPROTO_IP, 78 if v6 else 15, 1)
        server.bind((address, 53))
        selector.register(server, selectors.EVENT_READ)
    lock = threading.Lock()
    print("listening", flush=True)

    def reply(server, query, client, wait):
        time.sleep(wait)
        with lock:
            message, _ = answer(query, addresses, args.per_answer, args.ttl)
            answer.window += 1
            server.sendto(message, client)

    while True:
        for key, _ in selector.select():
            server = key.fileobj
            query, client = server.recvfrom(4096)
            if len(query) < 17:
                continue
            _, question = answer(query, [], 0, 0)
            name, qtype = name_of(question)
            print(f"query {name} {qtype} from {client[0]}:{client[1]}", flush=True)
            wait = args.delay if client[1] == args.slow_port else 0.0
            threading.Thread(target=reply, args=(server, query, client, wait), daemon=True).start()


if __name__ == "__main__":
    main()
