#!/usr/bin/env python3
"""A busy TCP connection for the skouter e2e tests.

  pingpong.py server --port N [--bind ADDR]
      echoes every byte back, one thread per connection (dual-stack [::] by default)
  pingpong.py client --host H --port N --seconds S
      one connection; sends 1 byte and waits for it back, again and again with no pause,
      for S seconds. Exits 0 with "ok: R rounds in S s" when the connection stayed up
      the whole time; exits 1 with what went wrong when a reply took longer than 2 s,
      the connection broke or it could not be opened.
  pingpong.py udp-server --port N
      echoes every UDP datagram back to its sender (dual-stack [::])
  pingpong.py udp-client --host H --port N
      sends one datagram and waits up to 2 s for it back; exits 0 with "ok: echoed", 1
      with what went wrong.

The connection is never idle for more than one round trip, so whatever cuts it (a
dropped segment the retransmissions never get through) shows as a reply that does not
come.
"""

import argparse
import socket
import sys
import threading
import time

REPLY_TIMEOUT_S = 2.0


def serve_connection(connection):
    with connection:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            try:
                data = connection.recv(4096)
            except OSError:
                return
            if not data:
                return
            try:
                connection.sendall(data)
            except OSError:
                return


def cmd_server(args):
    family = socket.AF_INET if args.bind and ":" not in args.bind else socket.AF_INET6
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    listener.bind((args.bind or "::", args.port))
    listener.listen(16)
    print(f"listening on {args.bind or '::'} port {args.port}", flush=True)
    while True:
        connection, _ = listener.accept()
        threading.Thread(target=serve_connection, args=(connection,), daemon=True).start()


def cmd_udp_server(args):
    server = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    server.bind(("::", args.port))
    print(f"listening on :: UDP port {args.port}", flush=True)
    while True:
        data, sender = server.recvfrom(65535)
        server.sendto(data, sender)


def cmd_udp_client(args):
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    client = socket.socket(family, socket.SOCK_DGRAM)
    client.settimeout(REPLY_TIMEOUT_S)
    client.sendto(b"ping", (args.host, args.port))
    try:
        data, _ = client.recvfrom(65535)
    except socket.timeout:
        print(f"pingpong: no echo from {args.host} port {args.port} within "
              f"{REPLY_TIMEOUT_S:g} s", flush=True)
        return 1
    print("ok: echoed" if data == b"ping" else f"pingpong: echoed {data!r}", flush=True)
    return 0 if data == b"ping" else 1


def cmd_client(args):
    start = time.monotonic()
    try:
        connection = socket.create_connection((args.host, args.port), timeout=REPLY_TIMEOUT_S)
    except OSError as e:
        print(f"pingpong: cannot connect to {args.host} port {args.port}: {e}", flush=True)
        return 1
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    connection.settimeout(REPLY_TIMEOUT_S)
    rounds = 0
    with connection:
        while time.monotonic() - start < args.seconds:
            elapsed = time.monotonic() - start
            try:
                connection.sendall(b"p")
                reply = connection.recv(1)
            except socket.timeout:
                print(
                    f"pingpong: no reply within {REPLY_TIMEOUT_S:g} s after {rounds} rounds "
                    f"({elapsed:.1f} s into the connection)",
                    flush=True,
                )
                return 1
            except OSError as e:
                print(
                    f"pingpong: connection broke after {rounds} rounds ({elapsed:.1f} s): {e}",
                    flush=True,
                )
                return 1
            if reply != b"p":
                print(
                    f"pingpong: connection closed after {rounds} rounds ({elapsed:.1f} s)",
                    flush=True,
                )
                return 1
            rounds += 1
    print(f"ok: {rounds} rounds in {time.monotonic() - start:.1f} s", flush=True)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("server")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--bind", default="")
    p.set_defaults(run=cmd_server)
    p = sub.add_parser("client")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.set_defaults(run=cmd_client)
    p = sub.add_parser("udp-server")
    p.add_argument("--port", type=int, required=True)
    p.set_defaults(run=cmd_udp_server)
    p = sub.add_parser("udp-client")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.set_defaults(run=cmd_udp_client)
    args = parser.parse_args()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
