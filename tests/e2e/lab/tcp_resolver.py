#!/usr/bin/env python3
"""A DNS-over-TCP server that answers the way an attacker would like the firewall to
read, for the skouter e2e attack tests. Standard library only.

It listens on --address port 53 and, for each query on a connection, answers with:

  unmatched  an answer for --name with address --address-answered whose id is not the
             query's: nothing on the connection asked for it
  split      a TXT answer to the query, sent in two parts --pause seconds apart; the
             second part starts inside the TXT data with bytes that read, on their own,
             as a whole length-prefixed answer for --name with --address-answered (the
             answer a reader that lost its place would take)

Each connection stays open until the client closes it.
"""

import argparse
import socket
import struct
import threading
import time


def name_wire(name):
    return b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split(".")) + b"\0"


def a_answer(ident, name, address):
    question = name_wire(name) + struct.pack("!HH", 1, 1)
    record = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + socket.inet_aton(address)
    return struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0) + question + record


def framed(message):
    return struct.pack("!H", len(message)) + message


def read_exactly(conn, size):
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def serve(conn, args):
    with conn:
        while True:
            prefix = read_exactly(conn, 2)
            if prefix is None:
                return
            query = read_exactly(conn, struct.unpack("!H", prefix)[0])
            if query is None:
                return
            ident = struct.unpack("!H", query[:2])[0]
            end = 12
            while query[end]:
                end += 1 + query[end]
            question = query[12 : end + 5]
            if args.mode == "unmatched":
                conn.sendall(framed(a_answer((ident + 1) & 0xFFFF, args.name, args.address_answered)))
                continue
            # The bait: a whole framed answer, carried as TXT character-strings.
            bait = framed(a_answer(ident, args.name, args.address_answered))
            txt = b""
            for at in range(0, len(bait), 255):
                piece = bait[at : at + 255]
                txt += bytes([len(piece)]) + piece
            # The first character-string's length byte, then the bait from its first byte.
            record = b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 300, len(txt))
            answer = struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0) + question + record + txt
            stream = framed(answer)
            split = len(stream) - len(txt) + 1  # just past the first length byte
            conn.sendall(stream[:split])
            time.sleep(args.pause)
            conn.sendall(stream[split:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", required=True, help="address to listen on, port 53")
    parser.add_argument("--mode", choices=["unmatched", "split"], required=True)
    parser.add_argument("--name", required=True, help="the name the bait answers")
    parser.add_argument("--address-answered", required=True, help="the bait's address (IPv4)")
    parser.add_argument("--pause", type=float, default=3.0)
    args = parser.parse_args()
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.setsockopt(socket.IPPROTO_IP, 15, 1)  # IP_FREEBIND: the world routes the address
    server.bind((args.address, 53))
    server.listen(16)
    print("listening", flush=True)
    while True:
        conn, _ = server.accept()
        # One segment per send, as the test needs the split to be seen.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve, args=(conn, args), daemon=True).start()


if __name__ == "__main__":
    main()
