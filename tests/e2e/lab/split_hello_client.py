#!/usr/bin/env python3
"""A TLS client whose ClientHello goes out in pieces: one TCP segment per piece.

  split_hello_client.py HOST PORT SERVER_NAME [--pieces N] [--timeout S]

Connects to HOST:PORT, sends the ClientHello naming SERVER_NAME cut into N pieces
(TCP_NODELAY, a pause between them, so each leaves as a segment of its own, as large
post-quantum hellos do), completes the handshake (no certificate check), sends
"GET / HTTP/1.1" and prints the status code of the answer. Exit 0 on an answer, 1 on
a timeout, 2 on anything else.
"""

import argparse
import socket
import ssl
import sys
import time


def pump(sock, tls, incoming, outgoing):
    """Sends what TLS wrote; reads what the server sent into TLS."""
    data = outgoing.read()
    if data:
        sock.sendall(data)
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("the server closed the connection")
    incoming.write(chunk)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("server_name")
    parser.add_argument("--pieces", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3)
    args = parser.parse_args()

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=args.server_name)
    try:
        sock = socket.create_connection((args.host, args.port), timeout=args.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = outgoing.read()
        size = -(-len(hello) // args.pieces)
        for start in range(0, len(hello), size):
            sock.sendall(hello[start:start + size])
            time.sleep(0.05)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                pump(sock, tls, incoming, outgoing)
        tls.write(f"GET / HTTP/1.1\r\nHost: {args.server_name}\r\n\r\n".encode())
        answer = b""
        while b"\r\n" not in answer:
            try:
                answer += tls.read(65536)
            except ssl.SSLWantReadError:
                pump(sock, tls, incoming, outgoing)
        print(answer.split(b" ")[1].decode())
        return 0
    except (socket.timeout, TimeoutError):
        print("timeout", file=sys.stderr)
        return 1
    except (OSError, ssl.SSLError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
