"""The developer's local app in the tour: an HTTP server on :80 that
prints every request it gets, with the peer accept() reported (the client
pod's IP under mirrord) and the demo header, and answers from the laptop."""
import http.server
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        tag = self.headers.get("x-mirrord-demo", "-")
        print(f"  local app got GET {self.path} from {self.client_address[0]} (x-mirrord-demo: {tag})", flush=True)
        body = b"hello from the laptop\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


try:
    http.server.ThreadingHTTPServer(("", 80), Handler).serve_forever()
except KeyboardInterrupt:
    sys.exit(0)
