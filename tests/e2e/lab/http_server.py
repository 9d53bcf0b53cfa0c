#!/usr/bin/env python3
"""HTTP server of the skouter e2e lab.

Listens on [::]:PORT for IPv4 and IPv6 (one dual-stack socket), one thread per
connection, HTTP/1.1 keep-alive (every response has a Content-Length).

  GET /                      -> "hello from HOST\n", HOST being the Host header
                                as sent (curl omits ":80", so "hello from example.com")
  GET /bytes?n=N             -> N bytes of "x"
  GET /bytes?n=N&rate=R      -> the same, paced to about R bytes per second
                                (a long download the tests can interrupt)
  anything else              -> 404

With --tls-cert and --tls-key it speaks HTTPS instead (the TLS handshake, like the
request, in the connection's own thread, so a client that never finishes its
ClientHello holds up nobody else).

No request logging; only start-up and unexpected errors go to stderr.
"""

import argparse
import socket
import socketserver
import ssl
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BLOCK = b"x" * 65536


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "skouter-lab"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        pass

    def send_body(self, code, body, content_type="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/":
            host = self.headers.get("Host", "")
            self.send_body(200, f"hello from {host}\n".encode())
        elif url.path == "/bytes":
            self.send_bytes(urllib.parse.parse_qs(url.query))
        else:
            self.send_body(404, b"not found\n")

    do_HEAD = do_GET

    def send_bytes(self, query):
        try:
            n = int(query.get("n", ["0"])[0])
            rate = int(query.get("rate", ["0"])[0])
            if n < 0 or rate < 0:
                raise ValueError
        except ValueError:
            self.send_body(400, b"n and rate must be non-negative integers\n")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.end_headers()
        if self.command == "HEAD":
            return
        # With a rate, write about 20 chunks a second and sleep to stay on schedule.
        chunk = len(BLOCK) if rate == 0 else max(1, min(len(BLOCK), rate // 20))
        start = time.monotonic()
        sent = 0
        while sent < n:
            size = min(chunk, n - sent)
            self.wfile.write(BLOCK[:size])
            sent += size
            if rate:
                delay = start + sent / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)


class DualStackServer(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        # HTTPServer.server_bind would look the address up in DNS (getfqdn).
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port

    tls = None  # an ssl.SSLContext for HTTPS

    def finish_request(self, request, client_address):
        if self.tls is not None:
            request.settimeout(30)
            request = self.tls.wrap_socket(request, server_side=True)
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError, ssl.SSLError)):
            return  # clients going away (or being cut off by the firewall) is normal
        print(f"http_server: error with {client_address}: {error!r}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--bind", default="::")
    parser.add_argument("--tls-cert", help="PEM certificate: serve HTTPS")
    parser.add_argument("--tls-key", help="PEM key of --tls-cert")
    args = parser.parse_args()
    server = DualStackServer((args.bind, args.port), Handler)
    if args.tls_cert:
        server.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.tls.load_cert_chain(args.tls_cert, args.tls_key)
    print(f"http_server: listening on [{args.bind}]:{args.port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
