"""The Python row of the incoming steal language matrix.

Listens on port 80 on every address (one dual-stack IPv6 socket), answers
every request (GET /healthz too: the kubelet's probes are stolen with the
rest) with "LOCAL python <path> peer=<ip>", where <ip> is
self.client_address from accept(), and prints one JSON line per request.
"""
import http.server
import json
import socket
import sys
import urllib.parse


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        peer = self.client_address[0]
        print(json.dumps({"ev": "req", "lang": "python", "path": path, "peer": peer}), flush=True)
        body = f"LOCAL python {path} peer={peer}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write(fmt % args + "\n")


class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


if __name__ == "__main__":
    Server(("::", 80), Handler).serve_forever()
