#!/usr/bin/python3
# The fire drill's alert receiver (drill-only, in the visitor's container): the stack's alertWebhook while the
# drill runs. Every POST Alertmanager makes is one line of the log, with the time it arrived:
#   {"t": <epoch seconds>, "body": <Alertmanager's webhook payload>}
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, LOG = int(sys.argv[1]), sys.argv[2]


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 10_000_000))
        try:
            doc = json.loads(body)
        except ValueError:
            self.send_response(400)
            self.end_headers()
            return
        with open(LOG, "a") as f:
            f.write(json.dumps({"t": time.time(), "body": doc}, separators=(",", ":")) + "\n")
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", PORT), Receiver).serve_forever()
