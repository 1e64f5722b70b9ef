"""The OpenStack metadata service, stood in for in podman (run by resilient_stack.testing.standins).

Serves ``/openstack/latest/user_data`` and ``/openstack/latest/meta_data.json`` to each host from the files of its
source address (``ROOT/<ip>/user_data``, ``ROOT/<ip>/meta_data.json``), as Nova's metadata service tells instances
apart by their address; anything else is 404. Standard library only; the address 169.254.169.254 is the
container's own (added by its user data).
"""

import http.server
import os
import sys

ROOT = sys.argv[1]
FILES = {
    "/openstack/latest/user_data": ("user_data", "text/plain"),
    "/openstack/latest/meta_data.json": ("meta_data.json", "application/json"),
}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        known = FILES.get(self.path)
        path = os.path.join(ROOT, self.client_address[0], known[0]) if known else ""
        if not known or not os.path.isfile(path):
            self.send_error(404)
            return
        with open(path, "rb") as f:
            body = f.read()
        self.send_response(200)
        self.send_header("Content-Type", known[1])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


http.server.ThreadingHTTPServer(("0.0.0.0", 80), Handler).serve_forever()
